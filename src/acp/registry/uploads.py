"""Blob uploads: monolithic, POST-then-PUT, chunked (PATCH) with resumable status, cancel,
cross-repository mount, and the expiry of abandoned uploads.

The offset of an upload lives in the database, so the next request may land on any worker
process or replica; the bytes live in the blob store, which hashes them as they arrive.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from acp.db import tables
from acp.db.engine import Database, touch
from acp.registry import errors
from acp.registry.blobs import link, linked_size
from acp.registry.collector import guard_links
from acp.registry.repositories import Repo, Repositories
from acp.server import metrics
from acp.storage import digests
from acp.storage.base import BlobStore, UploadBusy, UploadMissing, UploadWriter

log = logging.getLogger("acp.registry")

u = tables.uploads
_UPLOAD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXPIRE_BATCH = 500


@dataclass(frozen=True)
class UploadState:
    id: str
    # Bytes received so far.
    offset: int


@dataclass(frozen=True)
class StoredBlob:
    digest: str
    size: int


class RangeMismatch(Exception):
    """A chunk that does not start where the upload stands (out of order, overlapping, or
    racing another request for the same upload). The client should ask for the status."""

    def __init__(self, upload_id: str, offset: int) -> None:
        super().__init__(f"the upload is at offset {offset}")
        self.upload_id = upload_id
        self.offset = offset


@dataclass(frozen=True)
class _Row:
    id: str
    algorithm: str
    offset: int


class Uploads:
    def __init__(
        self,
        db: Database,
        store: BlobStore,
        repositories: Repositories,
        expiry_seconds: int,
    ) -> None:
        self._db = db
        self._store = store
        self._repositories = repositories
        self._expiry = timedelta(seconds=expiry_seconds)

    # --- sessions --------------------------------------------------------------------------

    async def start(self, repo: Repo, algorithm: str = digests.DEFAULT_ALGORITHM) -> UploadState:
        await self._repositories.require_namespace(repo)
        upload_id = str(uuid.uuid4())
        await self._store.create_upload(upload_id)
        now = datetime.now(UTC)
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    u.insert().values(
                        id=upload_id,
                        cluster_id=repo.cluster_id,
                        repository=repo.path,
                        algorithm=algorithm,
                        offset=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except BaseException:
            await self._store.delete_upload(upload_id)
            raise
        return UploadState(upload_id, 0)

    async def status(self, repo: Repo, upload_id: str) -> UploadState:
        row = await self._row(repo, upload_id)
        return UploadState(row.id, row.offset)

    async def append(
        self, repo: Repo, upload_id: str, body: AsyncIterable[bytes], *, start: int | None = None
    ) -> UploadState:
        """Add a chunk; `start` (from Content-Range) must equal the current offset."""
        row = await self._row(repo, upload_id)
        if start is not None and start != row.offset:
            raise RangeMismatch(row.id, row.offset)
        async with self._writer(row) as writer:
            size = await _receive(writer, row.offset, body)
            if not await self._advance(row, size):
                await writer.truncate(row.offset)
                current = await self._row(repo, upload_id)
                raise RangeMismatch(row.id, current.offset)
        return UploadState(row.id, size)

    async def finish(
        self,
        repo: Repo,
        upload_id: str,
        digest: str,
        body: AsyncIterable[bytes] | None,
        *,
        start: int | None = None,
    ) -> StoredBlob:
        """Close an upload (with its last chunk, if any): the content must have `digest`."""
        algorithm, _ = digests.parse(digest)
        row = await self._row(repo, upload_id)
        if body is not None and start is not None and start != row.offset:
            raise RangeMismatch(row.id, row.offset)
        async with self._writer(row) as writer:
            size = row.offset if body is None else await _receive(writer, row.offset, body)
            actual = await writer.digest(size, algorithm)
            if actual != digest:
                # As after any failed close, the upload is over; nothing else changed.
                await self._discard(row.id)
                raise errors.digest_invalid(
                    "provided digest did not match uploaded content", digest
                )
            await writer.commit(digest, size)
        async with self._db.write() as conn:
            repository_id = await self._repositories.ensure(conn, repo)
            await link(conn, repository_id, digest, size)
            await conn.execute(u.delete().where(u.c.id == row.id))
            touch(conn, repo.generation_key)
        return StoredBlob(digest, size)

    async def cancel(self, repo: Repo, upload_id: str) -> None:
        row = await self._row(repo, upload_id)
        await self._discard(row.id)

    # --- single-request uploads ------------------------------------------------------------

    async def monolithic(self, repo: Repo, digest: str, body: AsyncIterable[bytes]) -> StoredBlob:
        """POST ?digest=: the whole blob in one request."""
        algorithm, _ = digests.parse(digest)
        await self._repositories.require_namespace(repo)
        upload_id = f"single-{uuid.uuid4()}"
        await self._store.create_upload(upload_id)
        committed = False
        try:
            async with self._store.writer(upload_id, algorithm) as writer:
                size = await _receive(writer, 0, body)
                if await writer.digest(size, algorithm) != digest:
                    raise errors.digest_invalid(
                        "provided digest did not match uploaded content", digest
                    )
                await writer.commit(digest, size)
                committed = True
        finally:
            if not committed:
                await self._store.delete_upload(upload_id)
        async with self._db.write() as conn:
            repository_id = await self._repositories.ensure(conn, repo)
            await link(conn, repository_id, digest, size)
            touch(conn, repo.generation_key)
        return StoredBlob(digest, size)

    async def mount(self, repo: Repo, digest: str, source: Repo) -> StoredBlob | None:
        """Link a blob that `source` holds into `repo`; None if `source` does not hold it.
        The caller has checked that it may pull from `source`."""
        await self._repositories.require_namespace(repo)
        async with self._db.read() as conn:
            if await linked_size(conn, source, digest) is None:
                return None
        async with self._db.write() as conn:
            # Before the check, not only in `link`: a collection that removes the source's
            # link must finish before we look, or we would link a blob it is sweeping.
            await guard_links(conn)
            size = await linked_size(conn, source, digest)
            if size is None:
                return None
            repository_id = await self._repositories.ensure(conn, repo)
            await link(conn, repository_id, digest, size)
            touch(conn, repo.generation_key)
        return StoredBlob(digest, size)

    # --- expiry ----------------------------------------------------------------------------

    async def expire(self) -> int:
        """Remove uploads idle for longer than the expiry, and upload data no session owns
        (left by a crash). Safe to run in several processes at once."""
        cutoff = datetime.now(UTC) - self._expiry
        async with self._db.write() as conn:
            ids = [
                row[0]
                for row in await conn.execute(
                    sa.select(u.c.id).where(u.c.updated_at < cutoff).limit(EXPIRE_BATCH)
                )
            ]
            if ids:
                await conn.execute(u.delete().where(u.c.id.in_(ids)))
        for upload_id in ids:
            await self._store.delete_upload(upload_id)
        idle = await self._store.idle_uploads(self._expiry.total_seconds())
        orphans: set[str] = set(idle)
        if idle:
            async with self._db.read() as conn:
                for start in range(0, len(idle), EXPIRE_BATCH):
                    batch = idle[start : start + EXPIRE_BATCH]
                    owned = await conn.execute(sa.select(u.c.id).where(u.c.id.in_(batch)))
                    orphans -= {row[0] for row in owned}
        for upload_id in orphans:
            await self._store.delete_upload(upload_id)
        if ids or orphans:
            log.info("expired %d uploads and %d orphaned upload files", len(ids), len(orphans))
        return len(ids) + len(orphans)

    # --- helpers ---------------------------------------------------------------------------

    async def _row(self, repo: Repo, upload_id: str) -> _Row:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise errors.upload_unknown(upload_id)
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(u.c.algorithm, u.c.offset, u.c.updated_at).where(
                        u.c.id == upload_id,
                        u.c.cluster_id == repo.cluster_id,
                        u.c.repository == repo.path,
                    )
                )
            ).first()
        if row is None or _aware(row.updated_at) < datetime.now(UTC) - self._expiry:
            raise errors.upload_unknown(upload_id)
        return _Row(upload_id, row.algorithm, int(row.offset))

    @asynccontextmanager
    async def _writer(self, row: _Row) -> AsyncIterator[UploadWriter]:
        try:
            async with self._store.writer(row.id, row.algorithm) as writer:
                yield writer
        except UploadBusy as exc:
            raise RangeMismatch(row.id, row.offset) from exc
        except UploadMissing as exc:
            # The data is gone (expired, finished or cancelled meanwhile): so is the upload.
            async with self._db.write() as conn:
                await conn.execute(u.delete().where(u.c.id == row.id))
            raise errors.upload_unknown(row.id) from exc

    async def _advance(self, row: _Row, size: int) -> bool:
        """Record the new offset, unless another request moved it meanwhile."""
        async with self._db.write() as conn:
            result = await conn.execute(
                u.update()
                .where(u.c.id == row.id, u.c.offset == row.offset)
                .values(offset=size, updated_at=datetime.now(UTC))
            )
        return result.rowcount == 1

    async def _discard(self, upload_id: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(u.delete().where(u.c.id == upload_id))
        await self._store.delete_upload(upload_id)


async def _receive(writer: UploadWriter, offset: int, body: AsyncIterable[bytes]) -> int:
    metrics.UPLOADS_IN_PROGRESS.inc()
    try:
        return await writer.append(offset, body)
    finally:
        metrics.UPLOADS_IN_PROGRESS.dec()


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; everything is stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
