"""`_catalog`: the repositories of a cluster, limited to the namespaces the caller may pull
from, in ASCIIbetical order with `n`/`last` pagination."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa

from acp.db import tables
from acp.db.engine import Database

r = tables.repositories

MAX_PAGE = 10_000


@dataclass(frozen=True)
class CatalogPage:
    names: list[str]
    more: bool


class Catalog:
    def __init__(self, db: Database, cluster_ids: dict[str, int]) -> None:
        self._db = db
        self._cluster_ids = cluster_ids

    async def list(
        self,
        cluster: str,
        namespaces: Collection[str] | None,
        n: int | None,
        last: str | None,
    ) -> CatalogPage:
        """`namespaces=None` means every namespace."""
        limit = MAX_PAGE if n is None else min(n, MAX_PAGE)
        if limit == 0 or (namespaces is not None and not namespaces):
            return CatalogPage([], False)
        query = sa.select(r.c.name).where(r.c.cluster_id == self._cluster_ids[cluster])
        if namespaces is not None:
            query = query.where(r.c.namespace.in_(sorted(namespaces)))
        if last:
            query = query.where(r.c.name > last)
        async with self._db.read() as conn:
            names = [
                row[0] for row in await conn.execute(query.order_by(r.c.name).limit(limit + 1))
            ]
        return CatalogPage(names[:limit], len(names) > limit)
