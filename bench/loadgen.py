"""Keep-alive load generators: wrk for GET, ApacheBench for HEAD.

wrk 4.1 waits for a body after a HEAD response that carries Content-Length (as a manifest HEAD
must), so it never completes a HEAD request; `ab -k -i` handles HEAD correctly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field


class LoadError(RuntimeError):
    """The load generator failed or saw errors; the figure would be meaningless."""


@dataclass
class LoadResult:
    requests_per_s: float
    requests: int
    tool: str
    latency_ms: dict[str, float] = field(default_factory=dict)


def require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise LoadError(f"`{tool}` not found; install it with `apt-get install {package}`")
    return path


def _run(cmd: list[str], timeout: float) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise LoadError(f"{cmd[0]} exited with {proc.returncode}: {proc.stderr.strip()[:500]}")
    return proc.stdout


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise LoadError(f"cannot read wrk latency {value!r}")
    return float(match[1]) * _UNIT_MS[match[2]]


def parse_wrk(output: str) -> LoadResult:
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    if not rate or not total:
        raise LoadError(f"unexpected wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        raise LoadError(f"wrk: {bad[1]} of {total[1]} responses were errors")
    errors = re.search(r"Socket errors: (.*)", output)
    if errors and int(total[1]) == 0:
        raise LoadError(f"wrk: no request completed ({errors[1]})")
    latency = {
        f"p{pct}": _wrk_ms(value)
        for pct, value in re.findall(r"^\s+(50|90|99)(?:\.000)?%\s+(\S+)", output, re.M)
    }
    return LoadResult(float(rate[1]), int(total[1]), "wrk", latency)


def run_wrk(
    url: str, headers: dict[str, str], connections: int, duration: float, method: str = "GET"
) -> LoadResult:
    if method != "GET":
        raise ValueError("wrk is only used for GET")
    cmd = [
        require("wrk", "wrk"),
        f"-t{min(connections, 2)}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    return parse_wrk(_run(cmd, timeout=duration + 30))


def parse_ab(output: str) -> LoadResult:
    def field_value(name: str) -> str | None:
        match = re.search(rf"^{name}:\s+([\d.]+)", output, re.M)
        return match[1] if match else None

    rate, complete = field_value("Requests per second"), field_value("Complete requests")
    if rate is None or complete is None:
        raise LoadError(f"unexpected ab output:\n{output}")
    failed = int(field_value("Failed requests") or 0)
    non2xx = int(field_value("Non-2xx responses") or 0)
    if failed or non2xx:
        raise LoadError(f"ab: {failed} failed and {non2xx} non-2xx of {complete} requests")
    keepalive = int(field_value("Keep-Alive requests") or 0)
    # ab opens a new connection whenever the server does not keep one alive: not comparable.
    if keepalive < int(complete) * 0.99:
        raise LoadError(f"ab: only {keepalive} of {complete} requests used keep-alive")
    latency = {
        f"p{pct}": float(ms) for pct, ms in re.findall(r"^\s+(50|90|99)%\s+(\d+)", output, re.M)
    }
    return LoadResult(float(rate), int(complete), "ab", latency)


def run_ab(
    url: str, headers: dict[str, str], connections: int, duration: float, method: str = "HEAD"
) -> LoadResult:
    if method != "HEAD":
        raise ValueError("ab is only used for HEAD")
    cmd = [require("ab", "apache2-utils"), "-q", "-k", "-i", f"-c{connections}"]
    # -t implies -n 50000; a later -n lifts that cap (ab preallocates one record per request).
    cmd += [f"-t{max(1, round(duration))}", "-n1000000"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    return parse_ab(_run(cmd, timeout=duration + 30))


def run_load(
    method: str, url: str, headers: dict[str, str], connections: int, duration: float
) -> LoadResult:
    runner = run_wrk if method == "GET" else run_ab
    return runner(url, headers, connections, duration, method)
