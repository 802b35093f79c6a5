"""Results: collected samples, the printed table of medians and ratios, and the JSON file."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = 1


@dataclass
class Series:
    """Repeated samples of one metric on one target with one kind of credential."""

    key: str  # stable identifier, e.g. "manifest-get-c64"
    title: str  # what the table shows
    unit: str
    better: str  # "higher" or "lower"
    target: str
    auth: str
    limit: str | None = None  # "upload" or "download" when a physical limit applies
    samples: list[float] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


@dataclass
class Results:
    series: list[Series] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def add(
        self,
        *,
        key: str,
        title: str,
        unit: str,
        better: str,
        target: str,
        auth: str,
        value: float,
        limit: str | None = None,
        **details: Any,
    ) -> None:
        for s in self.series:
            if s.key == key and s.target == target and s.auth == auth:
                break
        else:
            s = Series(key, title, unit, better, target, auth, limit)
            self.series.append(s)
        s.samples.append(value)
        s.details.append(details)

    def error(self, workload: str, target: str, message: str) -> None:
        self.errors.append({"workload": workload, "target": target, "message": message})


# --- table ----------------------------------------------------------------------------------

OURS, DIST, NOAUTH = "ours", "distribution", "distribution-noauth"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _with_limit(s: dict[str, Any] | None, limits: dict[str, Any]) -> str:
    if s is None:
        return "-"
    text = _fmt(s["median"])
    limit = limits.get(f"{s['limit']}_limit_mib_s") if s.get("limit") else None
    if limit and s["median"] is not None:
        text += f" ({s['median'] / limit:.0%})"
    return text


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b or not a["median"] or not b["median"]:
        return "-"
    # Memory growth is judged in absolute terms; a ratio of two small numbers only misleads.
    if a["unit"] == "MiB":
        return "-"
    return f"{a['median'] / b['median']:.2f}"


def table_rows(data: dict[str, Any]) -> list[list[str]]:
    """One row per metric and per credential our server was measured with."""
    limits = data.get("limits") or {}
    by_key: dict[str, dict[str, list[dict[str, Any]]]] = {}
    order: list[str] = []
    for s in data["results"]:
        if s["key"] not in by_key:
            by_key[s["key"]] = {}
            order.append(s["key"])
        by_key[s["key"]].setdefault(s["target"], []).append(s)
    rows = []
    for key in order:
        group = by_key[key]
        dist = group.get(DIST, [None])[0]
        noauth = group.get(NOAUTH, [None])[0]
        first = next(s for series in group.values() for s in series)
        ours_variants: list[dict[str, Any] | None] = list(group.get(OURS, [])) or [None]
        multi = len(ours_variants) > 1
        for ours in ours_variants:
            title = first["title"]
            if multi and ours is not None:
                title += f" [{ours['auth']}]"
            rows.append(
                [
                    title,
                    first["unit"],
                    first["better"],
                    _with_limit(ours, limits),
                    _with_limit(dist, limits),
                    _with_limit(noauth, limits),
                    _ratio(ours, dist),
                    _ratio(ours, noauth),
                ]
            )
    return rows


HEADER = [
    "workload",
    "unit",
    "better",
    "ours",
    "distribution",
    "dist no-auth",
    "ours/dist",
    "ours/no-auth",
]


def render_table(rows: list[list[str]], header: list[str] = HEADER) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    # Text columns flush left, figures flush right.
    lines = []
    for r in [header, *rows]:
        cells = [
            r[i].ljust(widths[i]) if i < 3 else r[i].rjust(widths[i]) for i in range(len(header))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(data: dict[str, Any]) -> str:
    out = []
    meta = data.get("machine", {})
    opts = data.get("options", {})
    out.append(
        f"ACP Registry benchmark, {data.get('started_at', '?')}, {meta.get('cpus', '?')} CPUs, "
        f"load average {meta.get('loadavg_start', '?')} -> {meta.get('loadavg_end', '?')}, "
        f"{opts.get('repetitions', '?')} repetition(s), medians"
    )
    load = str(meta.get("loadavg_start", "")).split()
    if load and meta.get("cpus") and float(load[0]) > 0.5 * meta["cpus"]:
        out.append("  the machine was busy when the run started: expect noisy figures")
    for name, info in data.get("targets", {}).items():
        out.append(f"  {name}: {info.get('version', '?')}")
    limits = data.get("limits")
    if limits:
        out.append(
            "Physical limits (best of several tries):"
            f" sha256 one core {limits['sha256_mib_s']:,.0f} MiB/s,"
            f" write+fsync {limits['write_fsync_mib_s']:,.0f} MiB/s,"
            f" loopback TCP {limits['loopback_mib_s']:,.0f} MiB/s"
        )
        out.append(
            f"  uploads bounded by {limits['upload_bound']} ({limits['upload_limit_mib_s']:,.0f}"
            f" MiB/s), downloads by loopback ({limits['download_limit_mib_s']:,.0f} MiB/s);"
            " (NN%) = fraction of that limit"
        )
    out.append("")
    out.append(render_table(table_rows(data)))
    for err in data.get("errors", []):
        out.append(f"ERROR {err['workload']} on {err['target']}: {err['message']}")
    return "\n".join(out)


# --- files ----------------------------------------------------------------------------------


def to_json(results: Results, **meta: Any) -> dict[str, Any]:
    series = []
    for s in results.series:
        entry = asdict(s)
        entry["median"] = s.median
        series.append(entry)
    return {"schema": SCHEMA, **meta, "results": series, "errors": results.errors}


def write_json(data: dict[str, Any], directory: Path, stamp: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stamp}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: unknown results schema {data.get('schema')!r}")
    return data


def render_comparison(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Medians of two runs side by side, per target and credential."""

    def index(data: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {(s["key"], s["target"], s["auth"]): s for s in data["results"]}

    before, after = index(old), index(new)
    rows = []
    for ident, s in after.items():
        prev = before.get(ident)
        change = "-"
        if prev and prev["median"] and s["median"] is not None:
            change = f"{(s['median'] / prev['median'] - 1):+.0%}"
        rows.append(
            [
                s["title"],
                f"{s['target']} [{s['auth']}]",
                f"{s['unit']}, {s['better']}",
                _fmt(prev["median"]) if prev else "-",
                _fmt(s["median"]),
                change,
            ]
        )
    header = ["workload", "target", "unit", old.get("started_at", "old"), "new", "change"]
    header[4] = new.get("started_at", "new")
    return render_table(rows, header)
