"""The benchmark harness end to end against the real acp-server and CNCF Distribution, at
tiny sizes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.support.server import SERVER_BIN

from bench import run

TOOLS = ("docker-registry", "htpasswd", "wrk", "ab", "skopeo")

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(
        any(shutil.which(tool) is None for tool in TOOLS),
        reason="needs docker-registry, apache2-utils, wrk and skopeo",
    ),
]


def test_quick_run_measures_both_registries(tmp_path: Path) -> None:
    results = tmp_path / "results"
    code = run.main(
        [
            "--quick",
            "--targets=ours,distribution,distribution-noauth",
            f"--ours-cmd={SERVER_BIN}",
            "--blob-size=4",
            "--chunk-size=1",
            "--image-size=3",
            "--tags=12",
            "--repositories=12",
            "--concurrency=1,4",
            "--duration=1",
            f"--results-dir={results}",
            f"--workdir={tmp_path}",
        ]
    )
    assert code == 0
    [path] = results.glob("*.json")
    data = json.loads(path.read_text())
    assert data["errors"] == []
    measured = {(s["key"], s["target"], s["auth"]) for s in data["results"]}
    # Our server is measured with both credentials a client may hold.
    assert ("manifest-get-c4", "ours", "basic") in measured
    assert ("manifest-head-c4", "ours", "bearer") in measured
    assert ("manifest-get-c4", "distribution-noauth", "none") in measured
    for key in ("upload-monolithic", "upload-chunked", "download", "catalog", "skopeo-pull"):
        assert (key, "ours", "basic") in measured or (key, "ours", "client default") in measured
        assert any(k == key and t == "distribution" for k, t, _ in measured)
    assert data["limits"]["upload_limit_mib_s"] > 0
    # The saved file renders again, with the ratio column filled in.
    table = run.report.render(data)
    assert "ours/dist" in table
    assert "manifest GET by tag, 4 conn [bearer]" in table


def test_unrunnable_server_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "acp-server"
    broken.write_text("#!/bin/sh\necho 'cannot import acp.server.main' >&2\nexit 1\n")
    broken.chmod(0o755)
    code = run.main(
        [
            "--quick",
            "--targets=ours",
            f"--ours-cmd={broken}",
            f"--results-dir={tmp_path}",
            f"--workdir={tmp_path}",  # kept on failure, for the log
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "exited with status 1 before it was ready" in err
    assert "cannot import acp.server.main" in err
