"""Run the real `ac` console script as a subprocess, with a private HOME and KUBECONFIG."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.server import RunningServer

AC_BIN = Path(sys.executable).with_name("ac")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


@dataclass
class Ac:
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return Path(self.env["KUBECONFIG"])

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        done = subprocess.run(
            [str(AC_BIN), *args],
            input=input,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=120,
            check=False,
            # No controlling terminal: hidden prompts read stdin, as in CI.
            start_new_session=True,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, **kwargs: str | dict[str, str] | None) -> Result:
        """Run and insist on success; the failure message shows what `ac` said."""
        result = self(*args, **kwargs)  # type: ignore[arg-type]
        assert result.code == 0, f"ac {' '.join(args)} failed ({result.code}): {result.err}"
        return result

    def fails(self, *args: str, **kwargs: str | dict[str, str] | None) -> Result:
        """Run and insist on a failure explained in one line on stderr."""
        result = self(*args, **kwargs)  # type: ignore[arg-type]
        assert result.code != 0, f"ac {' '.join(args)} unexpectedly succeeded: {result.out}"
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got: {result.err}"
        assert lines[0].startswith("error: "), result.err
        return result

    def login(
        self, server: RunningServer, user: str = "admin", password: str = "", *extra: str
    ) -> Result:
        return self.ok(
            "login", server.url, "-u", user, "-p", password or server.admin_password, *extra
        )


def make_ac(tmp_path: Path) -> Ac:
    home = tmp_path / f"home-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR")}
    env = {
        **keep,
        "HOME": str(home),
        "KUBECONFIG": str(home / ".kube" / "config"),
        # Never pick up the machine's own ServiceAccount, if any.
        "AC_SERVICEACCOUNT_DIR": str(home / "no-serviceaccount"),
    }
    return Ac(home, env)


@pytest.fixture
def ac(tmp_path: Path) -> Ac:
    """`ac` with an empty HOME and kubeconfig; not logged in."""
    return make_ac(tmp_path)


@pytest.fixture
def admin_ac(ac: Ac, acp_server: RunningServer) -> Ac:
    """`ac` logged in as admin."""
    ac.login(acp_server)
    return ac
