"""Durable file copies for backups: a temporary name, fsync, rename, then the directory's
fsync; blobs are hashed on the way so that a copy is known to hold what its name says."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from acp.storage import digests

READ_BYTES = 1024 * 1024


class CopyError(Exception):
    """A file could not be copied, or its content is not what its digest says."""


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_blob(src: Path, dst: Path, digest: str, size: int | None = None) -> int:
    """Copy blob `digest` from `src` to `dst`, checking its size and digest; returns the size.

    The caller fsyncs `dst`'s directory once it has copied everything into it.
    """
    algorithm, encoded = digests.parse(digest)
    hasher = hashlib.new(algorithm)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(dst)
    copied = 0
    try:
        with open(src, "rb") as reader, open(tmp, "wb") as writer:
            while chunk := reader.read(READ_BYTES):
                hasher.update(chunk)
                writer.write(chunk)
                copied += len(chunk)
            writer.flush()
            os.fsync(writer.fileno())
    except FileNotFoundError as exc:
        tmp.unlink(missing_ok=True)
        raise CopyError(f"blob {digest} is missing: {src} does not exist") from exc
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CopyError(f"cannot copy blob {digest} from {src}: {exc.strerror}") from exc
    if hasher.hexdigest() != encoded or (size is not None and copied != size):
        tmp.unlink(missing_ok=True)
        raise CopyError(
            f"blob {digest} at {src} is corrupt: {copied} bytes with digest "
            f"{algorithm}:{hasher.hexdigest()}"
        )
    os.replace(tmp, dst)
    return copied


def link_or_copy_blob(
    previous: Path | None, src: Path, dst: Path, digest: str, size: int | None
) -> tuple[int, bool]:
    """Hard-link the blob from a previous backup when it is there with the right size (it was
    verified when that backup was made), else copy it. Returns (size, linked)."""
    if previous is not None:
        try:
            if size is None or previous.stat().st_size == size:
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(previous, dst)
                return previous.stat().st_size, True
        except OSError:
            pass  # not there, or another filesystem: copy instead
    return copy_blob(src, dst, digest, size), False


def copy_file(src: Path, dst: Path) -> None:
    """Copy a small file, keeping its mode (keys stay readable only by their owner)."""
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = _tmp_name(dst)
    shutil.copyfile(src, tmp)
    os.chmod(tmp, src.stat().st_mode & 0o777)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, dst)


def copy_tree(src: Path, dst: Path) -> list[str]:
    """Copy the regular files under `src` (a small directory such as `tls/`); returns their
    paths relative to `src`."""
    copied = []
    for path in sorted(src.rglob("*")):
        if path.is_file() and not path.is_symlink():
            relative = path.relative_to(src)
            copy_file(path, dst / relative)
            copied.append(str(relative))
    for directory in {dst, *(p.parent for p in dst.rglob("*"))}:
        fsync_dir(directory)
    return copied


def blob_files(root: Path) -> list[tuple[str, Path]]:
    """(digest, path) of every blob file under a blob directory laid out as
    `<algorithm>/<2 hex>/<hex>`; temporary and upload files are skipped."""
    found = []
    for algorithm_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if algorithm_dir.name.startswith(("_", ".")):
            continue
        for path in sorted(algorithm_dir.glob("*/*")):
            if path.name.startswith(".") or not path.is_file():
                continue
            digest = f"{algorithm_dir.name}:{path.name}"
            try:
                digests.parse(digest)
            except digests.DigestError:
                continue
            found.append((digest, path))
    return found
