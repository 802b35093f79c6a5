"""Manifest parsing and validation (no I/O)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from acp.registry import manifest_format as mf

CONFIG = {"mediaType": mf.OCI_CONFIG, "digest": "sha256:" + "c" * 64, "size": 10}
LAYER = {
    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
    "digest": "sha256:" + "1" * 64,
    "size": 100,
}


def _doc(**fields: Any) -> bytes:
    return json.dumps({"schemaVersion": 2, **fields}).encode()


def test_oci_image_manifest() -> None:
    manifest = mf.parse(
        _doc(mediaType=mf.OCI_MANIFEST, config=CONFIG, layers=[LAYER, LAYER]), mf.OCI_MANIFEST
    )
    assert manifest.media_type == mf.OCI_MANIFEST
    assert manifest.blob_references() == [CONFIG["digest"], LAYER["digest"]]
    assert manifest.image_size() == 210
    assert manifest.artifact_type == mf.OCI_CONFIG
    assert not manifest.is_index


def test_artifact_with_subject_and_annotations() -> None:
    subject = {"mediaType": mf.OCI_MANIFEST, "digest": "sha256:" + "5" * 64, "size": 7}
    manifest = mf.parse(
        _doc(
            mediaType=mf.OCI_MANIFEST,
            artifactType="application/vnd.example.sbom",
            config={**CONFIG, "mediaType": "application/vnd.oci.empty.v1+json"},
            layers=[],
            subject=subject,
            annotations={"a": "b"},
        ),
        None,
    )
    assert manifest.subject is not None
    assert manifest.subject.digest == subject["digest"]
    assert manifest.artifact_type == "application/vnd.example.sbom"
    assert manifest.annotations == {"a": "b"}


def test_index_platforms_skip_attestations() -> None:
    child = {"mediaType": mf.OCI_MANIFEST, "digest": "sha256:" + "2" * 64, "size": 5}
    index = mf.parse(
        _doc(
            mediaType=mf.OCI_INDEX,
            manifests=[
                {**child, "platform": {"os": "linux", "architecture": "amd64"}},
                {
                    **child,
                    "digest": "sha256:" + "3" * 64,
                    "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                },
                {
                    **child,
                    "digest": "sha256:" + "4" * 64,
                    "platform": {"os": "unknown", "architecture": "unknown"},
                },
            ],
        ),
        mf.OCI_INDEX,
    )
    assert index.is_index
    assert index.index_platforms() == ["linux/amd64", "linux/arm64/v8"]
    assert len(index.manifest_references()) == 3


def test_media_type_is_inferred_without_any_declaration() -> None:
    assert (
        mf.parse(_doc(config=CONFIG, layers=[]), "application/json").media_type == mf.OCI_MANIFEST
    )
    assert mf.parse(_doc(manifests=[]), None).media_type == mf.OCI_INDEX


def test_docker_schema2_and_foreign_layers() -> None:
    foreign = {
        **LAYER,
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "urls": ["https://x"],
    }
    manifest = mf.parse(
        _doc(
            mediaType=mf.DOCKER_MANIFEST,
            config={**CONFIG, "mediaType": mf.DOCKER_CONFIG},
            layers=[foreign],
        ),
        mf.DOCKER_MANIFEST,
    )
    assert manifest.blob_references() == [CONFIG["digest"]]


@pytest.mark.parametrize(
    ("media_type", "urls", "elsewhere"),
    [
        ("application/vnd.docker.image.rootfs.foreign.diff.tar", ["https://x"], True),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", ["https://x"], True),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", [], False),
        ("application/vnd.oci.image.layer.v1.tar+gzip", ["https://x"], False),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", ["https://x"], False),
    ],
)
def test_only_foreign_layers_with_urls_may_be_elsewhere(
    media_type: str, urls: list[str], elsewhere: bool
) -> None:
    layer = {**LAYER, "mediaType": media_type, "urls": urls}
    manifest = mf.parse(_doc(mediaType=mf.OCI_MANIFEST, config=CONFIG, layers=[layer]), None)
    assert (LAYER["digest"] not in manifest.blob_references()) is elsewhere


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{not json", mf.OCI_MANIFEST, "not valid JSON"),
        (b"[]", mf.OCI_MANIFEST, "JSON object"),
        (
            _doc(config=CONFIG, layers=[]).replace(b'"schemaVersion": 2', b'"schemaVersion": 1'),
            None,
            "schemaVersion",
        ),
        (_doc(config=CONFIG, layers=[]), "application/vnd.example.unknown+json", "unsupported"),
        (_doc(mediaType="application/vnd.example+json", config=CONFIG), None, "unsupported"),
        (_doc(mediaType=mf.OCI_INDEX, manifests=[]), mf.OCI_MANIFEST, "differs"),
        (_doc(mediaType=mf.OCI_MANIFEST, layers=[]), mf.OCI_MANIFEST, "config"),
        (
            _doc(mediaType=mf.OCI_MANIFEST, config={**CONFIG, "digest": "sha256:xyz"}, layers=[]),
            None,
            "digest",
        ),
        (_doc(mediaType=mf.OCI_MANIFEST, config={**CONFIG, "size": -1}, layers=[]), None, "size"),
        (_doc(mediaType=mf.OCI_MANIFEST, config={**CONFIG, "size": True}, layers=[]), None, "size"),
        (
            _doc(mediaType=mf.OCI_MANIFEST, config={**CONFIG, "size": 2**63}, layers=[]),
            None,
            "size",
        ),
        (
            _doc(mediaType=mf.OCI_MANIFEST, config=CONFIG, layers=[{**LAYER, "size": 10**30}]),
            None,
            "size",
        ),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, None, "nested too deeply"),
        (_doc(mediaType=mf.OCI_MANIFEST, config=CONFIG, layers="x"), None, "layers"),
        (_doc(mediaType=mf.OCI_INDEX, manifests={}), None, "manifests"),
        (
            _doc(mediaType=mf.DOCKER_MANIFEST, config=CONFIG, layers=[], subject=CONFIG),
            None,
            "subject",
        ),
        (
            _doc(mediaType=mf.OCI_MANIFEST, config=CONFIG, layers=[], annotations={"a": 1}),
            None,
            "annotations",
        ),
        (b'{"schemaVersion": 2}', None, "neither"),
    ],
)
def test_invalid_manifests(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(mf.InvalidManifest, match=message):
        mf.parse(body, content_type)


def test_accept_negotiation() -> None:
    assert mf.accepts([], mf.OCI_INDEX)
    assert mf.accepts([f"{mf.DOCKER_MANIFEST}, {mf.OCI_INDEX};q=0.5"], mf.OCI_INDEX)
    assert mf.accepts(["*/*"], mf.OCI_INDEX)
    assert mf.accepts(["application/*"], mf.OCI_INDEX)
    assert not mf.accepts([mf.DOCKER_MANIFEST, mf.DOCKER_LIST], mf.OCI_MANIFEST)
