"""The registries under test: our acp-server and CNCF Distribution, each started on loopback.

Everything a workload needs from a target is here: its address, the credentials a real client
would use, and the process to sample for memory. To follow a change in how acp-server starts or
authenticates, edit `OursTarget` only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from .client import Connection, basic_auth, fetch_bearer

HOST = "127.0.0.1"
NAMESPACE = "bench"
REPO_ROOT = Path(__file__).resolve().parent.parent

TARGET_NAMES = ("ours", "distribution", "distribution-noauth")


class TargetError(RuntimeError):
    """A registry could not be started or prepared."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:]) or "    (empty log)"


class Target:
    """A registry process plus how to talk to it."""

    name: str
    label: str
    #: Authorization schemes the manifest workloads measure, first one is the default.
    auth_schemes: tuple[str, ...]
    #: True for the instance without authentication (request-rate reference only).
    reference_only: bool = False

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir / self.name
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "server.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.username = ""
        self.password = ""

    @property
    def host(self) -> str:
        return HOST

    @property
    def registry(self) -> str:
        """host:port as OCI clients write it in image references."""
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def repo(self, name: str) -> str:
        return f"{NAMESPACE}/{name}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def prepare(self) -> None:
        """Write configuration before the process starts."""

    def after_ready(self) -> None:
        """Create what the workloads assume exists (namespaces and the like)."""

    def is_ready(self) -> bool:
        raise NotImplementedError

    def config(self) -> dict[str, object]:
        return {}

    def start(self, timeout: float) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.prepare()
        cmd = self.command()
        with self.log_path.open("wb") as log:
            try:
                # A process group of its own: the server and its workers stop together.
                self.proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.environment(),
                    cwd=self.workdir,
                    start_new_session=True,
                )
            except OSError as exc:
                raise TargetError(f"{self.label}: cannot run {cmd[0]}: {exc}") from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise TargetError(
                    f"{self.label} exited with status {code} before it was ready.\n"
                    f"  command: {' '.join(cmd)}\n  last lines of {self.log_path}:\n"
                    + log_tail(self.log_path)
                )
            try:
                if self.is_ready():
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise TargetError(
                f"{self.label} did not become ready within {timeout:.0f} s.\n"
                f"  last lines of {self.log_path}:\n" + log_tail(self.log_path)
            )
        self.after_ready()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass

    def authorization(self, scheme: str, scopes: list[str]) -> str | None:
        """The Authorization header value a client using `scheme` sends."""
        if scheme == "none":
            return None
        if scheme == "basic":
            return basic_auth(self.username, self.password)
        if scheme == "bearer":
            token = fetch_bearer(HOST, self.port, basic_auth(self.username, self.password), scopes)
            return f"Bearer {token}"
        raise ValueError(f"unknown auth scheme {scheme!r}")

    def connect(self, scheme: str | None = None, scopes: list[str] | None = None) -> Connection:
        scheme = scheme or self.auth_schemes[0]
        return Connection(HOST, self.port, self.authorization(scheme, scopes or []))


