"""buildah with private storage and chroot isolation (no OCI runtime needed)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from tests.support.clients.base import ContainersStorageClient
from tests.support.endpoint import RegistryEndpoint
from tests.support.procs import CommandError, remove_tree, short_tmpdir


class Buildah(ContainersStorageClient):
    binary = "buildah"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.root = self.workdir / "storage"
        self.runroot = short_tmpdir("buildah-")
        self.env["BUILDAH_ISOLATION"] = "chroot"

    def global_args(self) -> list[str]:
        return [
            "--root", str(self.root),
            "--runroot", str(self.runroot),
            "--storage-driver", "overlay",
        ]  # fmt: skip

    def pull(self, source: str, registry: RegistryEndpoint | None = None) -> str:
        """Pull ``source`` (``docker://…`` with ``registry``, or ``docker-archive:PATH``);
        returns the image id. Note: ``oci:PATH`` fails when PATH has upper-case letters."""
        out = self.cli("pull", "--quiet", *self._remote(registry), source)
        return out.stdout.strip().splitlines()[-1]

    def pull_from(self, registry: RegistryEndpoint, ref: str) -> str:
        return self.pull(f"docker://{registry.host}/{ref}", registry)

    def build(
        self,
        context: Path,
        tag: str,
        containerfile: str,
        *,
        registry: RegistryEndpoint | None = None,
        extra: tuple[str, ...] = (),
    ) -> str:
        """``buildah build --isolation chroot`` of ``containerfile`` text; returns the image id."""
        context.mkdir(parents=True, exist_ok=True)
        (context / "Containerfile").write_text(containerfile)
        iidfile = self.workdir / "iid"
        iidfile.unlink(missing_ok=True)
        self.cli(
            "build",
            "--isolation", "chroot",
            "--quiet",
            *self._remote(registry),
            "--iidfile", iidfile,
            "-t", tag,
            "-f", context / "Containerfile",
            *extra,
            context,
        )  # fmt: skip
        return iidfile.read_text().strip()

    def close(self) -> None:
        # Teardown goes on to the unmount even if the client cannot remove containers.
        with contextlib.suppress(CommandError):
            self.cli("rm", "--all", timeout=60)
        remove_tree(self.root)
        remove_tree(self.runroot)
