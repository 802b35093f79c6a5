"""Resident memory of a server process and its children (worker processes), from /proc."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses; fields start after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak(pids: list[int]) -> None:
    """Reset VmHWM so that it reports the peak of the coming transfer (Linux >= 4.0)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class MemoryReport:
    baseline_mib: float
    peak_mib: float

    @property
    def growth_mib(self) -> float:
        return max(0.0, self.peak_mib - self.baseline_mib)


class RssSampler:
    """Samples the summed VmRSS of a process tree in a thread while a transfer runs.

    The peak is the larger of the highest sample and the sum of every process's VmHWM, so a
    spike shorter than the sampling interval is still counted (for several workers the sum of
    their peaks is an upper bound).
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pids: list[int] = []
        self._baseline = 0
        self._peak = 0

    def _sum(self, field: str) -> int:
        return sum(_status_kib(pid, field) for pid in self._pids)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self._sum("VmRSS"))

    def __enter__(self) -> RssSampler:
        self._pids = process_tree(self.pid)
        reset_peak(self._pids)
        self._baseline = self._sum("VmRSS")
        self._peak = self._baseline
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._sum("VmRSS"), self._sum("VmHWM"))

    def report(self) -> MemoryReport:
        return MemoryReport(self._baseline / 1024, self._peak / 1024)
