"""What `acp-server` prints at start-up: the URL, where the admin password is, and next
commands that work when pasted as printed (plain HTTP and `--tls=self-signed`)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.procs import private_env, remove_tree, short_tmpdir
from tests.support.server import SERVER_BIN, free_port

PASSWORD = "start-up-password"


def _start(data: Path, port: int, *extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start the server with `ac` not on PATH; return it and its start-up lines."""
    process = subprocess.Popen(
        [str(SERVER_BIN), "--listen", f"127.0.0.1:{port}", "--data-dir", str(data), *extra],
        env={"PATH": "/usr/bin:/bin", "ACP_ADMIN_PASSWORD": PASSWORD},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while not lines or not lines[-1].startswith("Then push"):
        line = process.stdout.readline()
        assert line, f"the server stopped: {lines}"
        lines.append(line.rstrip("\n"))
        assert time.monotonic() < deadline
    return process, lines


def _next_commands(lines: list[str]) -> list[list[str]]:
    start = lines.index("Next, in another terminal:")
    return [shlex.split(line) for line in lines[start + 1 : start + 4]]


@pytest.mark.parametrize("tls", [False, True], ids=["http", "self-signed"])
def test_the_printed_next_commands_work(tmp_path: Path, tls: bool) -> None:
    port = free_port()
    process, lines = _start(tmp_path / "data", port, *(["--tls=self-signed"] if tls else []))
    try:
        scheme = "https" if tls else "http"
        assert lines[0].endswith(f"listening on {scheme}://127.0.0.1:{port}")
        assert "Admin user: admin; password from ACP_ADMIN_PASSWORD" in lines
        login, create, oci_login = _next_commands(lines)
        # `ac` is not on the server's PATH: the message names the one installed beside it.
        assert Path(login[0]).is_absolute()
        assert Path(login[0]).name == "ac"
        home = tmp_path / "home"
        env = {
            **private_env(home),
            "KUBECONFIG": str(home / "kubeconfig"),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }

        def run(argv: list[str], stdin: str = "") -> None:
            done = subprocess.run(
                argv, input=stdin, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"{shlex.join(argv)}: {done.stdout}{done.stderr}"

        run([*login, "-p", PASSWORD])
        run(create)
        assert oci_login[:2] == ["podman", "login"]
        assert oci_login[-2:] == ["-u", "admin"]
        if tls:
            cert_dir = Path(oci_login[oci_login.index("--cert-dir") + 1])
            assert [p.name for p in cert_dir.iterdir()] == ["ca.crt"]
        else:
            assert "--tls-verify=false" in oci_login
        if shutil.which("podman") is None:
            pytest.skip("podman is not installed")
        # Private storage, so that podman leaves the machine's own alone.
        storage = tmp_path / "storage.conf"
        runroot = short_tmpdir("startup-")
        storage.write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path / "root"}"\nrunroot = "{runroot}"\n'
        )
        env["CONTAINERS_STORAGE_CONF"] = str(storage)
        authfile = tmp_path / "auth.json"
        try:
            run([*oci_login, "--authfile", str(authfile), "--password-stdin"], PASSWORD + "\n")
        finally:
            remove_tree(runroot)
        assert f"127.0.0.1:{port}" in authfile.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_a_restart_says_where_the_generated_password_is(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    for start in range(2):
        process = subprocess.Popen(
            [str(SERVER_BIN), "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
            env={"PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        out = [process.stdout.readline() for _ in range(3)]
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        if start == 0:
            assert out[1].startswith("Created user 'admin' with password: ")
        else:
            assert (
                out[1].strip()
                == f"Admin user: admin; its first password is in {data}/admin-password"
            )
