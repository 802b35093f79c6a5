"""Repositories: which cluster they belong to, whether their namespace exists, and their
rows (created by the first push).

`Repo` is what every registry service works on. Every write to a repository bumps its
generation key (`repo:<cluster>:<repository>`) after commit, which is what caches of its
manifests and tags are keyed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import objects, tables
from acp.db.engine import Database, touch
from acp.db.generations import GenerationCache, Generations
from acp.registry import errors
from acp.registry.names import RepositoryName
from acp.registry.sql import insert_ignore

r = tables.repositories


def generation_key(cluster: str, repository: str) -> str:
    return f"repo:{cluster}:{repository}"


@dataclass(frozen=True)
class Repo:
    """A repository of one cluster (it may not have been pushed to yet)."""

    cluster: str
    cluster_id: int
    name: RepositoryName

    @property
    def path(self) -> str:
        return self.name.path

    @property
    def namespace(self) -> str:
        return self.name.namespace

    @property
    def generation_key(self) -> str:
        return generation_key(self.cluster, self.name.path)


class Repositories:
    def __init__(self, db: Database, generations: Generations, cluster_ids: dict[str, int]):
        self._db = db
        self._cluster_ids = cluster_ids
        self._namespaces: GenerationCache[bool] = GenerationCache(generations, 10_000)

    def repo(self, cluster: str, name: RepositoryName) -> Repo:
        return Repo(cluster, self._cluster_ids[cluster], name)

    def cluster_id(self, cluster: str) -> int:
        return self._cluster_ids[cluster]

    # --- namespaces ------------------------------------------------------------------------

    async def namespace_exists(self, cluster: str, namespace: str) -> bool:
        """Cached; the entry dies when the namespace is created or deleted."""
        gen_key = objects.generation_key(cluster, "Namespace", "", namespace)
        generation = self._namespaces.generation(gen_key)  # read before the database
        key = (cluster, namespace)
        exists = self._namespaces.get(key)
        if exists is None:
            async with self._db.read() as conn:
                exists = await _namespace_row_exists(conn, self._cluster_ids[cluster], namespace)
            self._namespaces.put(key, gen_key, generation, exists)
        return exists

    async def require_namespace(self, repo: Repo) -> None:
        if not await self.namespace_exists(repo.cluster, repo.namespace):
            raise errors.namespace_unknown(repo.path, repo.namespace)

    # --- rows ------------------------------------------------------------------------------

    @staticmethod
    async def find(conn: AsyncConnection, repo: Repo) -> int | None:
        row = (
            await conn.execute(
                sa.select(r.c.id).where(r.c.cluster_id == repo.cluster_id, r.c.name == repo.path)
            )
        ).first()
        return row[0] if row else None

    async def require(self, conn: AsyncConnection, repo: Repo) -> int:
        """The id of an existing repository, NAME_UNKNOWN otherwise."""
        repository_id = await self.find(conn, repo)
        if repository_id is None:
            raise errors.name_unknown(repo.path)
        return repository_id

    async def ensure(self, conn: AsyncConnection, repo: Repo) -> int:
        """The repository's id, creating it on its first push. Inside a write transaction:
        the namespace is checked there, not from the cache."""
        repository_id = await self.find(conn, repo)
        if repository_id is not None:
            return repository_id
        if not await _namespace_row_exists(conn, repo.cluster_id, repo.namespace):
            raise errors.namespace_unknown(repo.path, repo.namespace)
        await insert_ignore(
            conn,
            r,
            {
                "cluster_id": repo.cluster_id,
                "namespace": repo.namespace,
                "name": repo.path,
                "created_at": datetime.now(UTC),
            },
            ["cluster_id", "name"],
        )
        touch(conn, repo.generation_key)
        repository_id = await self.find(conn, repo)
        assert repository_id is not None
        return repository_id


async def _namespace_row_exists(conn: AsyncConnection, cluster_id: int, namespace: str) -> bool:
    return await objects.get(conn, cluster_id, "Namespace", "", namespace) is not None


async def purge_namespace(
    conn: AsyncConnection, cluster: str, cluster_id: int, namespace: str
) -> list[str]:
    """Remove every repository of a namespace that is being deleted, inside the transaction
    that deletes it, so that a namespace created again with that name starts empty.

    Manifests, tags and blob links go with their repository (foreign keys cascade); blob
    content stays on disk for garbage collection, as other repositories may share it. Each
    repository's generation key is bumped, so no worker serves a cached manifest of it.
    Returns the removed repository names.
    """
    in_namespace = (r.c.cluster_id == cluster_id) & (r.c.namespace == namespace)
    names = [row[0] for row in await conn.execute(sa.select(r.c.name).where(in_namespace))]
    if names:
        await conn.execute(r.delete().where(in_namespace))
        touch(conn, *(generation_key(cluster, name) for name in names))
    # Uploads name their repository rather than reference it.
    await conn.execute(
        tables.uploads.delete().where(
            tables.uploads.c.cluster_id == cluster_id,
            tables.uploads.c.repository.startswith(f"{namespace}/", autoescape=True),
        )
    )
    return names
