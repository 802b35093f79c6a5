"""containerd's ``ctr`` (the resolver nerdctl uses) against a private containerd."""

from __future__ import annotations

from pathlib import Path

from tests.support.clients.base import CliClient
from tests.support.endpoint import RegistryEndpoint
from tests.support.procs import Daemon, remove_tree, require_binary, run, short_tmpdir

# The CRI plugin would try to set up Kubernetes networking; the other disabled
# plugins only log errors on this kernel.
CONFIG = """\
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"""


class Containerd:
    """A containerd with its own root, state and a short socket path under /tmp."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.root = self.workdir / "root"
        self.rundir = short_tmpdir("ctrd-")
        self.address = str(self.rundir / "c.sock")
        self.daemon: Daemon | None = None

    def start(self) -> Containerd:
        binary = require_binary("containerd")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.toml"
        config.write_text(
            CONFIG.format(root=self.root, state=self.rundir / "state", sock=self.address)
        )
        self.daemon = Daemon(
            "containerd", [binary, "--config", config], log=self.workdir / "containerd.log"
        )
        self.daemon.wait_ready(self._answers, timeout=30)
        return self

    def _answers(self) -> bool:
        if not Path(self.address).exists():
            return False
        return run(["ctr", "--address", self.address, "version"], check=False).returncode == 0

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None

    def close(self) -> None:
        self.stop()
        remove_tree(self.root)
        remove_tree(self.rundir)


class Ctr(CliClient):
    """``ctr images`` operations; credentials go on each command with ``--user``."""

    binary = "ctr"

    def __init__(self, workdir: Path, containerd: Containerd, namespace: str = "acp-tests") -> None:
        super().__init__(workdir)
        self.containerd = containerd
        self.namespace = namespace
        self._creds: dict[str, tuple[str, str]] = {}

    def global_args(self) -> list[str]:
        return ["--address", self.containerd.address, "--namespace", self.namespace]

    def login(
        self, registry: RegistryEndpoint, user: str | None = None, password: str | None = None
    ) -> None:
        """ctr has no login; remember the credentials for later pushes and pulls."""
        self._creds[registry.host] = self.credentials(registry, user, password)

    def logout(self, registry: RegistryEndpoint) -> None:
        self._creds.pop(registry.host, None)

    def _remote(self, registry: RegistryEndpoint) -> list[str]:
        args = ["--plain-http"] if registry.plain_http else []
        if registry.ca_file is not None:
            args += ["--tlscacert", str(registry.ca_file)]
        if registry.host in self._creds:
            user, password = self._creds[registry.host]
            args += ["--user", f"{user}:{password}"]
        return args

    def import_archive(
        self, archive: Path, *, base_name: str, all_platforms: bool = False
    ) -> dict[str, str]:
        """``ctr images import`` an OCI or docker archive; images are named
        ``base_name:TAG`` after the tags in the archive. Returns name -> digest."""
        args = ["images", "import", "--base-name", base_name]
        if all_platforms:
            args.append("--all-platforms")
        self.cli(*args, archive)
        return {k: v for k, v in self.images().items() if k.startswith(base_name)}

    def push(
        self,
        registry: RegistryEndpoint,
        ref: str,
        *,
        local: str | None = None,
        platform: str | None = None,
    ) -> str:
        """Push local image ``local`` (default: the same full name) to
        ``registry``/``ref``; returns the digest of what was pushed."""
        remote = f"{registry.host}/{ref}"
        local = local or remote
        plat = ["--platform", platform] if platform else []
        self.cli("images", "push", *self._remote(registry), *plat, remote, local)
        return self.image_digest(local)

    def pull(self, registry: RegistryEndpoint, ref: str, *, all_platforms: bool = False) -> str:
        """Pull ``registry``/``ref``; returns the digest of the pulled image."""
        remote = f"{registry.host}/{ref}"
        extra = ["--all-platforms"] if all_platforms else []
        self.cli("images", "pull", *self._remote(registry), *extra, remote)
        return self.image_digest(remote)

    def images(self) -> dict[str, str]:
        """Local image name -> manifest (or index) digest."""
        lines = self.cli("images", "ls").stdout.splitlines()[1:]
        return {cols[0]: cols[2] for cols in (line.split() for line in lines) if len(cols) > 2}

    def image_digest(self, name: str) -> str:
        try:
            return self.images()[name]
        except KeyError:
            raise AssertionError(f"ctr has no image {name}") from None

    def remove(self, *names: str) -> None:
        if names:
            self.cli("images", "rm", *names)

    def forget_all(self) -> None:
        """Remove every image and blob, so the next pull really transfers
        (``images rm`` alone leaves the content store populated)."""
        self.remove(*self.images())
        blobs = self.cli("content", "ls", "--quiet").stdout.split()
        if blobs:
            self.cli("content", "rm", *blobs)
