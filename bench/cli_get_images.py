"""`ac get images` over 10,000 tags in 50 namespaces, end to end (issue 4's target: under
2 s wall on this machine).

Starts a real acp-server, writes the image metadata straight into its database (pushing
10,000 tags through an OCI client would measure the push, not the listing), logs in with the
real `ac`, and times the real `ac get images` process from exec to exit: start-up, every
page request, rendering and printing.

    python bench/cli_get_images.py [--database sqlite|postgres] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.support.seed import Image, Seeder  # noqa: E402
from tests.support.server import running_server  # noqa: E402

AC = Path(sys.executable).with_name("ac")
TARGET_SECONDS = 2.0


def seed(seeder: Seeder, namespaces: int, repositories: int, tags: int, user: str) -> int:
    images = []
    for n in range(namespaces):
        ns = f"bench-{n:03d}"
        seeder.namespace(ns)
        seeder.bind(ns, "system:image-puller", user=user)
        images += [
            Image(ns, f"app-{r:02d}", f"v{t:03d}", content=f"{ns}/{r}/{t % 5}")
            for r in range(repositories)
            for t in range(tags)
        ]
    seeder.images(images)
    return len(images)


def time_runs(args: list[str], env: dict[str, str], runs: int) -> tuple[list[float], int]:
    """Wall seconds of each run, and the output lines of the last one."""
    seconds = []
    lines = 0
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([str(AC), *args], env=env, capture_output=True, check=True)
        seconds.append(time.perf_counter() - start)
        lines = done.stdout.count(b"\n")
    return seconds, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--repositories", type=int, default=10, help="per namespace")
    parser.add_argument("--tags", type=int, default=20, help="per repository")
    parser.add_argument("--json", type=Path, help="also write the results here")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="acp-bench-cli-") as tmp:
        tmp_path = Path(tmp)
        with running_server(tmp_path, database=opts.database) as server:
            user, password = "bench-reader", "bench-reader-password"
            server.create_user(user, password, server.login())
            seeder = Seeder(server)
            try:
                total = seed(seeder, opts.namespaces, opts.repositories, opts.tags, user)
            finally:
                seeder.close()
            results = []
            for who, secret in (("admin", server.admin_password), (user, password)):
                home = tmp_path / f"home-{who}"
                home.mkdir()
                env = {
                    "PATH": os.environ.get("PATH", ""),
                    "HOME": str(home),
                    "KUBECONFIG": str(home / "kubeconfig"),
                    "AC_SERVICEACCOUNT_DIR": str(home / "none"),
                }
                login = ["login", server.url, "-u", who, "-p", secret]
                subprocess.run([str(AC), *login], env=env, capture_output=True, check=True)
                for output in ("table", "json"):
                    seconds, lines = time_runs(["get", "images", "-o", output], env, opts.runs)
                    results.append(
                        {
                            "caller": "cluster-admin"
                            if who == "admin"
                            else "bound in 50 namespaces",
                            "output": output,
                            "tags": total,
                            "lines": lines,
                            "median_s": round(statistics.median(seconds), 3),
                            "best_s": round(min(seconds), 3),
                            "runs": [round(s, 3) for s in seconds],
                        }
                    )
    print(f"ac get images, {total} tags in {opts.namespaces} namespaces, {opts.database}:")
    print(f"{'caller':<24} {'output':<6} {'median':>8} {'best':>8}  target < {TARGET_SECONDS} s")
    for row in results:
        verdict = "ok" if row["median_s"] < TARGET_SECONDS else "SLOW"
        print(
            f"{row['caller']:<24} {row['output']:<6} {row['median_s']:>7.3f}s "
            f"{row['best_s']:>7.3f}s  {verdict}"
        )
    if opts.json:
        payload = {
            "benchmark": "cli_get_images",
            "when": datetime.now(UTC).isoformat(),
            "database": opts.database,
            "results": results,
        }
        opts.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if all(r["median_s"] < TARGET_SECONDS for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
