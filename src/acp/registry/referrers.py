"""The referrers API: manifests of a repository whose `subject` is a given digest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from acp.db import tables
from acp.db.engine import Database
from acp.registry import manifest_format
from acp.registry.repositories import Repo

r = tables.repositories
m = tables.manifests

PAGE = 1000


@dataclass(frozen=True)
class ReferrerPage:
    descriptors: list[dict[str, Any]]
    # Digest to continue after, when more referrers exist.
    next_last: str | None

    def index(self) -> dict[str, Any]:
        return {
            "schemaVersion": 2,
            "mediaType": manifest_format.OCI_INDEX,
            "manifests": self.descriptors,
        }


class Referrers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(
        self, repo: Repo, subject: str, artifact_type: str | None, last: str | None = None
    ) -> ReferrerPage:
        """Referrers of `subject`, ordered by digest; an unknown repository has none (the
        API answers 200 with an empty index rather than a 404, which clients would take
        for "no referrers API")."""
        query = (
            sa.select(m.c.media_type, m.c.digest, m.c.size, m.c.artifact_type, m.c.annotations)
            .select_from(m.join(r, r.c.id == m.c.repository_id))
            .where(
                r.c.cluster_id == repo.cluster_id,
                r.c.name == repo.path,
                m.c.subject_digest == subject,
            )
        )
        if artifact_type is not None:
            query = query.where(m.c.artifact_type == artifact_type)
        if last:
            query = query.where(m.c.digest > last)
        async with self._db.read() as conn:
            rows = (await conn.execute(query.order_by(m.c.digest).limit(PAGE + 1))).all()
        descriptors = []
        for row in rows[:PAGE]:
            descriptor: dict[str, Any] = {
                "mediaType": row.media_type,
                "digest": row.digest,
                "size": int(row.size),
            }
            if row.artifact_type:
                descriptor["artifactType"] = row.artifact_type
            if row.annotations:
                descriptor["annotations"] = row.annotations
            descriptors.append(descriptor)
        next_last = rows[PAGE - 1].digest if len(rows) > PAGE else None
        return ReferrerPage(descriptors, next_last)
