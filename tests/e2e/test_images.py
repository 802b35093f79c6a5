"""The OCI image builders: deterministic digests, valid layouts, a runnable busybox."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support import images
from tests.support.fixtures import ImageSet, require_binaries
from tests.support.procs import run


def _tree_digests(layout: Path) -> dict[str, str]:
    return {
        str(p.relative_to(layout)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(layout.rglob("*"))
        if p.is_file()
    }


def test_builders_are_deterministic(tmp_path: Path) -> None:
    require_binaries("busybox")
    first = images.build_multiplatform_index(tmp_path / "a")
    second = images.build_multiplatform_index(tmp_path / "b")
    assert first.digest == second.digest
    assert _tree_digests(first.layout) == _tree_digests(second.layout)
    r1 = images.build_random_image(tmp_path / "r1", total_size=300_000, layers=3, seed=7)
    r2 = images.build_random_image(tmp_path / "r2", total_size=300_000, layers=3, seed=7)
    r3 = images.build_random_image(tmp_path / "r3", total_size=300_000, layers=3, seed=8)
    assert r1.digest == r2.digest != r3.digest
    assert len(set(r1.layer_digests)) == 3


def test_blobs_match_their_digests_and_sizes(oci_images: ImageSet) -> None:
    image = oci_images.busybox
    layout = images.OciLayout(image.layout)
    for desc in (image.manifest, image.config, *(layer.descriptor for layer in image.layers)):
        data = layout.blob_path(desc.digest).read_bytes()
        assert images.sha256_digest(data) == desc.digest
        assert len(data) == desc.size
    manifest = json.loads(layout.blob_path(image.digest).read_bytes())
    config = json.loads(layout.blob_path(image.config.digest).read_bytes())
    assert manifest["config"]["digest"] == image.config.digest
    assert config["os"] == "linux"
    assert config["architecture"] == "amd64"
    assert config["config"]["Cmd"] == ["/bin/sh"]
    assert config["rootfs"]["diff_ids"] == [layer.diff_id for layer in image.layers]


def test_random_image_has_requested_size(tmp_path: Path) -> None:
    image = images.build_random_image(tmp_path / "r", total_size=3 << 20, layers=3, gzip_level=None)
    assert len(image.layers) == 3
    payload = 0
    for layer in image.layers:
        with tarfile.open(images.OciLayout(image.layout).blob_path(layer.digest)) as tar:
            payload += sum(m.size for m in tar.getmembers())
    assert payload == 3 << 20


@pytest.mark.clients
def test_skopeo_reads_every_layout(oci_images: ImageSet, tmp_path: Path) -> None:
    require_binaries("skopeo")
    busybox = json.loads(run(["skopeo", "inspect", oci_images.busybox.oci_ref]).stdout)
    assert busybox["Digest"] == oci_images.busybox.digest
    assert busybox["Layers"] == oci_images.busybox.layer_digests
    index = run(["skopeo", "inspect", "--raw", oci_images.index.oci_ref]).raw_stdout
    assert images.sha256_digest(index) == oci_images.index.digest
    rnd = json.loads(run(["skopeo", "inspect", oci_images.random.oci_ref]).stdout)
    assert rnd["Layers"] == oci_images.random.layer_digests
    artifact = images.build_artifact(tmp_path / "art", subject=oci_images.busybox.manifest)
    raw = run(["skopeo", "inspect", "--raw", f"oci:{artifact.layout}:{artifact.tag}"]).raw_stdout
    manifest = json.loads(raw)
    assert images.sha256_digest(raw) == artifact.digest
    assert manifest["artifactType"] == artifact.artifact_type
    assert manifest["subject"]["digest"] == oci_images.busybox.digest
    assert manifest["config"]["mediaType"] == images.OCI_EMPTY


@pytest.mark.clients
def test_busybox_unpacks_with_umoci_and_runs_in_chroot(
    oci_images: ImageSet, tmp_path: Path
) -> None:
    require_binaries("umoci", "chroot")
    layout = tmp_path / "layout"
    shutil.copytree(oci_images.busybox.layout, layout)
    bundle = tmp_path / "bundle"
    run(["umoci", "unpack", "--image", f"{layout}:{oci_images.busybox.tag}", bundle])
    rootfs = bundle / "rootfs"
    assert (rootfs / "bin" / "busybox").is_file()
    assert (rootfs / "bin" / "sh").is_symlink()
    chroot = shutil.which("chroot")
    assert chroot is not None
    out = subprocess.run(
        [chroot, rootfs, "/bin/sh", "-c", "echo hello from $(uname -m); ls /bin | wc -l"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/bin"},
    ).stdout.split()
    assert out[:3] == ["hello", "from", "x86_64"]
    assert int(out[3]) == len(images.BUSYBOX_APPLETS) + 1


@pytest.mark.clients
@pytest.mark.parametrize("kind", ["oci", "docker"])
def test_archives_load_with_skopeo(oci_images: ImageSet, kind: str) -> None:
    require_binaries("skopeo")
    if kind == "oci":
        ref = f"oci-archive:{oci_images.busybox_oci_archive}:latest"
    else:
        ref = f"docker-archive:{oci_images.busybox_docker_archive}"
    info = json.loads(run(["skopeo", "inspect", ref]).stdout)
    assert info["Architecture"] == "amd64"
    layers = oci_images.busybox.layers
    # docker-archive is addressed by uncompressed layer digests (the config's diff_ids).
    expected = [layer.digest if kind == "oci" else layer.diff_id for layer in layers]
    assert info["Layers"] == expected
