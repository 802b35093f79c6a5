"""`ac get auditevents`: the platform's audit log (platform administrators)."""

from __future__ import annotations

import json
from typing import Any

import click

from acp.cli import printers
from acp.cli.commands.common import examples, output_option, state
from acp.cli.errors import CliError
from acp.cli.http import HttpError

PAGE = 1000


@click.command(
    "auditevents",
    epilog=examples(
        "ac get auditevents",
        "ac get auditevents --since=7d --action='rolebinding.*' -n my-ns",
        "ac get auditevents --actor=alice --since=2024-05-01T00:00:00Z -o json",
        "ac get auditevents --outcome=denied --action=login",
    ),
)
@click.option(
    "--since",
    default="24h",
    show_default=True,
    metavar="TIME",
    help="Events from this RFC 3339 time, or this long ago (90s, 15m, 2h, 7d).",
)
@click.option("--until", default="", metavar="TIME", help="Events before this time.")
@click.option("--actor", default="", help="Only events of this user or ServiceAccount.")
@click.option(
    "--action",
    default="",
    help="Only this action (login, rolebinding.create, registry.tag.delete …); "
    "a trailing * matches a prefix.",
)
@click.option("-n", "--namespace", default="", metavar="NS", help="Only events in this namespace.")
@click.option("--cluster", default="", help="Only events of this cluster.")
@click.option(
    "--outcome", type=click.Choice(["success", "denied"]), default=None, help="Only this outcome."
)
@click.option(
    "--limit",
    type=click.IntRange(1, None),
    default=None,
    help="At most this many events (default: all in the time range).",
)
@output_option("wide", "yaml", "json")
def get_audit_events(
    since: str,
    until: str,
    actor: str,
    action: str,
    namespace: str,
    cluster: str,
    outcome: str | None,
    limit: int | None,
    output: str | None,
) -> None:
    """Show the audit log: logins, permission changes and deletes, oldest first (platform
    administrators)."""
    params: dict[str, str | int] = {
        key: value
        for key, value in (
            ("since", since),
            ("until", until),
            ("actor", actor),
            ("action", action),
            ("namespace", namespace),
            ("cluster", cluster),
            ("outcome", outcome or ""),
        )
        if value
    }
    events = _fetch(params, limit)
    if output in ("json", "yaml"):
        printers.emit(
            {"apiVersion": "audit.acp.io/v1", "kind": "AuditEventList", "items": events}, output
        )
        return
    if not events:
        click.echo("No audit events found.", err=True)
        return
    wide = output == "wide"
    headers = ["TIME", "ACTOR", "ACTION", "NAMESPACE", "NAME", "OUTCOME"]
    if wide:
        headers += ["CLUSTER", "REQUEST ID", "DETAILS"]
    rows = []
    for event in events:
        row = [
            str(event.get("time", ""))[:19].replace("T", " "),
            str(event.get("actor", "")),
            str(event.get("action", "")),
            str(event.get("namespace", "")) or "-",
            str(event.get("name", "")) or "-",
            str(event.get("outcome", "")),
        ]
        if wide:
            details = event.get("details") or {}
            row += [
                str(event.get("cluster", "")) or "-",
                str(event.get("requestId", "")) or "-",
                json.dumps(details, separators=(",", ":")) if details else "-",
            ]
        rows.append(row)
    click.echo(printers.table(headers, rows))


def _fetch(params: dict[str, str | int], limit: int | None) -> list[dict[str, Any]]:
    api = state().target().platform()
    events: list[dict[str, Any]] = []
    while limit is None or len(events) < limit:
        page = PAGE if limit is None else min(PAGE, limit - len(events))
        try:
            body = api.get("/api/v1/audit", params={**params, "limit": page})
        except HttpError as exc:
            if exc.status == 403:
                raise CliError(
                    f"{exc.message}; ask a platform administrator for the audit log"
                ) from exc
            raise
        events.extend(body.get("items") or ())
        token = body.get("continue")
        if not token:
            break
        params = {**params, "continue": token}
    return events
