"""`acp-admin set-password`: a lost password is set while the server runs; the user's
sessions end, the server accepts the new password at once, and the change is audited."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import RunningServer

ADMIN_BIN = Path(sys.executable).with_name("acp-admin")


def test_set_password_of_a_running_server(acp_server: RunningServer, admin_token: str) -> None:
    acp_server.create_user("carol", "carol-password-1", admin_token)
    old_session = acp_server.login("carol", "carol-password-1")
    args = [str(ADMIN_BIN), "set-password", "carol", "--password-stdin"]
    args += ["--data-dir", str(acp_server.data_dir)]
    if acp_server.database_url:
        args += ["--database-url", acp_server.database_url]
    done = subprocess.run(
        args, input="carol-password-2\n", capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "sessions have ended" in done.stdout

    with acp_server.client(old_session) as c:
        assert c.get("/api/v1/whoami").status_code == 401
    acp_server.login("carol", "carol-password-2")
    wrong = httpx.post(
        f"{acp_server.url}/api/v1/login",
        json={"username": "carol", "password": "carol-password-1"},
    )
    assert wrong.status_code == 401
    with acp_server.client(admin_token) as c:
        events = c.get(
            "/api/v1/audit", params={"action": "user.password", "actor": "acp-admin"}
        ).json()["items"]
    assert [e["name"] for e in events] == ["carol"]

    unknown = subprocess.run(
        [*args[:2], "nobody", *args[3:]],
        input="whatever-password\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unknown.returncode == 1
    assert "not found" in unknown.stderr
