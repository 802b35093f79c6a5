"""Abandoned uploads expire: the session row and its data go, and so does upload data that no
session owns (left by a crash during a single-request upload)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acp.db import objects
from acp.db.audit import AuditLog
from acp.db.bootstrap import bootstrap
from acp.db.engine import Database
from acp.db.generations import Generations
from acp.db.migrate import upgrade
from acp.registry import errors
from acp.registry.names import parse_repository
from acp.registry.services import Registry, build_registry
from acp.storage.filesystem import FilesystemBlobStore


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Registry]:
    monkeypatch.setenv("ACP_ADMIN_PASSWORD", "expiry-test-password")
    generations = Generations(tmp_path / "generations")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'acp.db'}", generations)
    await upgrade(db)
    await bootstrap(db, ["global"], tmp_path)
    async with db.write() as conn:
        ids = {"global": 1}
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
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


async def test_idle_uploads_expire(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repositories.repo("global", parse_repository("ns/app"))
    state = await registry.uploads.start(repo)
    state = await registry.uploads.append(repo, state.id, _body(b"some bytes"))
    assert state.offset == 10
    uploads_dir = tmp_path / "blobs" / "_uploads"
    orphan = uploads_dir / "single-left-by-a-crash"
    orphan.write_bytes(b"partial")
    assert sorted(os.listdir(uploads_dir)) == sorted([state.id, orphan.name])
    await asyncio.sleep(1.2)
    # Expired sessions are unknown at once, before any sweep.
    with pytest.raises(errors.RegistryError) as info:
        await registry.uploads.status(repo, state.id)
    assert info.value.code == "BLOB_UPLOAD_UNKNOWN"
    assert await registry.uploads.expire() == 2
    assert os.listdir(uploads_dir) == []
    assert await registry.uploads.expire() == 0


async def test_active_uploads_survive_the_sweep(registry: Registry) -> None:
    repo = registry.repositories.repo("global", parse_repository("ns/app"))
    state = await registry.uploads.start(repo)
    for _ in range(3):
        await asyncio.sleep(0.5)
        state = await registry.uploads.append(repo, state.id, _body(b"x"))
        await registry.uploads.expire()
    assert (await registry.uploads.status(repo, state.id)).offset == 3
