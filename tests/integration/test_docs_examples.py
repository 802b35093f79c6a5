"""The examples of docs/cli.md work as printed: every ```bash block runs, in order, against
a fresh server (SQLite)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.support.doc_examples import script
from tests.support.server import running_server

ROOT = Path(__file__).resolve().parents[2]


def test_cli_page_examples(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        home = tmp_path / "home"
        home.mkdir()
        session = f"127.0.0.1-{server.port}"
        replacements = [
            ("use-session acp.example.com", f"use-session {session}"),
            ("https://acp.example.com", server.url),
            ("acp.example.com", server.host),
        ]
        push = shlex.join(
            [sys.executable, "-m", "tests.support.doc_examples", server.url, server.admin_password]
        )
        body = script(ROOT / "docs" / "cli.md", replacements, push)
        (tmp_path / "cli.sh").write_text(body)
        env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home),
            "KUBECONFIG": str(home / ".kube" / "config"),
            "PYTHONPATH": str(ROOT),
            # What the first `ac login` would prompt for.
            "AC_LOGIN_PASSWORD": server.admin_password,
            "LANG": "C.UTF-8",
        }
        done = subprocess.run(
            ["bash", str(tmp_path / "cli.sh")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            start_new_session=True,
        )
        assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        # Spot checks of what the page says the commands print.
        assert "my-ns/my-app:latest" in done.stdout
        assert "tag my-ns/my-app:v1 would be deleted" in done.stdout
        assert "other tags on that digest stay: latest" in done.stdout
        assert "rolebinding.create" in done.stdout
