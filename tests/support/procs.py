"""Subprocess, daemon and mount helpers shared by the client drivers."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STDERR_TAIL = 4000


class CommandError(RuntimeError):
    """A client command failed; the message carries its exit status and output."""

    def __init__(self, argv: Sequence[str], returncode: int | None, stdout: str, stderr: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        status = "timed out" if returncode is None else f"exited with status {returncode}"
        out = stderr.strip() or stdout.strip() or "(no output)"
        super().__init__(f"{shlex.join(self.argv)} {status}:\n{out[-STDERR_TAIL:]}")


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str
    raw_stdout: bytes  # undecoded, for byte-exact manifests


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
    check: bool = True,
) -> Result:
    """Run a command, capturing output; raise CommandError with its stderr on failure."""
    args = [os.fspath(a) for a in argv]
    try:
        proc = subprocess.run(
            args,
            env=dict(env) if env is not None else None,
            input=input.encode() if input is not None else None,
            cwd=cwd,
            capture_output=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandError(args, None, _text(exc.stdout), _text(exc.stderr)) from exc
    result = Result(proc.returncode, _text(proc.stdout), _text(proc.stderr), proc.stdout)
    if check and proc.returncode != 0:
        raise CommandError(args, proc.returncode, result.stdout, result.stderr)
    return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed (tests/support/install-clients.sh)")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def short_tmpdir(prefix: str) -> Path:
    """A short directory under /tmp: unix socket paths must stay below 108 bytes."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def private_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment whose HOME and XDG dirs are private, so no client reads or
    writes the user's global configuration."""
    for sub in ("config", "data", "cache", "run", "tmp"):
        (home / f".{sub}").mkdir(parents=True, exist_ok=True)
    (home / ".run").chmod(0o700)
    env = {
        "PATH": os.environ.get(
            "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".data"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(home / ".run"),
        "TMPDIR": str(home / ".tmp"),
        "LANG": "C.UTF-8",
    }
    env.update(extra)
    return env


class Daemon:
    """A background process in its own process group, with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [os.fspath(a) for a in argv]
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )

    def log_tail(self, limit: int = STDERR_TAIL) -> str:
        try:
            return self.log.read_text(errors="replace")[-limit:]
        except FileNotFoundError:
            return ""

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with status {self.proc.returncode}:\n{self.log_tail()}"
            )

    def wait_ready(self, check: Callable[[], bool], *, timeout: float = 30) -> None:
        def ready() -> bool:
            self.check_alive()
            return check()

        try:
            wait_until(ready, timeout=timeout, what=f"{self.name} to start")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tail()}") from None

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the daemon's process group, then SIGKILL what is left."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        # Children (containerd-shim, conmon …) may outlive the leader.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first."""
    root = Path(os.path.realpath(root))
    found: list[Path] = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = Path(_unescape_mount(line.split()[4]))
            if point == root or root in point.parents:
                found.append(point)
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _unescape_mount(field: str) -> str:
    # mountinfo escapes blanks, tabs, newlines and backslashes as octal.
    return field.encode().decode("unicode_escape")


def unmount_all(root: Path) -> None:
    """Unmount everything under ``root``; storage roots of podman, buildah and dockerd
    keep overlay and bind mounts that make a plain rm -rf fail."""
    for _ in range(3):
        points = mounts_under(root)
        if not points:
            return
        for point in points:
            if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(point)], capture_output=True)


def remove_tree(path: Path) -> None:
    if not path.exists():
        return
    unmount_all(path)
    shutil.rmtree(path, ignore_errors=True)
