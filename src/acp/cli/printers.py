"""Output: aligned tables for people, JSON and YAML for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click

from acp.cli.errors import UsageError

COLUMN_GAP = "   "


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, like kubectl; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append(COLUMN_GAP.join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def pairs(rows: Sequence[Sequence[str]]) -> str:
    """`Label:   value` lines with the values aligned."""
    width = max((len(label) for label, _ in rows), default=0) + 1
    return "\n".join(f"{label + ':':<{width}}  {value}" for label, value in rows)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=4, ensure_ascii=False)


def to_yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True))


def emit(data: Any, output: str) -> None:
    """Print `data` as `-o json` or `-o yaml`."""
    if output == "json":
        click.echo(to_json(data))
    elif output == "yaml":
        click.echo(to_yaml(data), nl=False)
    else:
        raise UsageError(f"unknown output format {output!r}")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def age(timestamp: str, now: datetime | None = None) -> str:
    """Compact age of an RFC 3339 time: 45s, 12m, 5h, 3d, 2y."""
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return "<unknown>"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 0:
        return "0s"
    for limit, size, unit in (
        (120, 1, "s"),
        (120 * 60, 60, "m"),
        (48 * 3600, 3600, "h"),
        (2 * 365 * 86400, 86400, "d"),
    ):
        if seconds < limit:
            return f"{seconds // size}{unit}"
    return f"{seconds // (365 * 86400)}y"


def short_digest(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:12]}" if hex_part else digest
