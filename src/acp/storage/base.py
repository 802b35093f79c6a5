"""The blob store: the one interface between the registry and where blob bytes live.

Blobs are content-addressed and stored once, whichever repositories refer to them (the
database decides who may read what). Uploads are named by an id the caller chooses; their
progress (the offset) is kept by the caller in the database, so any worker process or replica
can continue an upload another one began. A driver only promises:

- `writer()` gives one request exclusive access to an upload, across processes;
- bytes accepted by `append()` are durable when it returns;
- `commit()` makes the content a blob atomically and durably (a crash leaves either no blob
  or the whole blob, never a partial one);
- memory use does not depend on blob size.

Every driver passes the shared suite in `tests/unit/storage/`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path


class StorageError(Exception):
    pass


class UploadMissing(StorageError):
    """The upload's data is gone: expired, cancelled, or already finished."""


class UploadBusy(StorageError):
    """Another request is writing to or finishing this upload right now."""


@dataclass(frozen=True)
class LocalBlob:
    """A blob in a local file: send it with sendfile(2)."""

    path: Path
    size: int


@dataclass(frozen=True)
class RemoteBlob:
    """A blob the client may fetch from elsewhere (a pre-signed object-store URL)."""

    url: str
    size: int


BlobLocation = LocalBlob | RemoteBlob


class UploadWriter(ABC):
    """Exclusive access to one upload while a request appends to it or finishes it."""

    @abstractmethod
    async def size(self) -> int:
        """Bytes stored for this upload, including any left by an interrupted request."""

    @abstractmethod
    async def append(self, offset: int, body: AsyncIterable[bytes]) -> int:
        """Write `body` at `offset` (dropping anything stored beyond it) and return the new
        size once the data is durable. If `body` fails part-way, the upload is cut back to
        `offset` and the error is raised."""

    @abstractmethod
    async def truncate(self, offset: int) -> None:
        """Cut the upload back to `offset` bytes (undo an append whose bookkeeping failed)."""

    @abstractmethod
    async def digest(self, size: int, algorithm: str) -> str:
        """Digest of the first `size` bytes. Free when this process has just hashed them
        while appending; otherwise the stored bytes are read again."""

    @abstractmethod
    async def commit(self, digest: str, size: int) -> None:
        """Make the first `size` bytes the content of blob `digest` (verified by the
        caller) and end the upload."""


class BlobStore(ABC):
    @abstractmethod
    async def create_upload(self, upload_id: str) -> None:
        """Start an empty upload."""

    @abstractmethod
    def writer(self, upload_id: str, algorithm: str) -> AbstractAsyncContextManager[UploadWriter]:
        """Exclusive access to an upload; `algorithm` is the digest computed while bytes
        arrive. Raises UploadMissing or UploadBusy."""

    @abstractmethod
    async def delete_upload(self, upload_id: str) -> None:
        """Remove an upload's data (no error if it is already gone)."""

    @abstractmethod
    async def idle_uploads(self, idle_seconds: float) -> list[str]:
        """Ids of uploads that have not been written to for `idle_seconds`."""

    @abstractmethod
    async def blob_size(self, digest: str) -> int | None:
        """Size of a stored blob, None if it is not stored."""

    @abstractmethod
    async def read_blob(self, digest: str, limit: int) -> bytes | None:
        """The content of a small blob (None if absent or larger than `limit`)."""

    @abstractmethod
    async def locate(self, digest: str) -> BlobLocation | None:
        """Where a download of this blob is served from."""

    @abstractmethod
    async def delete_blob(self, digest: str) -> None:
        """Remove a blob's content (garbage collection; no error if it is gone)."""
