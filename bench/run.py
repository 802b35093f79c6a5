"""`python -m bench`: start the registries, measure, print the table, write the JSON file."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import limits as limits_mod
from . import loadgen, report
from .data import BlobFile
from .targets import REPO_ROOT, TARGET_NAMES, Target, TargetError, make_targets
from .workloads import MIB, WORKLOADS, Context, Options

RESULTS_DIR = REPO_ROOT / "bench" / "results"


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    names = [w.name for w in WORKLOADS]
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark ACP Registry against CNCF Distribution on this machine.",
        epilog="Workloads: " + ", ".join(names) + ". Targets: " + ", ".join(TARGET_NAMES) + ".",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repetition")
    parser.add_argument("--targets", type=_csv, default=list(TARGET_NAMES), help="comma list")
    parser.add_argument("--workloads", type=_csv, default=names, help="comma list to run")
    parser.add_argument("--skip", type=_csv, default=[], help="comma list of workloads to skip")
    parser.add_argument("--repetitions", type=int, help="repetitions per workload (default 3)")
    parser.add_argument("--blob-size", type=int, metavar="MiB", help="blob size (default 1024)")
    parser.add_argument("--chunk-size", type=int, metavar="MiB", help="PATCH size (default 16)")
    parser.add_argument("--image-size", type=int, metavar="MiB", help="skopeo image (default 200)")
    parser.add_argument("--tags", type=int, help="tags in the tags/list repo (default 1000)")
    parser.add_argument("--repositories", type=int, help="repos for _catalog (default 1000)")
    parser.add_argument("--duration", type=float, help="seconds per load run (default 2)")
    parser.add_argument(
        "--concurrency",
        type=lambda v: tuple(int(x) for x in _csv(v)),
        help="manifest connections (default 1,16,64)",
    )
    parser.add_argument(
        "--ours-auth",
        choices=("basic", "bearer"),
        default="basic",
        help="credential for our server outside the manifest workloads (default basic)",
    )
    parser.add_argument("--ours-cmd", help="acp-server executable (default: PATH, then .venv)")
    parser.add_argument("--ours-workers", type=int, help="--workers for acp-server")
    parser.add_argument("--start-timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--no-limits", action="store_true", help="skip the physical limits")
    parser.add_argument(
        "--workdir", type=Path, help="where to create the scratch directory (default: $TMPDIR)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--show", type=Path, metavar="FILE", help="print a saved result")
    parser.add_argument(
        "--compare", type=Path, nargs=2, metavar=("OLD", "NEW"), help="compare two results"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.workloads + args.skip) - set(names))
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    bad_targets = sorted(set(args.targets) - set(TARGET_NAMES))
    if bad_targets:
        parser.error(f"unknown target(s) {', '.join(bad_targets)}")
    return args


def build_options(args: argparse.Namespace) -> Options:
    opts = Options()
    if args.quick:
        opts = Options(
            repetitions=1,
            blob_size=64 * MIB,
            image_size=24 * MIB,
            tags=100,
            repositories=100,
            pushes=20,
            duration=1.0,
        )
    overrides: dict[str, Any] = {
        "repetitions": args.repetitions,
        "blob_size": args.blob_size and args.blob_size * MIB,
        "chunk_size": args.chunk_size and args.chunk_size * MIB,
        "image_size": args.image_size and args.image_size * MIB,
        "tags": args.tags,
        "repositories": args.repositories,
        "duration": args.duration,
        "concurrencies": args.concurrency,
    }
    for name, value in overrides.items():
        if value:
            setattr(opts, name, value)
    opts.ours_auth = args.ours_auth
    return opts


def preflight(workloads: list[str]) -> None:
    """Fail before starting anything when a tool a selected workload needs is missing."""
    needs = {
        "manifest": [("wrk", "wrk"), ("ab", "apache2-utils")],
        "tags-list": [("wrk", "wrk")],
        "catalog": [("wrk", "wrk")],
        "skopeo": [("skopeo", "skopeo")],
    }
    for workload in workloads:
        for tool, package in needs.get(workload, []):
            loadgen.require(tool, package)


def machine_info() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": _loadavg(),
    }


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False
        )
        return out.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def start_targets(targets: list[Target], timeout: float) -> None:
    for target in targets:
        print(f"starting {target.label} ...", file=sys.stderr, flush=True)
        target.start(timeout)
        print(f"  {target.label} ready on {target.registry}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.show:
        print(report.render(report.load_json(args.show)))
        return 0
    if args.compare:
        old, new = (report.load_json(p) for p in args.compare)
        print(report.render_comparison(old, new))
        return 0

    opts = build_options(args)
    selected = [w for w in WORKLOADS if w.name in args.workloads and w.name not in args.skip]
    try:
        preflight([w.name for w in selected])
    except loadgen.LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    # Always a new directory of our own, even under --workdir: it is removed at the end.
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="acp-bench-", dir=args.workdir))
    meta: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "options": {**vars(opts), "workloads": [w.name for w in selected]},
        "machine": machine_info(),
        "git": git_info(),
    }
    targets: list[Target] = []
    results = report.Results()
    ctx = Context(opts=opts, workdir=workdir, results=results)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    try:
        targets = make_targets(
            args.targets, workdir, ours_cmd=args.ours_cmd, ours_workers=args.ours_workers
        )
        start_targets(targets, args.start_timeout)
        meta["targets"] = {
            t.name: {"label": t.label, "version": t.version(), "config": t.config()}
            for t in targets
        }
        if any(w.needs_blob for w in selected) or not args.no_limits:
            ctx.log(f"writing a {opts.blob_size // MIB} MiB random test blob ...")
            ctx.blob = BlobFile(workdir / "blob.bin", opts.blob_size)
            ctx.download_buf = memoryview(bytearray(opts.blob_size))
        if not args.no_limits:
            assert ctx.blob is not None
            assert ctx.download_buf is not None
            ctx.log("measuring physical limits ...")
            limits = limits_mod.measure(
                targets[0].data_dir, ctx.blob.path, ctx.blob.size, ctx.download_buf
            )
            meta["limits"] = limits.as_dict()
        for workload in selected:
            chosen = [t for t in targets if workload.on_noauth or not t.reference_only]
            if not chosen:
                continue
            ctx.log(f"[{workload.name}] {workload.describe(opts)}")
            begin = time.perf_counter()
            workload.run(ctx, chosen)
            timings[workload.name] = round(time.perf_counter() - begin, 1)
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if "ours" in args.targets:
            print(
                "  (to measure Distribution alone: --targets distribution,distribution-noauth)",
                file=sys.stderr,
            )
        args.keep = True  # the server log named above stays readable
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for target in targets:
            target.stop()
        if ctx.blob:
            ctx.blob.close()
        if args.keep:
            print(f"scratch directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    meta["machine"]["loadavg_end"] = _loadavg()
    meta["seconds"] = {"total": round(time.perf_counter() - clock, 1), **timings}
    data = report.to_json(results, **meta)
    path = report.write_json(data, args.results_dir, stamp)
    print(report.render(data))
    print(f"\nresults: {path} ({meta['seconds']['total']:.0f} s)")
    return 1 if results.errors else 0
