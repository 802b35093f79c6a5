"""What only the filesystem driver does: its layout and the race between finishing an upload
and another request opening it."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acp.storage.base import UploadMissing
from acp.storage.filesystem import FilesystemBlobStore, _still_at


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_blobs_are_content_addressed_files(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    data = b"hello"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await store.create_upload("u1")
    async with store.writer("u1", "sha256") as writer:
        await writer.append(0, _body(data))
        await writer.commit(digest, len(data))
    path = tmp_path / "sha256" / digest[7:9] / digest[7:]
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / "_uploads" / "u1").exists()


async def test_a_file_opened_before_commit_is_recognised_as_gone(tmp_path: Path) -> None:
    """Request B opens the upload file just before request A renames it into place: once B
    gets the lock, the file is a blob, and B must see that the upload is gone."""
    store = FilesystemBlobStore(tmp_path)
    data = b"final content"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await store.create_upload("u2")
    path = store.upload_path("u2")
    fd = os.open(path, os.O_RDWR)
    try:
        assert _still_at(path, fd)
        async with store.writer("u2", "sha256") as writer:
            await writer.append(0, _body(data))
            await writer.commit(digest, len(data))
        assert not _still_at(path, fd)
    finally:
        os.close(fd)
    with pytest.raises(UploadMissing):
        async with store.writer("u2", "sha256"):
            pass
    assert await store.read_blob(digest, 100) == data


def test_blob_paths_refuse_malformed_digests(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    with pytest.raises(ValueError, match="not a digest"):
        store.blob_path("../../etc/passwd")
    with pytest.raises(ValueError, match="hex"):
        store.blob_path("sha256:" + "A" * 64)
