"""Bulk rows for volume: namespaces, role bindings and image metadata written straight into a
running server's database, the way the server itself stores them (cache generations
included), so that thousands of tags exist in a second (`ac get images` over many pages,
`bench/cli_get_images.py`).

The manifests are not pullable images (no blobs). Tests whose point is an API create their
state through it instead (`tests/support/platform.py`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from acp.db import objects, tables
from acp.db.bootstrap import cluster_ids
from acp.db.engine import Database
from acp.db.generations import Generations
from acp.server.settings import Settings
from tests.support.platform import rolebinding
from tests.support.server import RunningServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class Image:
    namespace: str
    repository: str  # inside the namespace
    tag: str
    digest: str = ""  # default: derived from `content`
    content: str = ""  # what makes the manifest unique (same content -> same digest)
    size: int = 1234
    platforms: tuple[str, ...] = ("linux/amd64",)
    media_type: str = OCI_MANIFEST
    age_seconds: int = 3 * 3600 + 60


def manifest_body(image: Image) -> bytes:
    key = image.content or f"{image.namespace}/{image.repository}:{image.tag}"
    return json.dumps(
        {"schemaVersion": 2, "mediaType": image.media_type, "annotations": {"seed": key}},
        sort_keys=True,
    ).encode()


def digest_of(image: Image) -> str:
    return image.digest or "sha256:" + hashlib.sha256(manifest_body(image)).hexdigest()


class Seeder:
    def __init__(self, server: RunningServer) -> None:
        settings = Settings(
            data_dir=server.data_dir, database_url=server.database_url, port=server.port
        )
        self._url = settings.effective_database_url
        self._run_dir = settings.run_dir
        self._base_url = server.url
        self._runner = asyncio.Runner()

    def close(self) -> None:
        self._runner.close()

    def _run(self, work: Any) -> Any:
        async def go() -> Any:
            generations = Generations(self._run_dir / "generations")
            db = Database(self._url, generations)
            try:
                return await work(db)
            finally:
                await db.dispose()
                generations.close()

        return self._runner.run(go())

    # --- Kubernetes objects ------------------------------------------------------------------

    def _create(self, cluster: str, body: dict[str, Any]) -> dict[str, Any]:
        async def work(db: Database) -> dict[str, Any]:
            async with db.write() as conn:
                ids = await cluster_ids(conn)
                return await objects.create(conn, cluster, ids[cluster], body)

        result: dict[str, Any] = self._run(work)
        return result

    def namespace(self, name: str, cluster: str = "global") -> None:
        self._create(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def bind(
        self,
        namespace: str,
        role: str,
        *,
        user: str = "",
        group: str = "",
        serviceaccount: tuple[str, str] | None = None,
        name: str = "",
        cluster: str = "global",
    ) -> None:
        body = rolebinding(
            namespace, role, user=user, group=group, serviceaccount=serviceaccount, name=name
        )
        self._create(cluster, body)

    # --- image metadata ----------------------------------------------------------------------

    def images(self, images: Iterable[Image], cluster: str = "global") -> None:
        """Insert repositories, manifests and tags in bulk (a few statements in all)."""
        wanted = list(images)

        async def work(db: Database) -> None:
            now = datetime.now(UTC)
            async with db.write() as conn:
                cluster_id = (await cluster_ids(conn))[cluster]
                repo_ids = await self._repositories(conn, cluster_id, wanted, now)
                manifest_ids = await self._manifests(conn, repo_ids, wanted, now)
                rows = [
                    {
                        "repository_id": repo_ids[f"{i.namespace}/{i.repository}"],
                        "name": i.tag,
                        "manifest_id": manifest_ids[
                            (f"{i.namespace}/{i.repository}", digest_of(i))
                        ],
                        "updated_at": now,
                    }
                    for i in wanted
                ]
                if rows:
                    await conn.execute(tables.tags.insert(), rows)

        self._run(work)

    @staticmethod
    async def _repositories(
        conn: Any, cluster_id: int, wanted: list[Image], now: datetime
    ) -> dict[str, int]:
        r = tables.repositories
        names = {f"{i.namespace}/{i.repository}": i.namespace for i in wanted}
        existing = {
            name: rid
            for name, rid in await conn.execute(
                sa.select(r.c.name, r.c.id).where(r.c.cluster_id == cluster_id)
            )
        }
        new = [
            {"cluster_id": cluster_id, "namespace": ns, "name": name, "created_at": now}
            for name, ns in names.items()
            if name not in existing
        ]
        if new:
            await conn.execute(r.insert(), new)
        return {
            name: rid
            for name, rid in await conn.execute(
                sa.select(r.c.name, r.c.id).where(r.c.cluster_id == cluster_id)
            )
        }

    @staticmethod
    async def _manifests(
        conn: Any, repo_ids: dict[str, int], wanted: list[Image], now: datetime
    ) -> dict[tuple[str, str], int]:
        m = tables.manifests
        by_repo_id = {rid: name for name, rid in repo_ids.items()}

        async def current() -> dict[tuple[str, str], int]:
            rows = await conn.execute(
                sa.select(m.c.repository_id, m.c.digest, m.c.id).where(
                    m.c.repository_id.in_(list(repo_ids.values()))
                )
            )
            return {(by_repo_id[rid], digest): mid for rid, digest, mid in rows}

        have = await current()
        new: dict[tuple[str, str], dict[str, Any]] = {}
        for image in wanted:
            key = (f"{image.namespace}/{image.repository}", digest_of(image))
            if key in have or key in new:
                continue
            body = manifest_body(image)
            new[key] = {
                "repository_id": repo_ids[key[0]],
                "digest": key[1],
                "media_type": image.media_type,
                "artifact_type": None,
                "subject_digest": None,
                "size": len(body),
                "total_size": image.size,
                "platforms": list(image.platforms),
                "annotations": {},
                "body": body,
                "created_at": now - timedelta(seconds=image.age_seconds),
            }
        if new:
            await conn.execute(m.insert(), list(new.values()))
        return await current()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def seeder(acp_server: RunningServer) -> Iterator[Seeder]:
    seed = Seeder(acp_server)
    yield seed
    seed.close()
