"""A registry's services on a fresh SQLite database, without HTTP (service-level tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acp.db import objects
from acp.db.audit import AuditLog
from acp.db.bootstrap import bootstrap
from acp.db.engine import Database
from acp.db.generations import Generations
from acp.db.migrate import upgrade
from acp.registry.services import Registry, build_registry
from acp.storage.filesystem import FilesystemBlobStore


@pytest.fixture
async def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Registry]:
    """Cluster "global" with namespaces "ns" and "other"; uploads expire after 1 s."""
    monkeypatch.setenv("ACP_ADMIN_PASSWORD", "expiry-test-password")
    generations = Generations(tmp_path / "generations")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'acp.db'}", generations)
    await upgrade(db)
    await bootstrap(db, ["global"], tmp_path)
    async with db.write() as conn:
        ids = {"global": 1}
        for name in ("ns", "other"):
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            await objects.create(conn, "global", ids["global"], body)
    built = build_registry(
        db=db,
        generations=generations,
        cluster_ids={"global": 1},
        audit=AuditLog(db),
        store=FilesystemBlobStore(tmp_path / "blobs"),
        manifest_max_bytes=4 * 1024 * 1024,
        upload_expiry_seconds=1,
    )
    yield built
    await db.dispose()
    generations.close()
