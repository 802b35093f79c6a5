"""docs/quickstart.md works as printed: its ```bash blocks run in order against a server of
their own, with podman confined to private storage and configuration."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.doc_examples import script
from tests.support.fixtures import require, require_binaries
from tests.support.procs import private_env, remove_tree, short_tmpdir
from tests.support.server import running_server

pytestmark = pytest.mark.clients

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = (
    '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\nruntime = "runc"\n'
)


def test_quickstart_page_examples(tmp_path: Path) -> None:
    require_binaries("podman", "runc")
    require("busybox-static", Path("/bin/busybox").is_file())
    work = tmp_path / "clone"  # stands for the clone the page is followed in
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (work / "examples").symlink_to(ROOT / "examples")
    runroot = short_tmpdir("quickstart-")
    conf = tmp_path / "containers"
    conf.mkdir()
    (conf / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{tmp_path / "storage"}"\n'
        f'runroot = "{runroot}"\n'
    )
    (conf / "containers.conf").write_text(CONTAINERS_CONF)
    (conf / "registries.conf").write_text("unqualified-search-registries = []\n")
    (tmp_path / "auth.json").write_text("{}")
    try:
        with running_server(tmp_path) as server:
            replacements = [("http://127.0.0.1:5000", server.url), ("127.0.0.1:5000", server.host)]
            push = shlex.join([sys.executable, "-m", "tests.support.doc_examples"])
            body = script(ROOT / "docs" / "quickstart.md", replacements, push)
            (tmp_path / "quickstart.sh").write_text(body)
            env = {
                **private_env(tmp_path / "home"),
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "KUBECONFIG": str(tmp_path / "home" / "kubeconfig"),
                "AC_LOGIN_PASSWORD": server.admin_password,  # what `ac login` prompts for
                "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf"),
                "CONTAINERS_CONF": str(conf / "containers.conf"),
                "CONTAINERS_REGISTRIES_CONF": str(conf / "registries.conf"),
                "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
            }
            done = subprocess.run(
                ["bash", str(tmp_path / "quickstart.sh")],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
                start_new_session=True,
            )
            assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
            assert "busybox" in done.stdout
            assert "tag my-ns/busybox:v1 deleted" in done.stdout
    finally:
        remove_tree(tmp_path / "storage")
        remove_tree(runroot)
