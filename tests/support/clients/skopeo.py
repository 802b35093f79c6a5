"""skopeo: copies between OCI layouts and a registry without touching digests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.clients.base import ContainersImageClient, read_digest_file
from tests.support.endpoint import RegistryEndpoint


class Skopeo(ContainersImageClient):
    binary = "skopeo"

    def global_args(self) -> list[str]:
        return ["--policy", str(self.policy)]

    def copy(
        self,
        src: str,
        dest: str,
        *,
        registry: RegistryEndpoint | None = None,
        all_images: bool = False,
        extra: tuple[str, ...] = (),
    ) -> str:
        """``skopeo copy SRC DEST``; returns the digest written to the destination.

        ``registry`` supplies TLS options for whichever side is a ``docker://`` ref.
        ``--preserve-digests``: as root, every containers/image client shares one blob-info
        cache (/var/lib/containers/cache), and without it skopeo may swap a layer for a
        re-compressed variant that podman pushed earlier, changing the manifest.
        """
        args: list[str] = ["copy", "--preserve-digests", "--authfile", str(self.authfile)]
        if registry is not None:
            if src.startswith("docker://"):
                args += self.tls_args(registry, "src-")
            if dest.startswith("docker://"):
                args += self.tls_args(registry, "dest-")
        if all_images:
            args.append("--all")
        digestfile = self.workdir / "digest"
        digestfile.unlink(missing_ok=True)
        self.cli(*args, "--digestfile", digestfile, *extra, src, dest)
        return read_digest_file(digestfile)

    def push(
        self, source: str, registry: RegistryEndpoint, ref: str, *, all_images: bool = False
    ) -> str:
        """Copy ``source`` (e.g. ``oci:DIR:TAG``) to ``registry``/``ref`` (``repo:tag``)."""
        return self.copy(
            source, f"docker://{registry.host}/{ref}", registry=registry, all_images=all_images
        )

    def pull(
        self,
        registry: RegistryEndpoint,
        ref: str,
        layout: Path,
        tag: str = "latest",
        *,
        all_images: bool = False,
    ) -> str:
        """Copy ``registry``/``ref`` into the OCI layout ``layout`` under ``tag``."""
        return self.copy(
            f"docker://{registry.host}/{ref}",
            f"oci:{layout}:{tag}",
            registry=registry,
            all_images=all_images,
        )

    def inspect_raw(self, registry: RegistryEndpoint, ref: str) -> bytes:
        """The manifest bytes exactly as the registry serves them."""
        proc = self.cli(
            "inspect", "--raw", *self._remote(registry), f"docker://{registry.host}/{ref}"
        )
        return proc.raw_stdout

    def inspect(self, registry: RegistryEndpoint, ref: str) -> dict[str, Any]:
        proc = self.cli("inspect", *self._remote(registry), f"docker://{registry.host}/{ref}")
        return json.loads(proc.stdout)

    def list_tags(self, registry: RegistryEndpoint, repo: str) -> list[str]:
        proc = self.cli("list-tags", *self._remote(registry), f"docker://{registry.host}/{repo}")
        return list(json.loads(proc.stdout)["Tags"])

    def delete(self, registry: RegistryEndpoint, ref: str) -> None:
        """Delete a manifest; registries delete by digest, so ``ref`` should be
        ``repo@sha256:…`` (a tag is resolved to its digest by skopeo first)."""
        self.cli("delete", *self._remote(registry), f"docker://{registry.host}/{ref}")

    def _remote(self, registry: RegistryEndpoint) -> list[str]:
        return ["--authfile", str(self.authfile), *self.tls_args(registry)]
