"""Garbage collection of blob content that no repository can read any more.

Deletes in the API unlink at once; this reclaims the bytes, while the server serves:

1. In one write transaction, manifests no tag reaches are deleted (only when asked: see
   `untagged`), then repository links older than the grace period that no manifest of the
   same repository refers to, then blob rows left without any link. A dry run does the same
   and rolls back. The
   writers that could race with it (a manifest PUT checking that its blobs are linked, an
   upload or mount creating a link) wait for it: SQLite admits one writer at a time, and on
   PostgreSQL they take an advisory lock in shared mode that the collector takes exclusively.
2. Blob files older than the grace period (and at least FILE_GRACE_FLOOR) whose digest has
   no row are removed (see `FilesystemBlobStore.sweep` for why a commit of the same digest
   meanwhile is safe).

The whole run holds the store's collection lock: one collection at a time, and a backup
(which holds it shared) never sees a blob it listed vanish.

The grace period protects pushes in progress: a client uploads the layers first and the
manifest afterwards, so a fresh link without a manifest is not garbage yet.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import tables
from acp.db.audit import AuditLog
from acp.db.engine import Database
from acp.registry import untagged as untagged_manifests
from acp.storage.filesystem import FilesystemBlobStore, collection_lock, restore_aside

log = logging.getLogger("acp.registry")

rb = tables.repository_blobs
b = tables.blobs
m = tables.manifests
mr = tables.manifest_references

# Blob files committed this recently are never swept, whatever the grace period: an upload
# renames its file into place just before the transaction that records it, and that
# transaction may wait for other writers.
FILE_GRACE_FLOOR = timedelta(minutes=10)
# Key of the PostgreSQL advisory lock between the collector and the writers of links.
_LOCK_KEY = 0x616370_6763  # "acpgc"
BATCH = 500


async def guard_links(conn: AsyncConnection) -> None:
    """Call in a write transaction before relying on or creating a blob link: waits while a
    collection runs (PostgreSQL; SQLite's single writer already does)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": _LOCK_KEY})


@dataclass(frozen=True)
class Collected:
    manifests: int  # untagged manifests removed (with --untagged)
    links: int  # repository links removed
    blobs: int  # blob rows removed
    files: int  # blob files removed
    bytes: int  # their size
    restored: int  # blob files an interrupted collection had left aside, put back
    dry_run: bool


async def collect(
    db: Database,
    store: FilesystemBlobStore,
    grace: timedelta,
    *,
    dry_run: bool = False,
    untagged: bool = False,
) -> Collected:
    """Remove what no repository can read any more; with `untagged`, first the manifests
    no tag reaches (see `untagged`); with `dry_run`, count it only."""
    with collection_lock(store.root, exclusive=True):
        restored = 0 if dry_run else await asyncio.to_thread(restore_aside, store.root)
        cutoff = datetime.now(UTC) - grace
        unlinked = await _unlink(db, cutoff, dry_run, untagged)
        gone = set(unlinked.orphans)

        async def recorded(digests: list[str]) -> set[str]:
            """Which of these digests still have a blob row (for a dry run: would have)."""
            found: set[str] = set()
            async with db.read() as conn:
                for start in range(0, len(digests), BATCH):
                    batch = digests[start : start + BATCH]
                    query = sa.select(b.c.digest).where(b.c.digest.in_(batch))
                    found |= {str(row[0]) for row in await conn.execute(query)}
            return found - gone if dry_run else found

        file_cutoff = min(cutoff, datetime.now(UTC) - FILE_GRACE_FLOOR)
        files, size = await store.sweep(recorded, file_cutoff.timestamp(), dry_run=dry_run)
    result = Collected(
        unlinked.manifests, unlinked.links, len(gone), files, size, restored, dry_run
    )
    log.info(
        "garbage collection%s: %d untagged manifests, %d repository links, %d blob records, "
        "%d files (%d bytes)",
        " (dry run)" if dry_run else "",
        result.manifests,
        result.links,
        result.blobs,
        result.files,
        result.bytes,
    )
    return result


class _Rollback(Exception):
    """Ends a dry run's transaction without committing what it counted."""

    def __init__(self, counted: _Unlinked) -> None:
        self.counted = counted


@dataclass(frozen=True)
class _Unlinked:
    manifests: int
    links: int
    orphans: list[str]


async def _unlink(db: Database, cutoff: datetime, dry_run: bool, untagged: bool) -> _Unlinked:
    """Remove the untagged manifests (if asked), the links nothing keeps, and then the blob
    rows left without links. A dry run does the same and rolls it back."""
    try:
        async with db.write() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}
                )
            doomed = await untagged_manifests.find_unreachable(conn, cutoff) if untagged else []
            if doomed:
                # A dry run records nothing: its deletions are rolled back.
                audit = None if dry_run else AuditLog(db)
                await untagged_manifests.delete_manifests(conn, audit, doomed)
            links = [
                (int(repository_id), str(digest))
                for repository_id, digest in await conn.execute(
                    sa.select(rb.c.repository_id, rb.c.digest).where(~_kept(cutoff))
                )
            ]
            for repository_id, digest in links:
                await conn.execute(
                    rb.delete().where(rb.c.repository_id == repository_id, rb.c.digest == digest)
                )
            # Blobs without any link now. Not "without a kept link": on PostgreSQL each
            # statement sees the latest commits, and a manifest deleted since the query above
            # unkept links that were not removed.
            linked = sa.select(sa.literal(1)).where(rb.c.digest == b.c.digest).exists()
            orphans = await _digests(conn, b.c.created_at < cutoff, ~linked)
            for start in range(0, len(orphans), BATCH):
                batch = orphans[start : start + BATCH]
                await conn.execute(b.delete().where(b.c.digest.in_(batch)))
            counted = _Unlinked(len(doomed), len(links), orphans)
            if dry_run:
                raise _Rollback(counted)
            return counted
    except _Rollback as rolled_back:
        return rolled_back.counted


async def _digests(conn: AsyncConnection, *conditions: sa.ColumnElement[bool]) -> list[str]:
    return [str(row[0]) for row in await conn.execute(sa.select(b.c.digest).where(*conditions))]


def _kept(cutoff: datetime) -> sa.ColumnElement[bool]:
    """A link stays if it is recent or a manifest of its repository refers to its blob."""
    referenced = (
        sa.select(sa.literal(1))
        .select_from(mr.join(m, m.c.id == mr.c.manifest_id))
        .where(m.c.repository_id == rb.c.repository_id, mr.c.digest == rb.c.digest)
        .exists()
    )
    return sa.or_(rb.c.created_at >= cutoff, referenced)
