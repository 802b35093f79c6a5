"""What only the filesystem driver does: its layout and the race between finishing an upload
and another request opening it."""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acp.storage import filesystem
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


def _chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    return pieces()


@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "page_cache"])
async def test_large_appends_at_unaligned_offsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    """Large appends go through O_DIRECT where the filesystem has it (and through the page
    cache where it does not); heads and tails off the 4 KiB grid land in the right place."""
    if not direct:
        monkeypatch.setattr(filesystem, "_open_direct", lambda path: None)
    opened: list[str] = []
    real_open_for_append = filesystem._open_for_append

    def spy(path: Path, fd: int, position: int) -> object:
        chosen = real_open_for_append(path, fd, position)
        opened.append(type(chosen).__name__)
        return chosen

    monkeypatch.setattr(filesystem, "_open_for_append", spy)
    store = FilesystemBlobStore(tmp_path)
    data = os.urandom(21 * 1024 * 1024 + 4099)
    cuts = [0, 5 * 1024 * 1024 + 3, 14 * 1024 * 1024 + 4096, len(data)]
    await store.create_upload("u2")
    for start, end in itertools.pairwise(cuts):
        async with store.writer("u2", "sha256") as writer:
            assert await writer.append(start, _chunked(data[start:end], 300_001)) == end
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    async with store.writer("u2", "sha256") as writer:
        assert await writer.digest(len(data), "sha256") == digest
        await writer.commit(digest, len(data))
    assert (tmp_path / "sha256" / digest[7:9] / digest[7:]).read_bytes() == data
    assert opened == ["_DirectFile" if direct else "_BufferedFile"] * 3


async def test_another_process_finishes_with_the_recorded_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest left by the last append lets another process (a second store on the same
    directory) finish without reading the bytes again; any change to the bytes drops it."""
    first, second = FilesystemBlobStore(tmp_path), FilesystemBlobStore(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 5)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await first.create_upload("u3")
    async with first.writer("u3", "sha256") as writer:
        assert await writer.append(0, _chunked(data, 100_000)) == len(data)

    reads: list[int] = []
    real_hash_prefix = filesystem._hash_prefix

    def counting_hash_prefix(fd: int, size: int, algorithm: str) -> object:
        reads.append(size)
        return real_hash_prefix(fd, size, algorithm)

    monkeypatch.setattr(filesystem, "_hash_prefix", counting_hash_prefix)
    async with second.writer("u3", "sha256") as writer:
        assert await writer.digest(len(data), "sha256") == digest
        assert reads == []
        # Another algorithm, or another size, is not what was recorded.
        assert await writer.digest(len(data), "sha512") == (
            "sha512:" + hashlib.sha512(data).hexdigest()
        )
        prefix = "sha256:" + hashlib.sha256(data[:10]).hexdigest()
        assert await writer.digest(10, "sha256") == prefix
        assert reads == [len(data), 10]
        await writer.truncate(len(data) - 5)
    reads.clear()
    async with FilesystemBlobStore(tmp_path).writer("u3", "sha256") as writer:
        assert await writer.digest(len(data) - 5, "sha256") == (
            "sha256:" + hashlib.sha256(data[:-5]).hexdigest()
        )
        assert reads == [len(data) - 5]
