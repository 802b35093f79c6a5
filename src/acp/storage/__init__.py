"""Blob storage: one interface (`acp.storage.base.BlobStore`), one driver per backend."""

from __future__ import annotations

from acp.storage.base import BlobStore


def open_blob_store(location: str) -> BlobStore:
    """The blob store for `--storage` (a directory now; `s3://…` once that driver exists)."""
    from pathlib import Path

    from acp.storage.filesystem import FilesystemBlobStore

    return FilesystemBlobStore(Path(location))
