"""Backups of a running server: the database first, then the blobs it refers to.

Why that order is safe: blobs are immutable and content-addressed, and a manifest is only
accepted once every blob it names has been committed (written, fsynced, renamed). So every
blob the database snapshot refers to is already complete on disk when the copy starts, and
nothing rewrites it. Pushes that finish after the snapshot add blobs and rows the backup
simply does not contain; uploads in progress are not copied at all (their rows are dropped on
restore, and clients start those uploads again). The copy is checked blob by blob against
its digest.

Layout of a backup directory (mode 0700; it holds the token signing keys and password
hashes):

    backup.json                  written last: a backup without it is incomplete
    database/acp.db              SQLite snapshot, or
    database/acp.pgdump          PostgreSQL dump (pg_dump --format=custom)
    blobs/sha256/ab/ab12…        the blobs the snapshot refers to, same layout as the store
    files/tls/…, files/admin-password   local CA and server certificate, bootstrap password
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acp import __version__
from acp.admin import database, files
from acp.server.settings import Settings
from acp.storage import digests
from acp.storage.filesystem import collection_lock

FORMAT = 1
MANIFEST = "backup.json"
# Files of the data directory worth keeping besides the database and the blobs.
DATA_FILES = ("tls", "admin-password")

Log = Callable[[str], None]


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSummary:
    path: str
    database: str
    schema_revision: str
    blobs: int
    blob_bytes: int
    linked: int
    files: list[str]
    seconds: float


def blob_relpath(digest: str) -> Path:
    """Where a blob lives under a blob directory: the filesystem store's layout
    (`FilesystemBlobStore.blob_path`; a unit test keeps the two equal)."""
    algorithm, encoded = digests.parse(digest)
    return Path(algorithm) / encoded[:2] / encoded


def _blob_root(settings: Settings) -> Path:
    try:
        return settings.blob_dir
    except ValueError as exc:
        raise BackupError(
            f"{exc}; back up object storage with its own tools (versioning, replication)"
        ) from exc


def _collection_held_off(blob_root: Path, log: Log) -> contextlib.AbstractContextManager[None]:
    if not blob_root.is_dir():
        return contextlib.nullcontext()
    return collection_lock(
        blob_root,
        exclusive=False,
        on_wait=lambda: log("waiting for the garbage collection in progress to finish"),
    )


def take_backup(
    settings: Settings, dest: Path, *, previous: Path | None = None, log: Log = print
) -> BackupSummary:
    started = time.monotonic()
    blob_root = _blob_root(settings)
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty; give a new directory for each backup")
    if previous is not None and not (previous / MANIFEST).is_file():
        raise BackupError(f"{previous} is not a complete backup (it has no {MANIFEST})")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)
    (dest / "database").mkdir()
    url = settings.effective_database_url

    # Held from the snapshot to the end of the copy: a garbage collection waits, so no blob
    # the snapshot lists is removed before it is copied.
    with _collection_held_off(blob_root, log):
        log(f"snapshotting the {database.kind_of(url)} database")
        if database.kind_of(url) == "sqlite":
            snapshot = database.snapshot_sqlite(url, dest / "database")
        else:
            snapshot = asyncio.run(database.snapshot_postgres(url, dest / "database"))
        files.fsync_dir(dest / "database")

        log(f"copying the {len(snapshot.blobs)} blobs it refers to from {blob_root}")
        total = linked = 0
        problems: list[str] = []
        directories: set[Path] = set()
        for digest, size in snapshot.blobs:
            relative = blob_relpath(digest)
            target = dest / "blobs" / relative
            earlier = previous / "blobs" / relative if previous is not None else None
            try:
                copied, was_linked = files.link_or_copy_blob(
                    earlier, blob_root / relative, target, digest, size
                )
            except files.CopyError as exc:
                problems.append(str(exc))
                continue
            total += copied
            linked += was_linked
            directories.add(target.parent)
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise BackupError(
            f"{len(problems)} blobs the database refers to could not be copied; the backup in "
            f"{dest} is incomplete:\n  {shown}{more}"
        )
    for directory in sorted(directories, reverse=True):
        files.fsync_dir(directory)

    kept: list[str] = []
    for name in DATA_FILES:
        source = settings.data_dir / name
        if source.is_dir():
            kept += [f"{name}/{p}" for p in files.copy_tree(source, dest / "files" / name)]
        elif source.is_file():
            files.copy_file(source, dest / "files" / name)
            kept.append(name)

    summary = BackupSummary(
        path=str(dest),
        database=snapshot.kind,
        schema_revision=snapshot.schema_revision,
        blobs=len(snapshot.blobs),
        blob_bytes=total,
        linked=linked,
        files=kept,
        seconds=round(time.monotonic() - started, 2),
    )
    _write_manifest(dest, snapshot, summary)
    return summary


def _write_manifest(dest: Path, snapshot: database.Snapshot, summary: BackupSummary) -> None:
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "acpVersion": __version__,
        "database": {
            "kind": snapshot.kind,
            "file": f"database/{snapshot.file}",
            "schemaRevision": snapshot.schema_revision,
        },
        "blobs": {"count": summary.blobs, "bytes": summary.blob_bytes},
        "files": summary.files,
    }
    tmp = dest / f".{MANIFEST}.tmp"
    with open(tmp, "w") as handle:
        json.dump(manifest, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, dest / MANIFEST)
    files.fsync_dir(dest)


def read_manifest(backup: Path) -> dict[str, Any]:
    path = backup / MANIFEST
    if not path.is_file():
        raise BackupError(
            f"{backup} is not a complete backup (it has no {MANIFEST}); a backup that stopped "
            "half-way cannot be restored"
        )
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{backup} has backup format {manifest.get('format')!r}; this acp-admin reads "
            f"format {FORMAT}"
        )
    return manifest


def summary_dict(summary: BackupSummary) -> dict[str, Any]:
    return asdict(summary)
