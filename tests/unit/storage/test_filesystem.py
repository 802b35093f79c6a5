"""What only the filesystem driver does: its layout and the race between finishing an upload
and another request opening it."""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acp.storage import filesystem
from acp.storage.base import StorageError, UploadMissing
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


async def _store_blob(store: FilesystemBlobStore, upload_id: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    await store.create_upload(upload_id)
    async with store.writer(upload_id, "sha256") as writer:
        await writer.append(0, _body(data))
        await writer.commit(digest, len(data))
    return digest


async def _none_recorded(digests: list[str]) -> set[str]:
    return set()


async def test_the_sweep_removes_old_unrecorded_blobs_only(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    old, recorded, fresh = [await _store_blob(store, f"u{n}", b"blob %d" % n) for n in range(3)]
    for digest in (old, recorded):
        os.utime(store.blob_path(digest), (1_000_000, 1_000_000))
    cutoff = os.stat(store.blob_path(fresh)).st_mtime - 1

    async def only_recorded(digests: list[str]) -> set[str]:
        return {recorded} & set(digests)

    assert await store.sweep(only_recorded, cutoff, dry_run=True) == (1, len(b"blob 0"))
    assert store.blob_path(old).exists()  # a dry run changes nothing
    assert await store.sweep(only_recorded, cutoff) == (1, len(b"blob 0"))
    assert not store.blob_path(old).exists()
    assert store.blob_path(recorded).exists()
    assert store.blob_path(fresh).exists()


async def test_committing_a_stored_digest_again_keeps_it_from_the_sweep(tmp_path: Path) -> None:
    """An upload that finishes with a digest already on disk refreshes the file's mtime, so a
    collection running at that moment puts it back instead of removing it."""
    store = FilesystemBlobStore(tmp_path)
    digest = await _store_blob(store, "first", b"shared layer")
    path = store.blob_path(digest)
    os.utime(path, (1_000_000, 1_000_000))
    cutoff = 1_500_000.0
    assert filesystem._old_blobs(tmp_path, cutoff) == [(digest, path, len(b"shared layer"))]
    await _store_blob(store, "second", b"shared layer")  # a push of the same layer
    assert path.stat().st_mtime > cutoff
    # The sweep had listed it before that commit: the moved file is fresh, so it goes back.
    assert not filesystem._remove_unless_fresh(path, cutoff)
    assert path.read_bytes() == b"shared layer"


async def test_a_new_blob_committed_during_a_sweep_survives(tmp_path: Path) -> None:
    """Listed as old, removed aside: a commit of the same digest in between lands a fresh
    file at the path, and the sweep drops only the old inode it moved."""
    store = FilesystemBlobStore(tmp_path)
    digest = await _store_blob(store, "old", b"layer")
    path = store.blob_path(digest)
    os.utime(path, (1_000_000, 1_000_000))
    assert filesystem._remove_unless_fresh(path, 1_500_000.0)
    await _store_blob(store, "new", b"layer")
    assert path.read_bytes() == b"layer"


async def test_files_left_aside_by_an_interrupted_sweep_are_put_back(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    lone = await _store_blob(store, "a", b"lone")
    copied = await _store_blob(store, "b", b"copied")
    for digest in (lone, copied):
        path = store.blob_path(digest)
        os.link(path, path.with_name(path.name + filesystem.ASIDE))
    os.unlink(store.blob_path(lone))  # the sweep stopped between its rename and the check
    # Not while a collection runs: they may be its own, and it puts them back itself.
    with filesystem.collection_lock(tmp_path, exclusive=True):
        assert filesystem.recover_interrupted_sweep(tmp_path) == 0
    assert len(_aside_files(tmp_path)) == 2
    assert filesystem.recover_interrupted_sweep(tmp_path) == 1
    assert store.blob_path(lone).read_bytes() == b"lone"
    assert store.blob_path(copied).read_bytes() == b"copied"
    assert not _aside_files(tmp_path)


def _aside_files(root: Path) -> list[Path]:
    return list(root.glob(f"sha256/*/*{filesystem.ASIDE}"))


def test_a_collection_excludes_collections_and_backups(tmp_path: Path) -> None:
    lock = filesystem.collection_lock
    with lock(tmp_path, exclusive=False), lock(tmp_path, exclusive=False):
        pass  # backups run side by side
    busy = "another garbage collection or a backup is running"
    with lock(tmp_path, exclusive=False), pytest.raises(StorageError, match=busy):
        lock(tmp_path, exclusive=True).__enter__()
    busy = "a garbage collection is running"
    with lock(tmp_path, exclusive=True), pytest.raises(StorageError, match=busy):
        lock(tmp_path, exclusive=False).__enter__()


def test_a_backup_waits_for_the_collection_to_end(tmp_path: Path) -> None:
    events: list[str] = []
    held = threading.Event()

    def backup() -> None:
        held.wait()
        with filesystem.collection_lock(
            tmp_path, exclusive=False, on_wait=lambda: events.append("waiting")
        ):
            events.append("backing up")

    waiter = threading.Thread(target=backup)
    waiter.start()
    with filesystem.collection_lock(tmp_path, exclusive=True):
        held.set()
        time.sleep(0.3)
        events.append("collected")
    waiter.join(10)
    assert events == ["waiting", "collected", "backing up"]


async def test_a_read_puts_back_a_blob_a_killed_collection_left_aside(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    digest = await _store_blob(store, "a", b"live layer")
    path = store.blob_path(digest)
    os.rename(path, path.with_name(path.name + filesystem.ASIDE))
    with filesystem.collection_lock(tmp_path, exclusive=True):
        # A collection running now owns the file: it puts it back or removes it itself.
        assert await store.blob_size(digest) is None
    assert await store.blob_size(digest) == len(b"live layer")
    assert path.read_bytes() == b"live layer"
    assert not _aside_files(tmp_path)
