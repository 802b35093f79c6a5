"""`acp-admin`: back up a running ACP Registry, restore it elsewhere, reset a password.

It reads the same `--data-dir`, `--database-url` and `--storage` (and `ACP_*` variables) as
`acp-server`, so the server's environment works unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from acp import __version__

F = TypeVar("F", bound=Callable[..., Any])


def _server_options(func: F) -> F:
    options = [
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("acp-data"),
            show_default=True,
            envvar="ACP_DATA_DIR",
            show_envvar=True,
            help="The server's data directory.",
        ),
        click.option(
            "--database-url",
            default="",
            envvar="ACP_DATABASE_URL",
            show_envvar=True,
            help="SQLite path or postgresql://user@host/db (default: DATA_DIR/acp.db).",
        ),
        click.option(
            "--storage",
            default="",
            envvar="ACP_STORAGE",
            show_envvar=True,
            help="Blob storage directory (default: DATA_DIR/blobs).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(data_dir: Path, database_url: str, storage: str) -> Any:
    from acp.server.settings import Settings

    return Settings(data_dir=data_dir.resolve(), database_url=database_url, storage=storage)


def _progress(message: str) -> None:
    click.echo(f"acp-admin: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="acp-admin")
@click.option(
    "--log-format",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    envvar="ACP_LOG_FORMAT",
    show_envvar=True,
    help="Log lines on stderr (audit records of what a command changed), as the server's.",
)
def main(log_format: str) -> None:
    """Operator commands for ACP Registry: consistent backups of a running server, restores
    into a new data directory, garbage collection, and setting a lost password."""
    from acp.server import logs

    # Audit records reach log shippers as the server's do, not only the audit table.
    logs.configure(log_format)


@main.command(
    epilog="\b\nExamples:\n"
    "  acp-admin backup --data-dir /var/lib/acp --to /backups/acp-$(date +%F)\n"
    "  acp-admin backup --data-dir /var/lib/acp --database-url postgresql://acp@db/acp \\\n"
    "      --to /backups/acp-$(date +%F) --link-dest /backups/acp-yesterday"
)
@_server_options
@click.option(
    "--to",
    "dest",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new (or empty) directory for the backup.",
)
@click.option(
    "--link-dest",
    "previous",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A previous backup on the same filesystem: blobs it holds are hard-linked, not copied.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def backup(
    data_dir: Path,
    database_url: str,
    storage: str,
    dest: Path,
    previous: Path | None,
    as_json: bool,
) -> None:
    """Back up the database and the blobs while the server runs: a consistent snapshot of
    the database first, then every blob it refers to, each checked against its digest."""
    import shutil

    from acp.admin.backup import BackupError, take_backup
    from acp.admin.database import DatabaseError

    fresh = not dest.exists()
    try:
        summary = take_backup(
            _settings(data_dir, database_url, storage),
            dest.resolve(),
            previous=previous.resolve() if previous else None,
            log=_progress,
        )
    except (BackupError, DatabaseError) as exc:
        if fresh:  # a failed backup is of no use: leave the name free for the next try
            shutil.rmtree(dest, ignore_errors=True)
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(asdict(summary), indent=2))
        return
    linked = f" ({summary.linked} hard-linked from {previous})" if summary.linked else ""
    click.echo(
        f"Backup complete in {summary.path}: {summary.database} database (schema "
        f"{summary.schema_revision}), {summary.blobs} blobs, {summary.blob_bytes} bytes"
        f"{linked}, {summary.seconds} s."
    )


@main.command(
    epilog="\b\nExamples:\n"
    "  acp-admin restore --from /backups/acp-2024-05-01 --data-dir /var/lib/acp-restored\n"
    "  createdb acp_restored && acp-admin restore --from /backups/acp-2024-05-01 \\\n"
    "      --data-dir /var/lib/acp-restored --database-url postgresql://acp@db/acp_restored"
)
@_server_options
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The backup directory.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def restore(data_dir: Path, database_url: str, storage: str, source: Path, as_json: bool) -> None:
    """Restore a backup into a new data directory (and a new, empty PostgreSQL database when
    --database-url names one). Start acp-server on it afterwards."""
    from acp.admin.backup import BackupError
    from acp.admin.database import DatabaseError
    from acp.admin.restore import restore_backup

    try:
        summary = restore_backup(
            source.resolve(), _settings(data_dir, database_url, storage), log=_progress
        )
    except (BackupError, DatabaseError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(asdict(summary), indent=2))
        return
    import sys

    # The acp-server installed beside this acp-admin, which may not be on PATH.
    server = Path(sys.executable).with_name("acp-server")
    start = f"{server if server.exists() else 'acp-server'} --data-dir {summary.data_dir}"
    if database_url:
        start += " --database-url URL"
    if storage:
        start += f" --storage {storage}"
    # Beside the original on this host, the default address would clash with it.
    start += " --listen HOST:PORT"
    dropped = (
        f"; {summary.uploads_dropped} unfinished uploads dropped (clients retry them)"
        if summary.uploads_dropped
        else ""
    )
    click.echo(
        f"Restored {summary.blobs} blobs ({summary.blob_bytes} bytes) and the "
        f"{summary.database} database into {summary.data_dir} in {summary.seconds} s"
        f"{dropped}.\nStart the server with: {start}"
    )


@main.command(
    "gc",
    epilog="\b\nExamples:\n"
    "  acp-admin gc --data-dir /var/lib/acp --dry-run\n"
    "  acp-admin gc --data-dir /var/lib/acp --grace 48h\n"
    "  acp-admin gc --data-dir /var/lib/acp --untagged --dry-run\n"
    "\n"
    "Exit status: 0 done, 1 error, 2 command-line mistake, 3 another collection or a\n"
    "backup is running (nothing was changed: try again later).",
)
@_server_options
@click.option(
    "--grace",
    default="24h",
    show_default=True,
    help="Keep anything linked, committed or pushed more recently than this (s, m, h or d; "
    "0 for nothing), so that pushes in progress keep the layers they uploaded before their "
    "manifest. Blob files committed in the last 10 minutes always stay.",
)
@click.option(
    "--untagged",
    is_flag=True,
    help="Also delete manifests no tag reaches (not tagged, not in a tagged index, not a "
    "referrer of a kept manifest) and pushed before the grace period, so that deleting tags "
    "frees their layers. Without it, untagged manifests stay pullable by digest.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def gc(
    data_dir: Path,
    database_url: str,
    storage: str,
    grace: str,
    untagged: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Reclaim the space of deleted images while the server runs: remove repository links
    to blobs that no manifest of the repository refers to, then blob content that no
    repository links."""
    import asyncio

    from acp.admin.collect import CollectBusy, CollectError, parse_duration, run_collection

    try:
        grace_period = parse_duration(grace)
    except CollectError as exc:
        raise click.BadParameter(str(exc), param_hint="--grace") from exc
    try:
        result = asyncio.run(
            run_collection(
                _settings(data_dir, database_url, storage), grace_period, dry_run, untagged
            )
        )
    except CollectBusy as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(3) from exc
    except CollectError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2))
        return
    verb = "Would remove" if dry_run else "Removed"
    manifests = f"{_count(result.manifests, 'untagged manifest')}, " if untagged else ""
    click.echo(
        f"{verb} {manifests}{_count(result.links, 'repository link')}, "
        f"{_count(result.blobs, 'blob record')} and {_count(result.files, 'blob file')} "
        f"({result.bytes} bytes)."
    )
    if result.restored:
        click.echo(
            f"Put back {_count(result.restored, 'blob file')} an interrupted collection had "
            "set aside."
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@main.command(
    "set-password",
    epilog="\b\nExamples:\n"
    "  acp-admin set-password admin --data-dir /var/lib/acp\n"
    "  printf '%s' \"$NEW_PASSWORD\" | acp-admin set-password admin --password-stdin",
)
@_server_options
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def set_password(
    data_dir: Path, database_url: str, storage: str, username: str, password_stdin: bool
) -> None:
    """Set a user's password directly in the database (a lost admin password). The user's
    sessions end; a server running on this host notices at once. Audited as done by
    `acp-admin`."""
    import asyncio
    import sys

    from acp.admin.accounts import set_password as store

    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    else:
        password = click.prompt(
            f"New password for {username}", hide_input=True, confirmation_prompt=True
        )
    message = asyncio.run(store(_settings(data_dir, database_url, storage), username, password))
    if message:
        raise click.ClickException(message)
    click.echo(f"Password of {username!r} changed; their sessions have ended.")


if __name__ == "__main__":
    main()
