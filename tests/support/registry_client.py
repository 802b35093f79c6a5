"""A small OCI registry client for tests: raw HTTP with httpx, so that tests see every status
code and header, plus helpers that build blobs and manifests."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


@dataclass
class Image:
    config: bytes
    layers: list[bytes]
    manifest: bytes
    media_type: str = OCI_MANIFEST

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def blobs(self) -> list[bytes]:
        return [self.config, *self.layers]


def make_image(
    *,
    layers: int = 1,
    layer_size: int = 1000,
    architecture: str = "amd64",
    docker: bool = False,
    seed: bytes | None = None,
) -> Image:
    """A random image (distinct content unless `seed` is given)."""
    salt = seed if seed is not None else os.urandom(8)
    layer_blobs = [hashlib.shake_256(salt + bytes([i])).digest(layer_size) for i in range(layers)]
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(b) for b in layer_blobs]},
            "salt": salt.hex(),
        }
    ).encode()
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
            "layers": [descriptor(DOCKER_LAYER if docker else OCI_LAYER, b) for b in layer_blobs],
        }
    ).encode()
    return Image(config, layer_blobs, manifest, media_type)


def make_index(children: list[Image], media_type: str = OCI_INDEX) -> bytes:
    entries = []
    for child in children:
        arch = json.loads(child.config)["architecture"]
        entries.append(
            descriptor(
                child.media_type, child.manifest, platform={"os": "linux", "architecture": arch}
            )
        )
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}).encode()


def make_artifact(
    subject: bytes, artifact_type: str, payload: bytes, **annotations: str
) -> tuple[bytes, bytes]:
    """(manifest, empty config) of an artifact whose subject is the manifest `subject`."""
    empty = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, empty),
        "layers": [descriptor("application/octet-stream", payload)],
        "subject": descriptor(OCI_MANIFEST, subject),
    }
    if annotations:
        manifest["annotations"] = annotations
    return json.dumps(manifest).encode(), empty


@dataclass(frozen=True)
class StoredManifest:
    """A manifest exactly as the registry serves it."""

    body: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return sha256(self.body)

    def json(self) -> Any:
        return json.loads(self.body)


class RegistryClient:
    """Requests against /v2/ with fixed credentials (Basic, Bearer, or none).

    It shares no code with the OCI clients under test, so client tests check with it what a
    client really stored (`stored_manifest`, `blob_exists`).
    """

    def __init__(
        self,
        url: str,
        *,
        basic: tuple[str, str] | None = None,
        bearer: str | None = None,
        timeout: float = 60,
    ) -> None:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        self.http = httpx.Client(base_url=url, auth=basic, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    # --- blobs -----------------------------------------------------------------------------

    def push_blob(self, repo: str, data: bytes) -> httpx.Response:
        """Monolithic single-request upload."""
        return self.http.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data
        )

    def start_upload(self, repo: str, **params: str) -> httpx.Response:
        return self.http.post(f"/v2/{repo}/blobs/uploads/", params=params)

    def push_blob_chunked(self, repo: str, data: bytes, chunk: int) -> httpx.Response:
        response = self.start_upload(repo)
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
        for start in range(0, len(data), chunk):
            piece = data[start : start + chunk]
            response = self.http.patch(
                location,
                content=piece,
                headers={"Content-Range": f"{start}-{start + len(piece) - 1}"},
            )
            assert response.status_code == 202, response.text
            location = response.headers["Location"]
        return self.http.put(location, params={"digest": sha256(data)})

    def blob(self, repo: str, digest: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"/v2/{repo}/blobs/{digest}", **kwargs)

    def head_blob(self, repo: str, digest: str) -> httpx.Response:
        return self.http.head(f"/v2/{repo}/blobs/{digest}")

    # --- manifests -------------------------------------------------------------------------

    def put_manifest(
        self, repo: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST, **params: Any
    ) -> httpx.Response:
        return self.http.put(
            f"/v2/{repo}/manifests/{reference}",
            content=body,
            headers={"Content-Type": media_type},
            params=params,
        )

    def manifest(self, repo: str, reference: str, accept: str | None = None) -> httpx.Response:
        headers = (
            {"Accept": accept}
            if accept
            else {"Accept": ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])}
        )
        return self.http.get(f"/v2/{repo}/manifests/{reference}", headers=headers)

    def stored_manifest(self, repo: str, reference: str) -> StoredManifest | None:
        """The manifest as served, or None if the registry says 404."""
        response = self.manifest(repo, reference)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, f"GET {repo}:{reference}: {response.text}"
        return StoredManifest(response.content, response.headers.get("Content-Type", ""))

    def blob_exists(self, repo: str, digest: str) -> bool:
        return self.head_blob(repo, digest).status_code == 200

    def push_image(self, repo: str, tag: str, image: Image) -> httpx.Response:
        for blob in image.blobs:
            response = self.push_blob(repo, blob)
            assert response.status_code == 201, response.text
        return self.put_manifest(repo, tag, image.manifest, image.media_type)

    def tags(self, repo: str, **params: Any) -> httpx.Response:
        return self.http.get(f"/v2/{repo}/tags/list", params=params)

    def catalog(self, **params: Any) -> httpx.Response:
        return self.http.get("/v2/_catalog", params=params)
