"""Manifest media types, parsing and validation (pure functions, no I/O).

Accepted: OCI image manifest and index (artifacts included: `artifactType`, `subject`),
Docker schema 2 manifest and manifest list. The bytes are stored exactly as pushed; this
module only reads what the registry must know about them: what they reference, their
subject, artifact type, annotations and platforms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from acp.storage import digests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
IMAGE_CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
# Content types that say nothing about the manifest: then the body's mediaType decides.
GENERIC_CONTENT_TYPES = frozenset({"", "application/json", "application/octet-stream"})
# Layers that clients fetch from their `urls` (Windows base layers): never pushed here.
FOREIGN_LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
# The largest size the database stores (a signed 64-bit column).
MAX_SIZE = 2**63 - 1


class InvalidManifest(ValueError):
    """The manifest cannot be accepted; the message says why."""


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    # "os/architecture[/variant]" for index entries that name one
    platform: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    @property
    def is_foreign(self) -> bool:
        """A foreign (non-distributable) layer with the URLs to fetch it from: it lives
        elsewhere and is never pushed here."""
        return self.media_type in FOREIGN_LAYER_TYPES and bool(self.urls)


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None
    # What the referrers API reports: `artifactType`, else the config media type of an
    # image manifest; None for an index without one.
    artifact_type: str | None
    annotations: dict[str, str]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def blob_descriptors(self) -> list[Descriptor]:
        """The config and layers that must be in the repository (all but foreign layers)."""
        config = [self.config] if self.config is not None else []
        return config + [layer for layer in self.layers if not layer.is_foreign]

    def blob_references(self) -> list[str]:
        """Digests of the blobs that must be in the repository (config and layers)."""
        return list(dict.fromkeys(d.digest for d in self.blob_descriptors()))

    def manifest_references(self) -> list[str]:
        """Digests of the child manifests that must be in the repository."""
        return list(dict.fromkeys(d.digest for d in self.manifests))

    def image_size(self) -> int:
        """Config plus layers (an index's size is the sum over its children: the caller)."""
        config = self.config.size if self.config is not None else 0
        return config + sum(layer.size for layer in self.layers)

    def index_platforms(self) -> list[str]:
        platforms = (d.platform for d in self.manifests if d.platform)
        return list(dict.fromkeys(p for p in platforms if not p.startswith("unknown/")))


def content_type_of(header: str | None) -> str:
    """The media type of a Content-Type header, parameters dropped."""
    return (header or "").split(";", 1)[0].strip().lower()


def parse(body: bytes, content_type: str | None) -> Manifest:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidManifest(f"the manifest is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidManifest("the manifest is not valid JSON: it is nested too deeply") from exc
    if not isinstance(document, dict):
        raise InvalidManifest("the manifest must be a JSON object")
    if document.get("schemaVersion") != 2 or isinstance(document.get("schemaVersion"), bool):
        raise InvalidManifest("only schemaVersion 2 manifests are supported")
    media_type = _media_type(document, content_type_of(content_type))
    subject = _descriptor(document["subject"], "subject") if "subject" in document else None
    artifact_type = _optional_string(document, "artifactType")
    annotations = _annotations(document.get("annotations"), "annotations")
    if media_type in INDEX_TYPES:
        entries = document.get("manifests")
        if not isinstance(entries, list):
            raise InvalidManifest("an index needs a 'manifests' list")
        children = tuple(_descriptor(e, f"manifests[{i}]") for i, e in enumerate(entries))
        return Manifest(media_type, None, (), children, subject, artifact_type, annotations)
    config = document.get("config")
    if config is None:
        raise InvalidManifest("an image manifest needs a 'config' descriptor")
    config_descriptor = _descriptor(config, "config")
    layers = document.get("layers", [] if media_type == OCI_MANIFEST else None)
    if not isinstance(layers, list):
        raise InvalidManifest("an image manifest needs a 'layers' list")
    layer_descriptors = tuple(_descriptor(e, f"layers[{i}]") for i, e in enumerate(layers))
    if media_type == DOCKER_MANIFEST and (subject is not None or artifact_type is not None):
        raise InvalidManifest("Docker schema 2 manifests have no 'subject' or 'artifactType'")
    return Manifest(
        media_type,
        config_descriptor,
        layer_descriptors,
        (),
        subject,
        artifact_type or config_descriptor.media_type,
        annotations,
    )


def _media_type(document: dict[str, Any], content_type: str) -> str:
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise InvalidManifest("'mediaType' must be a string")
    if content_type not in GENERIC_CONTENT_TYPES:
        if content_type not in MANIFEST_TYPES:
            raise InvalidManifest(f"unsupported manifest media type {content_type!r}")
        if declared is not None and declared != content_type:
            raise InvalidManifest(
                f"Content-Type {content_type!r} differs from the manifest's mediaType {declared!r}"
            )
        return content_type
    if declared is not None:
        if declared not in MANIFEST_TYPES:
            raise InvalidManifest(f"unsupported manifest media type {declared!r}")
        return declared
    # No media type anywhere: OCI allows leaving it out; the shape tells which one it is.
    if "manifests" in document:
        return OCI_INDEX
    if "config" in document:
        return OCI_MANIFEST
    raise InvalidManifest("the manifest has no mediaType and is neither an image nor an index")


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise InvalidManifest(f"{where} must be a descriptor object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise InvalidManifest(f"{where}.mediaType must be a non-empty string")
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise InvalidManifest(f"{where}.digest must be a string")
    try:
        digests.parse(digest)
    except digests.DigestError as exc:
        raise InvalidManifest(f"{where}.digest: {exc}") from exc
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise InvalidManifest(f"{where}.size must be an integer from 0 to {MAX_SIZE}")
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise InvalidManifest(f"{where}.urls must be a list of strings")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        platform=_platform(value.get("platform"), where),
        artifact_type=_optional_string(value, "artifactType", where),
        annotations=_annotations(value.get("annotations"), f"{where}.annotations"),
        urls=tuple(urls),
    )


def _platform(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidManifest(f"{where}.platform must be an object")
    return platform_of(value)


def platform_of(document: dict[str, Any]) -> str | None:
    """ "os/architecture[/variant]" of an index entry's platform or an image config."""
    os_name, arch = document.get("os"), document.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        return None
    variant = document.get("variant")
    return (
        f"{os_name}/{arch}/{variant}"
        if isinstance(variant, str) and variant
        else (f"{os_name}/{arch}")
    )


def config_platform(config_body: bytes) -> str | None:
    """The platform an image config names, if it is readable."""
    try:
        document = json.loads(config_body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return platform_of(document) if isinstance(document, dict) else None


def _optional_string(document: dict[str, Any], key: str, where: str = "") -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidManifest(f"{where + '.' if where else ''}{key} must be a string")
    return value or None


def _annotations(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidManifest(f"{where} must map strings to strings")
    return value


def accepts(accept_headers: list[str], media_type: str) -> bool:
    """Whether a client whose Accept headers are `accept_headers` takes `media_type`.
    No Accept header means anything goes."""
    offered = [
        part.split(";", 1)[0].strip().lower()
        for header in accept_headers
        for part in header.split(",")
        if part.strip()
    ]
    if not offered:
        return True
    major = media_type.split("/", 1)[0]
    return any(o in (media_type, "*/*", f"{major}/*") for o in offered)
