"""Building blocks of `acp-admin backup/restore` that need no server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from acp.admin.backup import blob_relpath
from acp.admin.database import libpq_url
from acp.admin.files import CopyError, blob_files, copy_blob, link_or_copy_blob
from acp.storage.filesystem import FilesystemBlobStore


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_blob_layout_matches_the_filesystem_store(tmp_path: Path) -> None:
    digest = _digest(b"layout")
    assert FilesystemBlobStore(tmp_path).blob_path(digest) == tmp_path / blob_relpath(digest)


def test_libpq_urls_for_pg_dump() -> None:
    assert libpq_url("postgresql+asyncpg://acp@db/acp") == "postgresql://acp@db/acp"
    assert (
        libpq_url("postgresql+asyncpg://acp:pw@db:5433/acp?ssl=require&application_name=x")
        == "postgresql://acp:pw@db:5433/acp?sslmode=require&application_name=x"
    )


def test_copies_are_checked_against_the_digest(tmp_path: Path) -> None:
    data = b"blob content" * 1000
    source = tmp_path / "src"
    source.write_bytes(data)
    target = tmp_path / "out" / "sha256" / "ab" / "blob"
    assert copy_blob(source, target, _digest(data), len(data)) == len(data)
    assert target.read_bytes() == data
    with pytest.raises(CopyError, match="corrupt"):
        copy_blob(source, tmp_path / "bad", _digest(b"something else"))
    assert not (tmp_path / "bad").exists()
    assert not list((tmp_path / "out" / "sha256" / "ab").glob(".*tmp"))
    with pytest.raises(CopyError, match="missing"):
        copy_blob(tmp_path / "absent", tmp_path / "x", _digest(data))


def test_unchanged_blobs_are_linked_from_the_previous_backup(tmp_path: Path) -> None:
    data = b"same blob"
    previous = tmp_path / "previous"
    previous.write_bytes(data)
    size, linked = link_or_copy_blob(previous, tmp_path / "absent", tmp_path / "new", "", len(data))
    assert (size, linked) == (len(data), True)
    assert (tmp_path / "new").stat().st_ino == previous.stat().st_ino
    source = tmp_path / "source"
    source.write_bytes(data)
    size, linked = link_or_copy_blob(
        tmp_path / "not-there", source, tmp_path / "copied", _digest(data), len(data)
    )
    assert (size, linked) == (len(data), False)


def test_blob_files_skip_uploads_and_temporary_files(tmp_path: Path) -> None:
    digest = _digest(b"x")
    path = tmp_path / blob_relpath(digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    (path.parent / f".{path.name}.123.tmp").write_bytes(b"partial")
    (tmp_path / "_uploads").mkdir()
    (tmp_path / "_uploads" / "upload-id").write_bytes(b"in progress")
    assert blob_files(tmp_path) == [(digest, path)]
