"""Manifests no tag reaches, for `acp-admin gc --untagged`.

Deleting a tag leaves its manifest in the repository (pullable by digest), and the manifest
keeps its layers. A manifest is reachable when a tag points at it, when a reachable index
lists it, or when it is a referrer (signature, SBOM, attestation) of a reachable manifest.
Manifests pushed within the grace period (pushed again counts) are reachable too: a client
pushes an index's children by digest before the index, and may push a referrer before its
subject.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import tables
from acp.db.audit import AuditLog
from acp.db.engine import touch
from acp.registry.repositories import generation_key

m = tables.manifests
mr = tables.manifest_references
t = tables.tags
r = tables.repositories
c = tables.clusters

BATCH = 500


@dataclass(frozen=True)
class Unreachable:
    id: int
    cluster: str
    namespace: str
    repository: str
    digest: str


async def find_unreachable(conn: AsyncConnection, cutoff: datetime) -> list[Unreachable]:
    """Every manifest older than `cutoff` that no tag of its repository reaches."""
    rows = (
        await conn.execute(
            sa.select(
                m.c.id,
                m.c.repository_id,
                m.c.digest,
                m.c.subject_digest,
                (sa.func.coalesce(m.c.pushed_at, m.c.created_at) >= cutoff).label("recent"),
                c.c.name,
                r.c.namespace,
                r.c.name,
            )
            .select_from(m.join(r, r.c.id == m.c.repository_id).join(c, c.c.id == r.c.cluster_id))
            .order_by(m.c.id)
        )
    ).all()
    by_digest = {(row[1], str(row[2])): int(row[0]) for row in rows}
    repository_of = {int(row[0]): row[1] for row in rows}
    # Edges from a manifest to what it keeps: an index's children, a subject's referrers.
    keeps: dict[int, list[int]] = defaultdict(list)
    for parent, child_digest in await conn.execute(
        sa.select(mr.c.manifest_id, mr.c.digest).where(mr.c.kind == "manifest")
    ):
        child = by_digest.get((repository_of.get(parent), str(child_digest)))
        if child is not None:
            keeps[int(parent)].append(child)
    for row in rows:
        if row[3] is not None and (subject := by_digest.get((row[1], str(row[3])))) is not None:
            keeps[subject].append(int(row[0]))

    tagged = {int(row[0]) for row in await conn.execute(sa.select(t.c.manifest_id).distinct())}
    reachable = tagged | {int(row[0]) for row in rows if row[4]}
    pending = list(reachable)
    while pending:
        for kept in keeps[pending.pop()]:
            if kept not in reachable:
                reachable.add(kept)
                pending.append(kept)
    return [
        Unreachable(int(row[0]), str(row[5]), str(row[6]), str(row[7]), str(row[2]))
        for row in rows
        if int(row[0]) not in reachable
    ]


async def delete_manifests(
    conn: AsyncConnection, audit: AuditLog | None, doomed: list[Unreachable]
) -> None:
    """Delete them, each with an audit record (unless `audit` is None), and mark their
    repositories changed so every worker drops the manifests it cached."""
    ids = [manifest.id for manifest in doomed]
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        await conn.execute(mr.delete().where(mr.c.manifest_id.in_(batch)))
        await conn.execute(m.delete().where(m.c.id.in_(batch)))
    if audit is not None:
        for manifest in doomed:
            await audit.record(
                actor="acp-admin",
                action="registry.manifest.delete",
                cluster=manifest.cluster,
                namespace=manifest.namespace,
                resource="images",
                name=f"{manifest.repository.split('/', 1)[1]}@{manifest.digest}",
                details={
                    "repository": manifest.repository,
                    "digest": manifest.digest,
                    "tags": [],
                    "via": "acp-admin gc --untagged",
                },
                conn=conn,
            )
    touch(conn, *{generation_key(d.cluster, d.repository) for d in doomed})
