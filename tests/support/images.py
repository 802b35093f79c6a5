"""Deterministic OCI test images, built with the standard library only.

Everything here writes an OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/...``). Tar entries carry fixed mtimes and owners, gzip streams
have mtime 0 and no file name, and JSON is serialised canonically, so the same
inputs always give the same digests: tests can assert exact round-trips.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

REF_NAME = "org.opencontainers.image.ref.name"
BUSYBOX = Path("/bin/busybox")
# Applets linked next to busybox; enough for shell one-liners in tests.
BUSYBOX_APPLETS = (
    "sh", "cat", "echo", "ls", "true", "false", "sleep", "env", "id", "uname",
    "wc", "head", "grep", "mkdir", "rm", "touch", "pwd", "sha256sum", "test",
)  # fmt: skip
FIXED_MTIME = 0
CREATED = "1970-01-01T00:00:00Z"
CHUNK = 1 << 20
EMPTY_JSON = b"{}"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    data: bytes | None = None  # inline payload (used for the empty config)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode()
        return out

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


@dataclass(frozen=True)
class Layer:
    descriptor: Descriptor
    diff_id: str  # digest of the uncompressed tar, as listed in the config

    @property
    def digest(self) -> str:
        return self.descriptor.digest


@dataclass(frozen=True)
class BuiltImage:
    """An image manifest stored in ``layout`` under ``tag``."""

    layout: Path
    tag: str
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Layer, ...]
    platform: Platform

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def oci_ref(self) -> str:
        """Reference for containers-image tools (skopeo, podman, buildah)."""
        return f"oci:{self.layout}:{self.tag}"

    @property
    def layer_digests(self) -> list[str]:
        return [layer.digest for layer in self.layers]


@dataclass(frozen=True)
class BuiltIndex:
    layout: Path
    tag: str
    index: Descriptor
    images: tuple[BuiltImage, ...]

    @property
    def digest(self) -> str:
        return self.index.digest

    @property
    def oci_ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"

    def image_for(self, platform: Platform) -> BuiltImage:
        for image in self.images:
            if image.platform == platform:
                return image
        raise KeyError(str(platform))


@dataclass(frozen=True)
class BuiltArtifact:
    layout: Path
    tag: str
    manifest: Descriptor
    config: Descriptor
    blobs: tuple[Descriptor, ...]
    artifact_type: str
    subject: Descriptor | None

    @property
    def digest(self) -> str:
        return self.manifest.digest


class OciLayout:
    """Writer for an OCI image layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blob_dir = self.root / "blobs" / "sha256"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
        if not self.index_path.exists():
            self._write_index([])

    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    def blob_path(self, digest: str) -> Path:
        return self.blob_dir / digest.split(":", 1)[1]

    def add_blob(self, data: bytes, media_type: str, **desc: Any) -> Descriptor:
        digest = sha256_digest(data)
        path = self.blob_path(digest)
        if not path.exists():
            path.write_bytes(data)
        return Descriptor(media_type, digest, len(data), **desc)

    def add_json(self, obj: Any, media_type: str, **desc: Any) -> Descriptor:
        return self.add_blob(canonical_json(obj), media_type, **desc)

    def add_layer(self, tar_chunks: Iterable[bytes], *, gzip_level: int | None = 6) -> Layer:
        """Store a layer from uncompressed tar chunks, streaming to disk.

        ``gzip_level=None`` stores the tar uncompressed.
        """
        diff = hashlib.sha256()
        blob = hashlib.sha256()
        size = 0
        gz = _DeterministicGzip(gzip_level) if gzip_level is not None else None
        with tempfile.NamedTemporaryFile(dir=self.blob_dir, delete=False) as out:
            try:
                for raw, packed in _with_trailer(tar_chunks, gz):
                    diff.update(raw)
                    if packed:
                        blob.update(packed)
                        out.write(packed)
                        size += len(packed)
            except BaseException:
                os.unlink(out.name)
                raise
        digest = "sha256:" + blob.hexdigest()
        os.replace(out.name, self.blob_path(digest))
        media_type = OCI_LAYER_GZIP if gz else OCI_LAYER_TAR
        return Layer(Descriptor(media_type, digest, size), "sha256:" + diff.hexdigest())

    def tag(self, descriptor: Descriptor, name: str) -> None:
        """Point ``name`` at ``descriptor`` in index.json, replacing an older entry."""
        entries = [
            e
            for e in json.loads(self.index_path.read_bytes())["manifests"]
            if e.get("annotations", {}).get(REF_NAME) != name
        ]
        annotations = {**(descriptor.annotations or {}), REF_NAME: name}
        tagged = Descriptor(
            descriptor.media_type,
            descriptor.digest,
            descriptor.size,
            platform=descriptor.platform,
            artifact_type=descriptor.artifact_type,
            annotations=annotations,
        )
        entries.append(tagged.to_json())
        self._write_index(entries)

    def _write_index(self, manifests: list[dict[str, Any]]) -> None:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        self.index_path.write_bytes(canonical_json(index))