class DistributionTarget(Target):
    """CNCF Distribution 2.8 (Debian's docker-registry) with filesystem storage."""

    name = "distribution"
    label = "Distribution (htpasswd)"
    auth_schemes = ("basic",)
    binary = "docker-registry"

    def __init__(self, workdir: Path, *, htpasswd: bool = True) -> None:
        if not htpasswd:
            self.name = "distribution-noauth"
            self.label = "Distribution (no auth)"
            self.auth_schemes = ("none",)
            self.reference_only = True
        super().__init__(workdir)
        self.htpasswd = htpasswd
        self.config_path = self.workdir / "config.yml"

    def _binary(self) -> str:
        path = shutil.which(self.binary)
        if not path:
            raise TargetError(
                f"{self.label}: `{self.binary}` not found; install it with "
                "`apt-get install docker-registry`"
            )
        return path

    def command(self) -> list[str]:
        return [self._binary(), "serve", str(self.config_path)]

    def version(self) -> str:
        out = subprocess.run(
            [self._binary(), "--version"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip()

    def prepare(self) -> None:
        auth = ""
        if self.htpasswd:
            self.username, self.password = "bench", secrets.token_urlsafe(16)
            htpasswd = shutil.which("htpasswd")
            if not htpasswd:
                raise TargetError("htpasswd not found; `apt-get install apache2-utils` provides it")
            # bcrypt, as `htpasswd -B` writes it: Distribution only accepts bcrypt entries.
            entry = subprocess.run(
                [htpasswd, "-Bbn", self.username, self.password],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            (self.workdir / "htpasswd").write_text(entry + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: bench\n    path: {self.workdir / 'htpasswd'}\n"
        # The packaged /etc/docker/registry/config.yml, moved to loopback and our directories.
        self.config_path.write_text(
            "version: 0.1\n"
            "log:\n  fields:\n    service: registry\n"
            "storage:\n"
            "  cache:\n    blobdescriptor: inmemory\n"
            f"  filesystem:\n    rootdirectory: {self.data_dir}\n"
            "  delete:\n    enabled: true\n"
            "http:\n"
            f"  addr: {HOST}:{self.port}\n"
            f"  secret: {secrets.token_hex(16)}\n"
            "  headers:\n    X-Content-Type-Options: [nosniff]\n" + auth
        )

    def is_ready(self) -> bool:
        with Connection(HOST, self.port, timeout=2) as conn:
            return conn.request("GET", "/v2/", auth=False).status in (200, 401)

    def config(self) -> dict[str, object]:
        return {
            "storage": "filesystem",
            "cache": "blobdescriptor inmemory",
            "delete": True,
            "auth": "htpasswd (bcrypt)" if self.htpasswd else "none",
            "log": "default (info, access log on) to server.log",
        }


class OursTarget(Target):
    """acp-server: `--listen`, `--data-dir`, admin password from ACP_ADMIN_PASSWORD."""

    name = "ours"
    label = "ACP Registry"
    # Basic first: the like-for-like comparison with Distribution's htpasswd.
    auth_schemes = ("basic", "bearer")

    def __init__(self, workdir: Path, *, server_cmd: str | None, workers: int | None) -> None:
        super().__init__(workdir)
        self.server_cmd = server_cmd
        self.workers = workers
        self.username = "admin"
        self.password = secrets.token_urlsafe(16)

    def _executable(self) -> str:
        if self.server_cmd:
            found = shutil.which(self.server_cmd)
            if not found:
                raise TargetError(f"--ours-cmd {self.server_cmd!r} is not an executable")
            return found
        found = shutil.which("acp-server")
        if found:
            return found
        venv = REPO_ROOT / ".venv" / "bin" / "acp-server"
        if venv.exists():
            return str(venv)
        raise TargetError(
            "acp-server not found on PATH or in "
            f"{venv.parent}; install it with `python3 -m venv .venv && "
            ".venv/bin/pip install -e '.[server]'` or pass --ours-cmd PATH "
            "(or leave it out with --targets distribution)"
        )

    def command(self) -> list[str]:
        cmd = [
            self._executable(),
            "--listen",
            f"{HOST}:{self.port}",
            "--data-dir",
            str(self.data_dir),
        ]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        return cmd

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ACP_ADMIN_PASSWORD"] = self.password
        return env

    def version(self) -> str:
        try:
            out = subprocess.run(
                [self._executable(), "--version"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired, TargetError):
            return "unknown"
        return out.stdout.strip() if out.returncode == 0 else "unknown"

    def is_ready(self) -> bool:
        with Connection(HOST, self.port, timeout=2) as conn:
            return conn.request("GET", "/healthz", auth=False).status == 200

    def after_ready(self) -> None:
        body = json.dumps(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        ).encode()
        with Connection(HOST, self.port, basic_auth(self.username, self.password)) as conn:
            resp = conn.request(
                "POST",
                "/kubernetes/global/api/v1/namespaces",
                body,
                {"Content-Type": "application/json"},
            )
        if resp.status not in (200, 201, 409):
            raise TargetError(
                f"{self.label}: creating namespace {NAMESPACE!r} failed with HTTP {resp.status}: "
                + resp.body[:300].decode("utf-8", "replace")
            )

    def config(self) -> dict[str, object]:
        return {
            "workers": self.workers or "server default",
            "storage": "filesystem + SQLite in the data dir (defaults)",
            "user": "admin (bootstrap, cluster-admin)",
        }


def make_targets(
    names: list[str], workdir: Path, *, ours_cmd: str | None, ours_workers: int | None
) -> list[Target]:
    targets: list[Target] = []
    for name in names:
        if name == "ours":
            targets.append(OursTarget(workdir, server_cmd=ours_cmd, workers=ours_workers))
        elif name == "distribution":
            targets.append(DistributionTarget(workdir))
        elif name == "distribution-noauth":
            targets.append(DistributionTarget(workdir, htpasswd=False))
        else:
            raise ValueError(f"unknown target {name!r}; choose from {', '.join(TARGET_NAMES)}")
    return targets
