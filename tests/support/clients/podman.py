"""podman with private storage; pushes report their digest through --digestfile
because podman re-compresses layers."""

from __future__ import annotations

import contextlib
from pathlib import Path

from tests.support.clients.base import ContainersStorageClient
from tests.support.endpoint import RegistryEndpoint
from tests.support.procs import CommandError, remove_tree, short_tmpdir

STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}"
runroot = "{runroot}"
"""
# runc, cgroupfs and no event log are what work on these machines (crun does not).
CONTAINERS_CONF = """\
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
runtime = "runc"
"""
# podman run needs explicit limits here; the default nofile/nproc inheritance fails.
RUN_ARGS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "none")


class Podman(ContainersStorageClient):
    binary = "podman"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.root = self.workdir / "storage"
        self.runroot = short_tmpdir("podman-")
        self.tmpdir = self.workdir / "tmp"
        self.tmpdir.mkdir(exist_ok=True)
        conf = self.workdir / "containers"
        (conf / "storage.conf").write_text(
            STORAGE_CONF.format(root=self.root, runroot=self.runroot)
        )
        (conf / "containers.conf").write_text(CONTAINERS_CONF)
        self.env.update(
            CONTAINERS_STORAGE_CONF=str(conf / "storage.conf"),
            CONTAINERS_CONF=str(conf / "containers.conf"),
        )

    def global_args(self) -> list[str]:
        return [
            "--root", str(self.root),
            "--runroot", str(self.runroot),
            "--tmpdir", str(self.tmpdir),
            "--storage-driver", "overlay",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "none",
            "--runtime", "runc",
        ]  # fmt: skip

    def pull(self, registry: RegistryEndpoint, ref: str) -> str:
        """Pull ``registry``/``ref``; returns the local image id."""
        out = self.cli("pull", "--quiet", *self._remote(registry), f"{registry.host}/{ref}")
        return out.stdout.strip().splitlines()[-1]

    def load(self, archive: Path) -> str:
        """``podman load`` a docker-archive or oci-archive tar; returns its output."""
        return self.cli("load", "--signature-policy", str(self.policy), "-i", archive).stdout

    def tag(self, image: str, new_name: str) -> None:
        self.cli("tag", image, new_name)

    def image_digest(self, image: str) -> str:
        return self.cli("image", "inspect", "--format", "{{.Digest}}", image).stdout.strip()

    def run_container(self, image: str, *command: str, extra: tuple[str, ...] = ()) -> str:
        """``podman run --rm IMAGE COMMAND…`` with the flags that work here; returns stdout."""
        return self.cli("run", "--rm", *RUN_ARGS, *extra, image, *command).stdout

    def close(self) -> None:
        """Remove containers, then unmount and delete storage."""
        with contextlib.suppress(CommandError):
            self.cli("rm", "--all", "--force", timeout=60)
        remove_tree(self.root)
        remove_tree(self.runroot)
