"""`examples/seed-walkthrough.sh` runs green over plain HTTP and over `--tls=self-signed`,
where every client trusts the generated CA and no insecure flag is used."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.fixtures import require, require_binaries

pytestmark = pytest.mark.clients

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "seed-walkthrough.sh"
INSECURE = re.compile(r"tls-verify=false|insecure-skip-tls-verify|--insecure(\s|$)")


@pytest.mark.parametrize("mode", ["http", "tls"])
def test_the_walkthrough_runs_end_to_end(mode: str) -> None:
    require_binaries("podman", "skopeo", "runc")
    require("busybox-static", Path("/bin/busybox").is_file())
    args = ["--tls"] if mode == "tls" else []
    done = subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "LANG": "C.UTF-8"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "The walkthrough passed" in done.stdout
    for expected in (
        "ok: bob's push is refused",
        "ok: the ServiceAccount pulled sha256:",
        "ok: my-app:latest still serves sha256:",
        "hello from Linux busybox",
    ):
        assert expected in done.stdout, expected
    commands = [line for line in output.splitlines() if line.startswith("$ ")]
    if mode == "tls":
        assert "https://" in done.stdout
        assert not [c for c in commands if INSECURE.search(c)], "an insecure flag was used"
        assert any("--cert-dir" in c for c in commands)
        assert any("--certificate-authority" in c for c in commands)
    else:
        assert any("--tls-verify=false" in c for c in commands)
    # Nothing is left behind in /tmp.
    work = re.search(r"/tmp/acp-walkthrough-[0-9a-f]+", output)
    assert work is not None
    assert not Path(work.group(0)).exists()
