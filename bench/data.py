"""Deterministic, incompressible test content: big blob files, small images, OCI layouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .client import OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_MANIFEST, sha256_digest

MIB = 1024 * 1024
# Blobs vary per upload in their last bytes only, so the hash of the rest is computed once.
SUFFIX_LEN = 32


def random_bytes(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


class BlobFile:
    """A large random file whose tail is rewritten per upload to make every blob distinct."""

    def __init__(self, path: Path, size: int, seed: str = "acp-bench-blob") -> None:
        if size <= SUFFIX_LEN:
            raise ValueError("blob size too small")
        self.path = path
        self.size = size
        prefix_hash = hashlib.sha256()
        rng = random.Random(seed)
        with path.open("wb") as f:
            remaining = size - SUFFIX_LEN
            while remaining:
                chunk = rng.randbytes(min(16 * MIB, remaining))
                f.write(chunk)
                prefix_hash.update(chunk)
                remaining -= len(chunk)
            f.write(bytes(SUFFIX_LEN))
        self._prefix_hash = prefix_hash
        self.file = path.open("r+b")
        self.digest = ""
        self.vary("initial")

    def vary(self, label: str) -> str:
        """Give the file a new tail derived from `label`; returns the new digest."""
        suffix = hashlib.sha256(label.encode()).digest()[:SUFFIX_LEN]
        os.pwrite(self.file.fileno(), suffix, self.size - SUFFIX_LEN)
        hasher = self._prefix_hash.copy()
        hasher.update(suffix)
        self.digest = "sha256:" + hasher.hexdigest()
        return self.digest

    def close(self) -> None:
        self.file.close()


@dataclass
class SmallImage:
    """An image pushed over plain HTTP: a config, some layers, and its manifest."""

    config: bytes
    layers: list[bytes]
    manifest: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)


def _descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}


def image_config(diff_ids: list[str], label: str) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"acp.bench": label}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def image_manifest(
    config: bytes, layers: list[bytes], annotations: dict[str, str] | None = None
) -> bytes:
    manifest: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(OCI_CONFIG, config),
        "layers": [_descriptor(OCI_LAYER_TAR, layer) for layer in layers],
    }
    if annotations:
        manifest["annotations"] = annotations
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def small_image(label: str, layer_sizes: tuple[int, ...] = (2048,)) -> SmallImage:
    # Raw random bytes as "layers": registries never look inside, and it keeps them tiny.
    layers = [random_bytes(f"{label}/{i}", size) for i, size in enumerate(layer_sizes)]
    config = image_config([sha256_digest(layer) for layer in layers], label)
    return SmallImage(config, layers, image_manifest(config, layers))


def _gzip_tar_layer(name: str, data: bytes) -> tuple[bytes, str]:
    """A one-file tar with fixed metadata, gzipped; returns the blob and its diff_id.

    Skopeo compresses uncompressed layers on their way to a registry, which would make the push
    measure the client's gzip; a gzip layer goes out as it is. Level 0 (stored blocks) is still
    gzip, and random data would not shrink at any level.
    """
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=0, mtime=0), sha256_digest(raw)


def _write_blob(layout: Path, data: bytes) -> str:
    digest = sha256_digest(data)
    (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
    return digest


def build_oci_layout(layout: Path, total_size: int, layers: int, seed: str) -> str:
    """An OCI image layout of `layers` random gzip layers; returns the manifest digest."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descriptors: list[dict[str, object]] = []
    diff_ids: list[str] = []
    per_layer = total_size // layers
    for i in range(layers):
        blob, diff_id = _gzip_tar_layer(f"data{i}.bin", random_bytes(f"{seed}/{i}", per_layer))
        descriptors.append(
            {"mediaType": OCI_LAYER_GZIP, "digest": _write_blob(layout, blob), "size": len(blob)}
        )
        diff_ids.append(diff_id)
    config = image_config(diff_ids, seed)
    _write_blob(layout, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor(OCI_CONFIG, config),
            "layers": descriptors,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    digest = _write_blob(layout, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return digest


def layout_manifest_digest(layout: Path) -> str:
    index = json.loads((layout / "index.json").read_text())
    return str(index["manifests"][0]["digest"])