class _DeterministicGzip:
    """A gzip member with mtime 0, no file name and a fixed OS byte.

    Written by hand because gzip.GzipFile embeds the file name and the OS byte
    varies between Python releases, which would move digests.
    """

    def __init__(self, level: int) -> None:
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        self.header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff"

    def compress(self, data: bytes) -> bytes:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        return self._deflate.compress(data)

    def finish(self) -> bytes:
        tail = self._deflate.flush()
        return tail + struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF)


def _with_trailer(
    chunks: Iterable[bytes], gz: _DeterministicGzip | None
) -> Iterator[tuple[bytes, bytes]]:
    if gz is None:
        for chunk in chunks:
            yield chunk, chunk
        return
    yield b"", gz.header
    for chunk in chunks:
        yield chunk, gz.compress(chunk)
    yield b"", gz.finish()


# ---------------------------------------------------------------- tar helpers


def _tarinfo(name: str, kind: bytes, *, size: int = 0, mode: int = 0o644, link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = mode
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.linkname = link
    return info.tobuf(tarfile.USTAR_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


END_OF_ARCHIVE = b"\0" * (2 * tarfile.BLOCKSIZE)


@dataclass
class TarBuilder:
    """Collects small entries into one in-memory tar stream."""

    parts: list[bytes] = field(default_factory=list)

    def dir(self, name: str, mode: int = 0o755) -> TarBuilder:
        self.parts.append(_tarinfo(name.rstrip("/") + "/", tarfile.DIRTYPE, mode=mode))
        return self

    def file(self, name: str, data: bytes, mode: int = 0o644) -> TarBuilder:
        self.parts += [_tarinfo(name, tarfile.REGTYPE, size=len(data), mode=mode), data]
        self.parts.append(_pad(len(data)))
        return self

    def symlink(self, name: str, target: str) -> TarBuilder:
        self.parts.append(_tarinfo(name, tarfile.SYMTYPE, mode=0o777, link=target))
        return self

    def chunks(self) -> Iterator[bytes]:
        yield b"".join(self.parts) + END_OF_ARCHIVE


def _random_file_tar(name: str, size: int, rng: random.Random) -> Iterator[bytes]:
    yield _tarinfo(name, tarfile.REGTYPE, size=size)
    remaining = size
    while remaining:
        n = min(CHUNK, remaining)
        yield rng.randbytes(n)
        remaining -= n
    yield _pad(size) + END_OF_ARCHIVE


# ---------------------------------------------------------------- image builders


def _image_config(platform: Platform, layers: list[Layer], cmd: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "created": CREATED,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": cmd,
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": CREATED, "created_by": "acp-tests"} for _ in layers],
    }
    if platform.variant:
        config["variant"] = platform.variant
    return config


def write_image(
    root: Path,
    layers: list[Layer],
    *,
    tag: str,
    platform: Platform,
    cmd: list[str],
    annotations: dict[str, str] | None = None,
) -> BuiltImage:
    """Write config + manifest for already stored ``layers`` and tag the manifest."""
    layout = OciLayout(root)
    config = layout.add_json(_image_config(platform, layers, cmd), OCI_CONFIG)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.descriptor.to_json() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = annotations
    desc = layout.add_json(manifest, OCI_MANIFEST, platform=platform)
    layout.tag(desc, tag)
    return BuiltImage(layout.root, tag, desc, config, tuple(layers), platform)


def busybox_layer_tar(busybox: Path = BUSYBOX) -> TarBuilder:
    tar = TarBuilder()
    for d in ("bin", "etc", "root", "proc", "sys", "dev"):
        tar.dir(d)
    tar.dir("tmp", mode=0o1777)
    tar.file("bin/busybox", busybox.read_bytes(), mode=0o755)
    for applet in BUSYBOX_APPLETS:
        tar.symlink(f"bin/{applet}", "busybox")
    tar.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    tar.file("etc/group", b"root:x:0:\n")
    return tar


def build_busybox_image(root: Path, *, tag: str = "latest", busybox: Path = BUSYBOX) -> BuiltImage:
    """A runnable linux/amd64 image: static busybox plus applet links, Cmd /bin/sh."""
    layer = OciLayout(root).add_layer(busybox_layer_tar(busybox).chunks())
    return write_image(root, [layer], tag=tag, platform=Platform(), cmd=["/bin/sh"])


def build_note_image(
    root: Path, *, platform: Platform, text: str, tag: str = "latest"
) -> BuiltImage:
    """A tiny valid image whose only file is /etc/acp-note (for non-native platforms)."""
    tar = TarBuilder().dir("etc").file("etc/acp-note", text.encode())
    layer = OciLayout(root).add_layer(tar.chunks())
    return write_image(root, [layer], tag=tag, platform=platform, cmd=["/bin/sh"])


ARM64 = Platform(architecture="arm64", variant="v8")


def build_multiplatform_index(root: Path, *, tag: str = "latest") -> BuiltIndex:
    """An image index: runnable linux/amd64 busybox + a small linux/arm64/v8 image."""
    amd64 = build_busybox_image(root, tag=f"{tag}-amd64")
    arm64 = build_note_image(root, platform=ARM64, text="arm64 variant\n", tag=f"{tag}-arm64")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [amd64.manifest.to_json(), arm64.manifest.to_json()],
    }
    layout = OciLayout(root)
    desc = layout.add_json(index, OCI_INDEX)
    layout.tag(desc, tag)
    return BuiltIndex(layout.root, tag, desc, (amd64, arm64))


def build_random_image(
    root: Path,
    *,
    total_size: int,
    layers: int = 3,
    seed: int = 0,
    tag: str = "latest",
    gzip_level: int | None = 1,
) -> BuiltImage:
    """An image of ``layers`` layers of pseudo-random bytes adding up to ``total_size``.

    The same seed gives the same digests. Random data does not compress, so the
    default gzip level 1 only wraps it; ``gzip_level=None`` writes plain tar layers.
    """
    if layers < 1 or total_size < layers:
        raise ValueError("need at least one byte per layer")
    rng = random.Random(seed)
    layout = OciLayout(root)
    sizes = [total_size // layers] * layers
    sizes[-1] += total_size - sum(sizes)
    stored = [
        layout.add_layer(_random_file_tar(f"data/layer-{i}.bin", n, rng), gzip_level=gzip_level)
        for i, n in enumerate(sizes)
    ]
    return write_image(root, stored, tag=tag, platform=Platform(), cmd=["/bin/sh"])


def empty_config_descriptor() -> Descriptor:
    return Descriptor(OCI_EMPTY, sha256_digest(EMPTY_JSON), len(EMPTY_JSON), data=EMPTY_JSON)


def build_artifact(
    root: Path,
    *,
    subject: Descriptor | None,
    artifact_type: str = "application/vnd.acp.test.note.v1",
    payload: bytes = b"signed by acp-tests\n",
    payload_media_type: str = "text/plain",
    tag: str = "artifact",
    annotations: dict[str, str] | None = None,
) -> BuiltArtifact:
    """An OCI 1.1 artifact manifest: empty config, one blob, ``artifactType``, ``subject``."""
    layout = OciLayout(root)
    config = empty_config_descriptor()
    layout.add_blob(EMPTY_JSON, OCI_EMPTY)
    blob = layout.add_blob(
        payload,
        payload_media_type,
        annotations={"org.opencontainers.image.title": "note.txt"},
    )
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config.to_json(),
        "layers": [blob.to_json()],
        "annotations": {"org.opencontainers.image.created": CREATED, **(annotations or {})},
    }
    if subject is not None:
        manifest["subject"] = Descriptor(subject.media_type, subject.digest, subject.size).to_json()
    desc = layout.add_json(manifest, OCI_MANIFEST, artifact_type=artifact_type)
    layout.tag(desc, tag)
    return BuiltArtifact(layout.root, tag, desc, config, (blob,), artifact_type, subject)


# ---------------------------------------------------------------- archives


def _tar_add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = FIXED_MTIME
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _tar_add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mtime = FIXED_MTIME
    info.mode = 0o644
    with path.open("rb") as f:
        tar.addfile(info, f)


def write_oci_archive(layout: Path, dest: Path) -> Path:
    """Tar an OCI layout as-is (the ``oci-archive:`` transport and ``ctr images import``)."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("oci-layout", "index.json"):
            _tar_add_file(tar, name, layout / name)
        for blob in sorted((layout / "blobs" / "sha256").iterdir()):
            _tar_add_file(tar, f"blobs/sha256/{blob.name}", blob)
    return dest


def write_docker_archive(image: BuiltImage, dest: Path, repo_tag: str) -> Path:
    """Write a ``docker save`` style tar of one image (``docker-archive:`` transport).

    Layers are stored as their compressed blobs; docker, buildah and containerd
    all detect the compression when loading.
    """
    layout = OciLayout(image.layout)
    layer_names = [f"{layer.descriptor.hex}.tar.gz" for layer in image.layers]
    manifest = [
        {
            "Config": f"{image.config.hex}.json",
            "RepoTags": [repo_tag],
            "Layers": layer_names,
        }
    ]
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        _tar_add_file(tar, f"{image.config.hex}.json", layout.blob_path(image.config.digest))
        for name, layer in zip(layer_names, image.layers, strict=True):
            _tar_add_file(tar, name, layout.blob_path(layer.digest))
        _tar_add_bytes(tar, "manifest.json", canonical_json(manifest))
    return dest


def read_blob(layout: Path, digest: str) -> bytes:
    return OciLayout(layout).blob_path(digest).read_bytes()
