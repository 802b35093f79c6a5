"""Start real `acp-server` processes for tests: free ports, private data dirs, SQLite or a
fresh PostgreSQL database each."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ADMIN_PASSWORD = "admin-test-password"
POSTGRES_ADMIN_URL = os.environ.get("ACP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
SERVER_BIN = Path(sys.executable).with_name("acp-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    import asyncio

    import asyncpg

    name = f"acp_test_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL + "/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES_ADMIN_URL}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class RunningServer:
    data_dir: Path
    port: int
    database_url: str = ""
    workers: int = 1
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    admin_password: str = ADMIN_PASSWORD
    # Serve HTTPS with this certificate (kubectl sends credentials over HTTPS only), issued
    # by the CA in `tls_ca`, which clients trust.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def host(self) -> str:
        """host:port, as OCI clients name the registry."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What HTTP clients verify the server with: its own certificate under TLS."""
        return ssl.create_default_context(cafile=self.tls_ca) if self.tls_ca else True

    # --- process control ---------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> RunningServer:
        args = [
            str(SERVER_BIN),
            "--listen",
            self.host,
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(self.workers),
            *self.extra_args,
        ]
        if self.database_url:
            args += ["--database-url", self.database_url]
        if self.tls_cert and self.tls_key:
            args += ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]
        env = {**os.environ, "ACP_ADMIN_PASSWORD": self.admin_password, **self.env}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        self.process = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"acp-server exited early:\n{self.log_tail()}")
            try:
                ready = httpx.get(f"{self.url}/healthz", timeout=1, verify=self.verify)
                if ready.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"acp-server did not become ready:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill9(self) -> None:
        """SIGKILL the server and every worker it forked."""
        if self.process is None:
            return
        pid = self.process.pid
        children = _children(pid)
        for p in [pid, *children]:
            with suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def restart(self) -> RunningServer:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # --- HTTP helpers ------------------------------------------------------------------------

    def login(self, username: str = "admin", password: str | None = None) -> str:
        if password is None:
            password = self.admin_password
        response = httpx.post(
            f"{self.url}/api/v1/login",
            json={"username": username, "password": password},
            verify=self.verify,
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def send_raw(self, request: bytes) -> bytes:
        """Send bytes exactly as written on a new connection; everything that comes back."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as connection:
            connection.sendall(request)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        return answer

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs.setdefault("verify", self.verify)
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def create_user(self, username: str, password: str, admin_token: str) -> None:
        with self.client(admin_token) as c:
            r = c.post("/api/v1/users", json={"username": username, "password": password})
            assert r.status_code == 201, r.text


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(
            ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
        ).stdout
    except FileNotFoundError:
        return []
    return [int(p) for p in out.split()]


@contextmanager
def running_server(
    tmp_path: Path, database: str = "sqlite", **kwargs: Any
) -> Iterator[RunningServer]:
    """A started server on a free port; `database` is "sqlite" or "postgres"."""
    data_dir = tmp_path / f"acp-{uuid.uuid4().hex[:8]}"
    if database == "postgres":
        with postgres_database() as url:
            server = RunningServer(data_dir, free_port(), database_url=url, **kwargs)
            try:
                yield server.start()
            finally:
                server.stop()
    else:
        server = RunningServer(data_dir, free_port(), **kwargs)
        try:
            yield server.start()
        finally:
            server.stop()
