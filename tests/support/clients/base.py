"""What every command-line client driver shares: a private home, an authfile,
and command execution that reports the client's stderr on failure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.support.endpoint import RegistryEndpoint
from tests.support.procs import Result, private_env, run

POLICY_JSON = '{"default": [{"type": "insecureAcceptAnything"}]}\n'
REGISTRIES_CONF = 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'


class CliClient:
    """Base for drivers of one command-line client, confined to ``workdir``."""

    binary: str = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = private_env(self.workdir / "home")
        self.authfile = self.workdir / "auth.json"
        self.timeout = 300.0

    def cli(
        self, *args: str | os.PathLike[str], input: str | None = None, timeout: float | None = None
    ) -> Result:
        return run(
            [self.binary, *self.global_args(), *args],
            env=self.env,
            input=input,
            timeout=timeout or self.timeout,
        )

    def global_args(self) -> list[str]:
        return []

    def credentials(
        self, registry: RegistryEndpoint, user: str | None, password: str | None
    ) -> tuple[str, str]:
        return (
            user if user is not None else registry.username,
            password if password is not None else registry.password,
        )


class ContainersImageClient(CliClient):
    """skopeo, podman and buildah share containers/image: same config files,
    same TLS flags, same authfile format."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        conf = self.workdir / "containers"
        conf.mkdir(exist_ok=True)
        self.policy = conf / "policy.json"
        self.policy.write_text(POLICY_JSON)
        registries = conf / "registries.conf"
        registries.write_text(REGISTRIES_CONF)
        # Point the library at private files so /etc/containers and ~/.config stay unread.
        self.env.update(
            CONTAINERS_REGISTRIES_CONF=str(registries),
            REGISTRY_AUTH_FILE=str(self.authfile),
        )

    def tls_args(self, registry: RegistryEndpoint, prefix: str = "") -> list[str]:
        """``--tls-verify`` (or ``--src-``/``--dest-`` variants) and a cert dir for a CA."""
        if registry.plain_http:
            return [f"--{prefix}tls-verify=false"]
        args = [f"--{prefix}tls-verify=true"]
        if registry.ca_file is not None:
            args += [f"--{prefix}cert-dir", str(self.cert_dir(registry))]
        return args

    def cert_dir(self, registry: RegistryEndpoint) -> Path:
        assert registry.ca_file is not None
        d = self.workdir / "certs" / registry.host.replace(":", "_")
        d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(registry.ca_file, d / "ca.crt")
        return d

    def login(
        self, registry: RegistryEndpoint, user: str | None = None, password: str | None = None
    ) -> None:
        user, password = self.credentials(registry, user, password)
        self.cli(
            "login",
            *self.tls_args(registry),
            "--authfile",
            self.authfile,
            "-u",
            user,
            "--password-stdin",
            registry.host,
            input=password + "\n",
        )

    def logout(self, registry: RegistryEndpoint) -> None:
        self.cli("logout", "--authfile", self.authfile, registry.host)


class ContainersStorageClient(ContainersImageClient):
    """podman and buildah: images kept in a private containers/storage, pushed with a
    ``--digestfile`` because both re-compress layers (the source digest does not survive)."""

    def _remote(self, registry: RegistryEndpoint | None) -> list[str]:
        args = ["--authfile", str(self.authfile), "--signature-policy", str(self.policy)]
        return args + (self.tls_args(registry) if registry is not None else [])

    def push(self, image: str, registry: RegistryEndpoint, ref: str) -> str:
        """Push local ``image`` to ``registry``/``ref``; returns the pushed manifest digest."""
        digestfile = self.workdir / "digest"
        digestfile.unlink(missing_ok=True)
        self.cli(
            "push",
            "--quiet",
            *self._remote(registry),
            "--digestfile",
            digestfile,
            image,
            f"docker://{registry.host}/{ref}",
        )
        return read_digest_file(digestfile)

    def rmi(self, *images: str) -> None:
        self.cli("rmi", "--force", *images)


def read_digest_file(path: Path) -> str:
    digest = path.read_text().strip()
    if not digest.startswith("sha256:"):
        raise AssertionError(f"unexpected digest file content {digest!r}")
    return digest
