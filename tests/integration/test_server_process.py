"""The acp-server process: TLS, graceful SIGTERM, worker processes, admin bootstrap."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import stat
import time
from pathlib import Path

import httpx

from tests.support.server import RunningServer, free_port


def test_sigterm_drains_in_flight_requests_and_exits_cleanly(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data", free_port()).start()
    body = json.dumps({"username": "admin", "password": server.admin_password}).encode()
    head = (
        f"POST /api/v1/login HTTP/1.1\r\nHost: {server.host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        # The handler starts on the headers and waits for the body: the request is in
        # flight when SIGTERM arrives.
        sock.sendall(head + body[:5])
        _wait_for_in_flight(server, 2)  # the login, and the metrics request asking
        assert server.process is not None
        process = server.process
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        sock.sendall(body[5:])
        response = sock.makefile("rb").readline()
    assert response.startswith(b"HTTP/1.1 201")
    assert process.wait(30) == 0


def _wait_for_in_flight(server: RunningServer, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = httpx.get(f"{server.url}/metrics").text
        for line in text.splitlines():
            if line.startswith("acp_http_requests_in_flight ") and float(line.split()[1]) >= count:
                return
        time.sleep(0.05)
    raise AssertionError("the request never reached its handler")


def test_two_workers_serve_the_same_port_and_stop_together(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data", free_port(), workers=2).start()
    try:
        token = server.login()
        with server.client(token) as c:
            codes = {c.get("/api/v1/whoami").status_code for _ in range(20)}
        assert codes == {200}
    finally:
        assert server.stop(signal.SIGTERM) == 0


def test_self_signed_tls_serves_https_trusted_by_the_generated_ca(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data", free_port(), extra_args=["--tls", "self-signed"])
    # The fixture polls plain HTTP; poll HTTPS here instead.
    server_url = f"https://127.0.0.1:{server.port}"
    server.extra_args.append("--log-format=text")
    import subprocess

    from tests.support.server import SERVER_BIN

    process = subprocess.Popen(
        [
            str(SERVER_BIN),
            "--listen",
            server.host,
            "--data-dir",
            str(server.data_dir),
            "--tls",
            "self-signed",
        ],
        env={"ACP_ADMIN_PASSWORD": server.admin_password, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ca = server.data_dir / "tls" / "ca.crt"
        deadline = time.monotonic() + 30
        while True:
            try:
                if (
                    ca.exists()
                    and httpx.get(
                        f"{server_url}/healthz", verify=ssl.create_default_context(cafile=str(ca))
                    ).is_success
                ):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start with TLS"
            time.sleep(0.1)
        login = httpx.post(
            f"{server_url}/api/v1/login",
            json={"username": "admin", "password": server.admin_password},
            verify=ssl.create_default_context(cafile=str(ca)),
        )
        assert login.status_code == 201
        # Without the CA the certificate is refused: no silent fallback to plain trust.
        try:
            httpx.get(f"{server_url}/healthz")
            raise AssertionError("an untrusted certificate was accepted")
        except httpx.ConnectError:
            pass
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert "clients must trust the CA" in out
    assert "/etc/containers/certs.d/" in out


def test_generated_admin_password_is_printed_once_and_saved_privately(tmp_path: Path) -> None:
    import subprocess

    from tests.support.server import SERVER_BIN

    data = tmp_path / "data"
    port = free_port()

    def run_once() -> str:
        process = subprocess.Popen(
            [str(SERVER_BIN), "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
            env={"PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
        return out

    first = run_once()
    saved = data / "admin-password"
    password = saved.read_text().strip()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert password in first
    second = run_once()
    assert password not in second
