"""Tags: list (ASCIIbetical order, `n`/`last` pagination) and delete.

Deleting a tag removes that tag only: other tags pointing at the same manifest stay, and so
does the manifest (reachable by digest).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from acp.db import tables
from acp.db.audit import AuditLog
from acp.db.engine import Database, touch
from acp.db.generations import GenerationCache, Generations
from acp.registry import errors
from acp.registry.actor import Actor
from acp.registry.repositories import Repo, Repositories

t = tables.tags
m = tables.manifests

# Without `n`, one response holds at most this many tags (and a Link to the rest).
MAX_PAGE = 10_000
# Pages kept per process; each dies with the next write to its repository.
CACHED_PAGES = 2_000


@dataclass(frozen=True)
class TagPage:
    names: list[str]
    # True when tags after the last one returned exist.
    more: bool


@dataclass(frozen=True)
class DeletedTag:
    repository: str
    tag: str
    # The manifest the tag pointed at (it stays).
    digest: str
    # Other tags of the repository on that manifest (they stay too), in order.
    siblings: tuple[str, ...] = ()


class Tags:
    def __init__(
        self,
        db: Database,
        repositories: Repositories,
        audit: AuditLog,
        generations: Generations,
    ) -> None:
        self._db = db
        self._repositories = repositories
        self._audit = audit
        # CI systems poll tags/list; a page stays valid until the repository changes.
        self._pages: GenerationCache[TagPage] = GenerationCache(generations, CACHED_PAGES)

    async def list(self, repo: Repo, n: int | None, last: str | None) -> TagPage:
        limit = MAX_PAGE if n is None else min(n, MAX_PAGE)
        await self._repositories.require_namespace(repo)
        key = (repo.cluster_id, repo.path, limit, last)
        generation = self._pages.generation(repo.generation_key)  # read before the database
        cached = self._pages.get(key)
        if cached is not None:
            return cached
        page = await self._load(repo, limit, last)
        self._pages.put(key, repo.generation_key, generation, page)
        return page

    async def _load(self, repo: Repo, limit: int, last: str | None) -> TagPage:
        async with self._db.read() as conn:
            repository_id = await self._repositories.require(conn, repo)
            if limit == 0:
                return TagPage([], False)
            query = sa.select(t.c.name).where(t.c.repository_id == repository_id)
            if last:
                query = query.where(t.c.name > last)
            rows = await conn.execute(query.order_by(t.c.name).limit(limit + 1))
            names = [row[0] for row in rows]
        return TagPage(names[:limit], len(names) > limit)

    async def delete(
        self, repo: Repo, tag: str, actor: Actor, *, dry_run: bool = False
    ) -> DeletedTag:
        transaction = self._db.read() if dry_run else self._db.write()
        async with transaction as conn:
            repository_id = await self._repositories.require(conn, repo)
            row = (
                await conn.execute(
                    sa.select(m.c.id, m.c.digest)
                    .select_from(t.join(m, m.c.id == t.c.manifest_id))
                    .where(t.c.repository_id == repository_id, t.c.name == tag)
                )
            ).first()
            if row is None:
                raise errors.manifest_unknown(tag)
            manifest_id, digest = row
            siblings = await conn.execute(
                sa.select(t.c.name)
                .where(t.c.manifest_id == manifest_id, t.c.name != tag)
                .order_by(t.c.name)
            )
            result = DeletedTag(repo.path, tag, digest, tuple(name for (name,) in siblings))
            if dry_run:
                return result
            await conn.execute(
                t.delete().where(t.c.repository_id == repository_id, t.c.name == tag)
            )
            touch(conn, repo.generation_key)
            await self._audit.record(
                actor=actor.username,
                action="registry.tag.delete",
                cluster=repo.cluster,
                namespace=repo.namespace,
                resource="imagestreamtags",
                name=f"{repo.name.name}:{tag}",
                request_id=actor.request_id,
                details={"repository": repo.path, "tag": tag, "digest": digest},
                conn=conn,
            )
        return result
