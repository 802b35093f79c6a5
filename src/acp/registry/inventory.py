"""Images as the registry metadata API (`ac get images`) lists them: one row per tag, with
what a person wants to see about it, a page per query."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from acp.db import tables
from acp.db.engine import Database, utc

r = tables.repositories
t = tables.tags
m = tables.manifests

MAX_PAGE = 1000


@dataclass(frozen=True)
class ImageRecord:
    namespace: str
    # Full repository name, namespace included ("my-ns/my-app").
    repository: str
    tag: str
    digest: str
    media_type: str
    artifact_type: str | None
    # Config and layers (for an index: every child image), in bytes.
    size: int
    # When the manifest was first pushed, and when this tag last moved.
    created: datetime
    tagged: datetime
    platforms: list[str]


@dataclass(frozen=True)
class ImagePage:
    items: list[ImageRecord]
    # Pass as `after` for the next page; None on the last page.
    next_after: tuple[str, str] | None


class Inventory:
    def __init__(self, db: Database, cluster_ids: dict[str, int]) -> None:
        self._db = db
        self._cluster_ids = cluster_ids

    async def list_images(
        self,
        cluster: str,
        namespaces: Collection[str] | None,
        *,
        limit: int = 500,
        after: tuple[str, str] | None = None,
    ) -> ImagePage:
        """Tagged images of `namespaces` (None: every namespace), ordered by namespace,
        repository and tag; `after` = (repository, tag) of the previous page's last row.
        One query."""
        limit = max(1, min(limit, MAX_PAGE))
        if namespaces is not None and not namespaces:
            return ImagePage([], None)
        query = (
            sa.select(
                r.c.namespace,
                r.c.name.label("repository"),
                t.c.name.label("tag"),
                t.c.updated_at,
                m.c.digest,
                m.c.media_type,
                m.c.artifact_type,
                m.c.total_size,
                m.c.created_at,
                m.c.platforms,
            )
            .select_from(t.join(r, r.c.id == t.c.repository_id).join(m, m.c.id == t.c.manifest_id))
            .where(r.c.cluster_id == self._cluster_ids[cluster])
        )
        if namespaces is not None:
            query = query.where(r.c.namespace.in_(sorted(namespaces)))
        if after is not None:
            # Namespace first, as people read the list ("a" before "a-b", although
            # "a-b/x" < "a/x"); the repository name starts with its namespace.
            namespace = after[0].partition("/")[0]
            query = query.where(
                sa.tuple_(r.c.namespace, r.c.name, t.c.name) > sa.tuple_(namespace, *after)
            )
        query = query.order_by(r.c.namespace, r.c.name, t.c.name).limit(limit + 1)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        items = [
            ImageRecord(
                namespace=row.namespace,
                repository=row.repository,
                tag=row.tag,
                digest=row.digest,
                media_type=row.media_type,
                artifact_type=row.artifact_type,
                size=int(row.total_size),
                created=utc(row.created_at),
                tagged=utc(row.updated_at),
                platforms=list(row.platforms or []),
            )
            for row in rows[:limit]
        ]
        more = len(rows) > limit
        return ImagePage(items, (items[-1].repository, items[-1].tag) if more else None)
