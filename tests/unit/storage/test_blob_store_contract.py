"""The contract of `acp.storage.base.BlobStore`, run against every driver."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterable

import pytest

from acp.storage.base import BlobStore, LocalBlob, UploadBusy, UploadMissing

MakeStore = Callable[[], BlobStore]


def _digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


async def _body(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


async def _failing_body(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    raise ConnectionResetError("client went away")


def _chunks(data: bytes, sizes: Iterable[int]) -> list[bytes]:
    out, position = [], 0
    for size in sizes:
        if position >= len(data):
            break
        out.append(data[position : position + size])
        position += size
    if position < len(data):
        out.append(data[position:])
    return out


async def _read_all(store: BlobStore, digest: str) -> bytes:
    location = await store.locate(digest)
    assert isinstance(location, LocalBlob)
    return await asyncio.to_thread(location.path.read_bytes)


async def test_upload_in_pieces_then_commit(make_store: MakeStore) -> None:
    store = make_store()
    data = os.urandom(300_000)
    upload = uuid.uuid4().hex
    await store.create_upload(upload)
    async with store.writer(upload, "sha256") as writer:
        assert await writer.size() == 0
        assert await writer.append(0, _body(_chunks(data[:100_000], [1000] * 100))) == 100_000
    async with store.writer(upload, "sha256") as writer:
        assert await writer.append(100_000, _body([data[100_000:]])) == len(data)
        digest = await writer.digest(len(data), "sha256")
        assert digest == _digest(data)
        await writer.commit(digest, len(data))
    assert await store.blob_size(digest) == len(data)
    assert await _read_all(store, digest) == data
    assert await store.read_blob(digest, len(data)) == data
    assert await store.read_blob(digest, len(data) - 1) is None
    with pytest.raises(UploadMissing):
        async with store.writer(upload, "sha256"):
            pass


async def test_large_upload_through_the_threaded_pipeline(make_store: MakeStore) -> None:
    store = make_store()
    rng = random.Random(7)
    data = rng.randbytes(40 * 1024 * 1024 + 12345)
    sizes = [rng.choice([1, 65536, 262144, 1 << 20, 3 << 20]) for _ in range(400)]
    upload = uuid.uuid4().hex
    await store.create_upload(upload)
    async with store.writer(upload, "sha256") as writer:
        assert await writer.append(0, _body(_chunks(data, sizes))) == len(data)
        digest = await writer.digest(len(data), "sha256")
        await writer.commit(digest, len(data))
    assert digest == _digest(data)
    assert await _read_all(store, digest) == data


async def test_another_process_continues_an_upload(make_store: MakeStore) -> None:
    """A second handle has no hash state: it must re-read the prefix and still be right."""
    first, second = make_store(), make_store()
    data = os.urandom(2_000_000)
    upload = uuid.uuid4().hex
    await first.create_upload(upload)
    async with first.writer(upload, "sha256") as writer:
        await writer.append(0, _body([data[:777_777]]))
    async with second.writer(upload, "sha256") as writer:
        assert await writer.append(777_777, _body([data[777_777:]])) == len(data)
        assert await writer.digest(len(data), "sha256") == _digest(data)
    # And back on the first handle, whose remembered state is now stale.
    async with first.writer(upload, "sha256") as writer:
        assert await writer.digest(len(data), "sha256") == _digest(data)


async def test_sha512_and_digest_of_another_algorithm(make_store: MakeStore) -> None:
    store = make_store()
    data = os.urandom(50_000)
    upload = uuid.uuid4().hex
    await store.create_upload(upload)
    async with store.writer(upload, "sha512") as writer:
        await writer.append(0, _body([data]))
        assert await writer.digest(len(data), "sha512") == _digest(data, "sha512")
        # Asked for another algorithm than it hashed with: computed from the stored bytes.
        assert await writer.digest(len(data), "sha256") == _digest(data)
        await writer.commit(_digest(data, "sha512"), len(data))
    assert await store.read_blob(_digest(data, "sha512"), 1 << 20) == data


async def test_failed_body_is_cut_back_to_the_offset(make_store: MakeStore) -> None:
    store = make_store()
    good, bad = os.urandom(10_000), os.urandom(9 * 1024 * 1024)
    upload = uuid.uuid4().hex
    await store.create_upload(upload)
    async with store.writer(upload, "sha256") as writer:
        await writer.append(0, _body([good]))
        with pytest.raises(ConnectionResetError):
            await writer.append(len(good), _failing_body(_chunks(bad, [1 << 20] * 9)))
        assert await writer.size() == len(good)
        assert await writer.append(len(good), _body([b"tail"])) == len(good) + 4
        assert await writer.digest(len(good) + 4, "sha256") == _digest(good + b"tail")


async def test_append_drops_leftovers_beyond_the_offset(make_store: MakeStore) -> None:
    """Bytes written by a request whose offset was never recorded are overwritten."""
    store = make_store()
    upload = uuid.uuid4().hex
    await store.create_upload(upload)
    async with store.writer(upload, "sha256") as writer:
        await writer.append(0, _body([b"a" * 100]))
        await writer.append(100, _body([b"b" * 100]))  # pretend this one was not recorded
    async with make_store().writer(upload, "sha256") as writer:
        assert await writer.size() == 200
        assert await writer.append(100, _body([b"c" * 10])) == 110
        digest = await writer.digest(110, "sha256")
        assert digest == _digest(b"a" * 100 + b"c" * 10)
        await writer.commit(digest, 110)
    assert await store.read_blob(digest, 1000) == b"a" * 100 + b"c" * 10


async def test_truncate_undoes_an_append(make_store: MakeStore) -> None:
    store = make_store()
    upload = uuid.uuid4().hex
    await store.create_upload(upload)
    async with store.writer(upload, "sha256") as writer:
        await writer.append(0, _body([b"keep"]))
        await writer.append(4, _body([b"drop"]))
        await writer.truncate(4)
        assert await writer.size() == 4
        assert await writer.digest(4, "sha256") == _digest(b"keep")


async def test_commit_keeps_only_the_requested_size(make_store: MakeStore) -> None:
    store = make_store()
    upload = uuid.uuid4().hex
    await store.create_upload(upload)
    async with store.writer(upload, "sha256") as writer:
        await writer.append(0, _body([b"0123456789"]))
        await writer.commit(_digest(b"01234"), 5)
    assert await store.read_blob(_digest(b"01234"), 100) == b"01234"


async def test_writers_are_exclusive_across_handles(make_store: MakeStore) -> None:
    first, second = make_store(), make_store()
    upload = uuid.uuid4().hex
    await first.create_upload(upload)
    async with first.writer(upload, "sha256"):
        with pytest.raises(UploadBusy):
            async with second.writer(upload, "sha256"):
                pass
        with pytest.raises(UploadBusy):
            async with first.writer(upload, "sha256"):
                pass
    async with second.writer(upload, "sha256") as writer:
        assert await writer.size() == 0


async def test_unknown_and_deleted_uploads_are_missing(make_store: MakeStore) -> None:
    store = make_store()
    with pytest.raises(UploadMissing):
        async with store.writer("no-such-upload", "sha256"):
            pass
    with pytest.raises(UploadMissing):
        async with store.writer("../escape", "sha256"):
            pass
    upload = uuid.uuid4().hex
    await store.create_upload(upload)
    await store.delete_upload(upload)
    await store.delete_upload(upload)  # idempotent
    with pytest.raises(UploadMissing):
        async with store.writer(upload, "sha256"):
            pass


async def test_committing_existing_content_keeps_one_copy(make_store: MakeStore) -> None:
    store = make_store()
    data = b"same bytes"
    for _ in range(2):
        upload = uuid.uuid4().hex
        await store.create_upload(upload)
        async with store.writer(upload, "sha256") as writer:
            await writer.append(0, _body([data]))
            await writer.commit(_digest(data), len(data))
    assert await store.read_blob(_digest(data), 100) == data
    assert await store.idle_uploads(0) == []


async def test_empty_blob(make_store: MakeStore) -> None:
    store = make_store()
    upload = uuid.uuid4().hex
    await store.create_upload(upload)
    async with store.writer(upload, "sha256") as writer:
        assert await writer.append(0, _body([])) == 0
        digest = await writer.digest(0, "sha256")
        await writer.commit(digest, 0)
    assert digest == _digest(b"")
    assert await store.blob_size(digest) == 0


async def test_idle_uploads_and_blob_deletion(make_store: MakeStore) -> None:
    store = make_store()
    upload = uuid.uuid4().hex
    await store.create_upload(upload)
    assert await store.idle_uploads(3600) == []
    await asyncio.sleep(0.05)
    assert await store.idle_uploads(0.01) == [upload]
    digest = _digest(b"gone soon")
    assert await store.blob_size(digest) is None
    assert await store.locate(digest) is None
    assert await store.read_blob(digest, 100) is None
    await store.delete_blob(digest)  # absent: no error
