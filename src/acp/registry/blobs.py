"""Blobs as repositories see them: a blob is readable only through a repository it was
pushed or mounted into (`repository_blobs`), whatever is stored on disk."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import tables
from acp.db.audit import AuditLog
from acp.db.engine import Database, touch
from acp.registry import errors
from acp.registry.actor import Actor
from acp.registry.collector import guard_links
from acp.registry.repositories import Repo, Repositories
from acp.registry.sql import insert_ignore, upsert
from acp.storage.base import BlobLocation, BlobStore

log = logging.getLogger("acp.registry")

r = tables.repositories
rb = tables.repository_blobs
b = tables.blobs


class Blobs:
    def __init__(
        self, db: Database, store: BlobStore, repositories: Repositories, audit: AuditLog
    ) -> None:
        self._db = db
        self._store = store
        self._repositories = repositories
        self._audit = audit

    async def size(self, repo: Repo, digest: str) -> int | None:
        """Size of a blob readable through `repo`, None if it is not."""
        await self._repositories.require_namespace(repo)
        async with self._db.read() as conn:
            return await linked_size(conn, repo, digest)

    async def locate(self, repo: Repo, digest: str) -> BlobLocation:
        size = await self.size(repo, digest)
        location = None if size is None else await self._store.locate(digest)
        if location is None:
            if size is not None:
                log.error("blob %s is recorded but missing from storage", digest)
            raise errors.blob_unknown(digest)
        return location

    async def delete(self, repo: Repo, digest: str, actor: Actor) -> None:
        """Unlink a blob from one repository (its bytes go at garbage collection)."""
        async with self._db.write() as conn:
            repository_id = await self._repositories.find(conn, repo)
            deleted = 0
            if repository_id is not None:
                result = await conn.execute(
                    rb.delete().where(rb.c.repository_id == repository_id, rb.c.digest == digest)
                )
                deleted = result.rowcount
            if not deleted:
                raise errors.blob_unknown(digest)
            touch(conn, repo.generation_key)
            await self._audit.record(
                actor=actor.username,
                action="registry.blob.delete",
                cluster=repo.cluster,
                namespace=repo.namespace,
                resource="images",
                name=f"{repo.name.name}@{digest}",
                request_id=actor.request_id,
                details={"repository": repo.path, "digest": digest},
                conn=conn,
            )


async def linked_size(conn: AsyncConnection, repo: Repo, digest: str) -> int | None:
    row = (
        await conn.execute(
            sa.select(b.c.size)
            .select_from(
                rb.join(r, r.c.id == rb.c.repository_id).join(b, b.c.digest == rb.c.digest)
            )
            .where(r.c.cluster_id == repo.cluster_id, r.c.name == repo.path, rb.c.digest == digest)
        )
    ).first()
    return int(row[0]) if row else None


async def link(conn: AsyncConnection, repository_id: int, digest: str, size: int) -> None:
    """Record a stored blob and make it readable through a repository."""
    await guard_links(conn)
    now = datetime.now(UTC)
    await insert_ignore(conn, b, {"digest": digest, "size": size, "created_at": now}, ["digest"])
    # Linked again (an upload or mount of a blob the repository already had): the link counts
    # as new, so garbage collection's grace period covers the push it belongs to.
    await upsert(
        conn,
        rb,
        {"repository_id": repository_id, "digest": digest, "created_at": now},
        ["repository_id", "digest"],
        ["created_at"],
    )
