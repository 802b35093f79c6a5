"""Abandoned uploads expire: the session row and its data go, and so does upload data that no
session owns (left by a crash during a single-request upload)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acp.registry import errors
from acp.registry.names import parse_repository
from acp.registry.services import Registry


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


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
