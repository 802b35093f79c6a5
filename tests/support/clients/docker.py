"""A private dockerd (Debian's docker.io, unpacked, not installed) and the docker CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from tests.support.clients.base import CliClient
from tests.support.endpoint import RegistryEndpoint
from tests.support.procs import Daemon, private_env, remove_tree, run, short_tmpdir

# Loopback registries are plain HTTP; dockerd already trusts 127.0.0.0/8 but say so.
DEFAULT_INSECURE = ("127.0.0.0/8",)
DIGEST_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})", re.IGNORECASE)


def docker_dist_dir() -> Path:
    """Where install-clients.sh unpacked docker.io (``ACP_TESTS_DOCKER_DIR`` overrides)."""
    if "ACP_TESTS_DOCKER_DIR" in os.environ:
        return Path(os.environ["ACP_TESTS_DOCKER_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "acp-tests" / "docker"


def find_dockerd() -> Path | None:
    path = docker_dist_dir() / "usr" / "sbin" / "dockerd"
    return path if path.exists() else None


def find_docker_cli() -> Path | None:
    """The machine's docker CLI, else the one unpacked with dockerd."""
    found = shutil.which("docker")
    if found:
        return Path(found)
    path = docker_dist_dir() / "usr" / "bin" / "docker"
    return path if path.exists() else None


class DockerDaemon:
    """dockerd with its own data root, exec root and socket; no iptables, no bridge."""

    def __init__(self, workdir: Path, insecure_registries: tuple[str, ...] = ()) -> None:
        self.workdir = Path(workdir)
        self.data_root = self.workdir / "data"
        self.exec_root = short_tmpdir("dockerd-")
        self.host = f"unix://{self.exec_root}/d.sock"
        self.insecure = DEFAULT_INSECURE + tuple(insecure_registries)
        self.daemon: Daemon | None = None

    def start(self) -> DockerDaemon:
        dockerd = find_dockerd()
        cli = find_docker_cli()
        if dockerd is None or cli is None:
            raise FileNotFoundError(
                f"dockerd not found under {docker_dist_dir()}: run tests/support/install-clients.sh"
            )
        self.cli = cli
        self.workdir.mkdir(parents=True, exist_ok=True)
        daemon_json = self.workdir / "daemon.json"
        daemon_json.write_text("{}\n")  # keeps /etc/docker/daemon.json out of the picture
        dist = dockerd.parent.parent
        env = private_env(self.workdir / "home")
        # dockerd starts its own containerd and finds runc and docker-init on PATH.
        env["PATH"] = f"{dist / 'bin'}:{dist / 'sbin'}:{env['PATH']}"
        argv: list[str | os.PathLike[str]] = [
            dockerd,
            "--config-file", daemon_json,
            "--data-root", self.data_root,
            "--exec-root", self.exec_root,
            "--pidfile", self.exec_root / "d.pid",
            "-H", self.host,
            "--iptables=false", "--ip6tables=false", "--bridge=none",
            "--ip-masq=false", "--userland-proxy=false",
        ]  # fmt: skip
        for registry in self.insecure:
            argv += ["--insecure-registry", registry]
        self.daemon = Daemon("dockerd", argv, log=self.workdir / "dockerd.log", env=env)
        self.daemon.wait_ready(self._answers, timeout=60)
        return self

    def _answers(self) -> bool:
        if not (self.exec_root / "d.sock").exists():
            return False
        probe = run([self.cli, "-H", self.host, "version"], check=False, timeout=10)
        return probe.returncode == 0

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop(timeout=30)
            self.daemon = None

    def close(self) -> None:
        self.stop()
        remove_tree(self.data_root)
        remove_tree(self.exec_root)


class Docker(CliClient):
    """The docker CLI pointed at a ``DockerDaemon`` with a private config dir."""

    def __init__(self, workdir: Path, daemon: DockerDaemon) -> None:
        super().__init__(workdir)
        self.daemon = daemon
        self.binary = str(daemon.cli)
        self.config_dir = self.workdir / "docker-config"
        self.config_dir.mkdir(exist_ok=True)
        self.env["DOCKER_CONFIG"] = str(self.config_dir)

    def global_args(self) -> list[str]:
        return ["--config", str(self.config_dir), "-H", self.daemon.host]

    def _check_tls(self, registry: RegistryEndpoint) -> None:
        if not registry.plain_http and registry.ca_file is not None:
            # dockerd reads CAs from /etc/docker/certs.d only: no private place for one.
            raise NotImplementedError("docker tests with a private CA are not supported")

    def login(
        self, registry: RegistryEndpoint, user: str | None = None, password: str | None = None
    ) -> None:
        self._check_tls(registry)
        user, password = self.credentials(registry, user, password)
        self.cli("login", "-u", user, "--password-stdin", registry.host, input=password)

    def logout(self, registry: RegistryEndpoint) -> None:
        self.cli("logout", registry.host)

    def load(self, archive: Path) -> list[str]:
        """``docker load``; returns the loaded image names."""
        out = self.cli("load", "-i", archive).stdout
        return [
            line.split(":", 1)[1].strip() for line in out.splitlines() if "Loaded image" in line
        ]

    def tag(self, image: str, new_name: str) -> None:
        self.cli("tag", image, new_name)

    def push(self, image: str, registry: RegistryEndpoint, ref: str) -> str:
        """Tag local ``image`` as ``registry``/``ref`` and push it; returns the digest
        dockerd reported (it re-compresses and writes Docker schema 2)."""
        self._check_tls(registry)
        remote = f"{registry.host}/{ref}"
        if image != remote:
            self.tag(image, remote)
        return _digest_from(self.cli("push", remote).stdout, remote)

    def pull(self, registry: RegistryEndpoint, ref: str) -> str:
        """Pull ``registry``/``ref``; returns the manifest digest dockerd reported."""
        self._check_tls(registry)
        remote = f"{registry.host}/{ref}"
        return _digest_from(self.cli("pull", remote).stdout, remote)

    def rmi(self, *images: str) -> None:
        self.cli("rmi", "--force", *images)

    def repo_digests(self, image: str) -> list[str]:
        out = self.cli("image", "inspect", "--format", "{{json .RepoDigests}}", image).stdout
        return list(json.loads(out))

    def run_container(self, image: str, *command: str) -> str:
        return self.cli("run", "--rm", "--network", "none", image, *command).stdout


def _digest_from(output: str, what: str) -> str:
    match = DIGEST_RE.search(output)
    if match is None:
        raise AssertionError(f"no digest in docker output for {what}:\n{output}")
    return match.group(1)
