"""`acp-admin gc`: garbage collection against the server's database and blob directory."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from acp.registry.collector import Collected
from acp.server.settings import Settings

if TYPE_CHECKING:
    from acp.db.engine import Database

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class CollectError(Exception):
    """The collection could not run; the message says why."""


class CollectBusy(CollectError):
    """Another collection or a backup holds the blob store; nothing was changed."""


# Longer grace periods would reach back before any registry existed.
_MAX_GRACE = timedelta(days=36500)


def parse_duration(value: str) -> timedelta:
    if value.strip() == "0":
        return timedelta(0)
    found = _DURATION.fullmatch(value.strip())
    if found is None:
        raise CollectError(f"--grace {value!r} is not a duration such as 30m, 24h or 7d")
    seconds = int(found.group(1)) * _UNITS[found.group(2)]
    if seconds > _MAX_GRACE.total_seconds():
        raise CollectError(f"--grace {value!r} is longer than {_MAX_GRACE.days} days")
    return timedelta(seconds=seconds)


async def run_collection(
    settings: Settings, grace: timedelta, dry_run: bool, untagged: bool = False
) -> Collected:
    from acp.admin.database import kind_of, sqlite_path
    from acp.db.engine import Database
    from acp.db.generations import Generations
    from acp.registry.collector import collect
    from acp.storage.base import StorageError
    from acp.storage.filesystem import CollectionBusy, FilesystemBlobStore

    url = settings.effective_database_url
    if not url.startswith(("sqlite+aiosqlite:", "postgresql+asyncpg:")):
        raise CollectError(
            f"--database-url {settings.database_url!r} is neither a SQLite path nor a "
            "postgresql:// URL"
        )
    if kind_of(url) == "sqlite" and not sqlite_path(url).is_file():
        raise CollectError(f"there is no SQLite database at {sqlite_path(url)}; check --data-dir")
    try:
        blob_dir = settings.blob_dir
    except ValueError as exc:
        raise CollectError(str(exc)) from exc
    if not blob_dir.is_dir():
        raise CollectError(f"there is no blob directory at {blob_dir}; check --data-dir")
    # The server's shared generations file, so that its workers drop the manifests they
    # cached when untagged ones are deleted.
    generations = Generations(settings.run_dir / "generations")
    db = Database(url, generations)
    try:
        await _check_they_belong_together(db, blob_dir)
        store = FilesystemBlobStore(blob_dir)
        return await collect(db, store, grace, dry_run=dry_run, untagged=untagged)
    except CollectionBusy as exc:
        raise CollectBusy(str(exc)) from exc
    except StorageError as exc:
        raise CollectError(str(exc)) from exc
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise CollectError(
            f"cannot use the database at {sa.make_url(url).render_as_string(hide_password=True)}"
            f" ({_first_line(exc)}); is it the server's, and has the server started on it once?"
        ) from exc
    finally:
        await db.dispose()
        generations.close()


async def _check_they_belong_together(db: Database, blob_dir: Path) -> None:
    """Against the wrong database every blob would look unreferenced: refuse unless the
    server last ran with this database on this blob directory."""
    from acp.db.bootstrap import installation_id
    from acp.storage.filesystem import installation_of

    async with db.read() as conn:
        ours = await installation_id(conn)
    marked = installation_of(blob_dir)
    if ours is None or marked is None:
        raise CollectError(
            f"no server has run with this database on {blob_dir} yet (or not since an "
            "upgrade): check --data-dir, --storage and --database-url; if they are right, "
            "start acp-server on them once, then collect"
        )
    if marked != ours:
        raise CollectError(
            f"{blob_dir} holds the blobs of another database (installation {marked}; this "
            f"database is installation {ours}): check --database-url, --data-dir and "
            "--storage. Collecting would remove every blob this database does not know."
        )


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
