"""Real OCI clients against acp-server with platform credentials: skopeo, podman, buildah,
containerd's ctr (the resolver nerdctl uses), docker and oras-py push and pull as a user
bound with `system:image-pusher` through `ac`, or with a ServiceAccount token as the
password (`tests/support/acp_registry.py`).

Each test checks what the client stored through ``registry_http``, a reader that shares no
code with the client under test: digests after a round trip equal the original (skopeo,
ctr, oras) or the digest the client reported for its own push (podman, buildah and docker
re-compress).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

import pytest

from tests.support import images
from tests.support.acp_registry import OTHER_NAMESPACE, AcpRegistry
from tests.support.clients import Buildah, Ctr, Docker, Oras, Podman, Skopeo
from tests.support.endpoint import RegistryEndpoint
from tests.support.fixtures import ImageSet
from tests.support.procs import CommandError
from tests.support.registry_client import RegistryClient

pytestmark = pytest.mark.clients

# What the clients print when the registry refuses credentials or access.
REFUSED = r"401|403|nauthorized|denied|authentication required|invalid username"
# containers/image (skopeo, podman, buildah) and containerd name a refused access so.
DENIED = r"requested access to the resource is denied"
CTR_DENIED = r"pull access denied"


def test_skopeo_copy_both_ways_inspect_list_delete(
    skopeo: Skopeo,
    registry: RegistryEndpoint,
    registry_http: RegistryClient,
    oci_images: ImageSet,
    repo: str,
    tmp_path: Path,
) -> None:
    with pytest.raises(CommandError, match=REFUSED):
        skopeo.login(registry, password="wrong-password")
    skopeo.login(registry)
    busybox = oci_images.busybox

    assert skopeo.push(busybox.oci_ref, registry, f"{repo}:v1") == busybox.digest
    assert skopeo.push(oci_images.random.oci_ref, registry, f"{repo}:big") == (
        oci_images.random.digest
    )
    stored = registry_http.stored_manifest(repo, "v1")
    assert stored is not None
    assert stored.digest == busybox.digest
    assert images.sha256_digest(skopeo.inspect_raw(registry, f"{repo}:v1")) == busybox.digest
    info = skopeo.inspect(registry, f"{repo}:v1")
    assert info["Digest"] == busybox.digest
    assert info["Layers"] == busybox.layer_digests
    assert sorted(skopeo.list_tags(registry, repo)) == ["big", "v1"]

    pulled = tmp_path / "pulled"
    assert skopeo.pull(registry, f"{repo}:v1", pulled, "copy") == busybox.digest
    for layer in busybox.layers:
        assert images.read_blob(pulled, layer.digest) == images.read_blob(
            busybox.layout, layer.digest
        )

    index = oci_images.index
    multi = f"{repo}-multi"
    assert skopeo.push(index.oci_ref, registry, f"{multi}:v1", all_images=True) == index.digest
    assert skopeo.pull(registry, f"{multi}:v1", pulled, "multi", all_images=True) == index.digest
    arm64 = index.image_for(images.ARM64)
    assert images.read_blob(pulled, arm64.digest) == images.read_blob(index.layout, arm64.digest)

    skopeo.delete(registry, f"{repo}@{busybox.digest}")
    assert registry_http.stored_manifest(repo, busybox.digest) is None
    assert skopeo.list_tags(registry, repo) == ["big"]
    with pytest.raises(CommandError, match="manifest unknown"):
        skopeo.inspect_raw(registry, f"{repo}:v1")


def test_podman_push_pull_run(
    podman: Podman,
    registry: RegistryEndpoint,
    registry_http: RegistryClient,
    oci_images: ImageSet,
    repo: str,
) -> None:
    podman.login(registry)
    podman.load(oci_images.busybox_docker_archive)
    pushed = podman.push(oci_images.busybox_docker_name, registry, f"{repo}:v1")
    stored = registry_http.stored_manifest(repo, "v1")
    assert stored is not None
    assert stored.digest == pushed  # podman re-compresses: compare with its own report

    podman.rmi(oci_images.busybox_docker_name)
    remote = registry.ref(repo, "v1")
    podman.pull(registry, f"{repo}:v1")
    assert podman.image_digest(remote) == pushed
    out = podman.run_container(remote, "sh", "-c", "echo hello from podman; uname -m")
    assert out.split() == ["hello", "from", "podman", "x86_64"]
    podman.rmi(remote)


def test_buildah_build_from_pulled_busybox_and_push(
    buildah: Buildah,
    registry: RegistryEndpoint,
    registry_http: RegistryClient,
    oci_images: ImageSet,
    repo: str,
    tmp_path: Path,
) -> None:
    buildah.login(registry)
    base = buildah.pull(f"docker-archive:{oci_images.busybox_docker_archive}")
    base_digest = buildah.push(base, registry, f"{repo}:base")
    buildah.rmi(base)

    containerfile = (
        f"FROM {registry.ref(repo, 'base')}\n"
        "RUN echo built by buildah > /built.txt\n"
        'CMD ["/bin/cat", "/built.txt"]\n'
    )
    image = buildah.build(
        tmp_path / "context", "localhost/acp-built:v1", containerfile, registry=registry
    )
    pushed = buildah.push(image, registry, f"{repo}:built")

    stored = registry_http.stored_manifest(repo, "built")
    assert stored is not None
    assert stored.digest == pushed
    base_manifest = registry_http.stored_manifest(repo, base_digest)
    assert base_manifest is not None
    built_layers = stored.json()["layers"]
    assert len(built_layers) == 2
    assert built_layers[0]["digest"] == base_manifest.json()["layers"][0]["digest"]


def test_ctr_push_pull_image(
    ctr: Ctr,
    registry: RegistryEndpoint,
    registry_http: RegistryClient,
    oci_images: ImageSet,
    repo: str,
) -> None:
    ctr.login(registry)
    busybox = oci_images.busybox
    imported = ctr.import_archive(oci_images.busybox_oci_archive, base_name=registry.ref(repo))
    assert imported == {registry.ref(repo, "latest"): busybox.digest}

    assert ctr.push(registry, f"{repo}:latest") == busybox.digest
    stored = registry_http.stored_manifest(repo, "latest")
    assert stored is not None
    assert stored.digest == busybox.digest

    ctr.forget_all()
    assert ctr.pull(registry, f"{repo}:latest") == busybox.digest


def test_ctr_multiplatform_index_all_platforms_with_a_serviceaccount_token(
    ctr: Ctr,
    registry_sa: RegistryEndpoint,
    registry_http: RegistryClient,
    oci_images: ImageSet,
    repo: str,
) -> None:
    registry = registry_sa
    ctr.login(registry)
    index = oci_images.index
    ctr.import_archive(
        oci_images.index_oci_archive, base_name=registry.ref(repo), all_platforms=True
    )

    assert ctr.push(registry, f"{repo}:latest") == index.digest
    stored = registry_http.stored_manifest(repo, "latest")
    assert stored is not None
    assert stored.digest == index.digest
    for image in index.images:
        assert registry_http.stored_manifest(repo, image.digest) is not None
        for layer in image.layers:
            assert registry_http.blob_exists(repo, layer.digest)

    ctr.forget_all()
    assert ctr.pull(registry, f"{repo}:latest", all_platforms=True) == index.digest
    blobs = ctr.cli("content", "ls", "--quiet").stdout.split()
    arm64 = index.image_for(images.ARM64)
    assert {arm64.digest, arm64.config.digest, *arm64.layer_digests} <= set(blobs)


def test_docker_login_push_pull(
    docker: Docker,
    registry: RegistryEndpoint,
    registry_http: RegistryClient,
    oci_images: ImageSet,
    repo: str,
) -> None:
    with pytest.raises(CommandError, match=REFUSED):
        docker.login(registry, password="wrong-password")
    docker.login(registry)
    assert docker.load(oci_images.busybox_docker_archive) == [oci_images.busybox_docker_name]
    pushed = docker.push(oci_images.busybox_docker_name, registry, f"{repo}:v1")
    stored = registry_http.stored_manifest(repo, "v1")
    assert stored is not None
    assert stored.digest == pushed
    assert stored.media_type == images.DOCKER_MANIFEST

    remote = registry.ref(repo, "v1")
    docker.rmi(oci_images.busybox_docker_name, remote)
    assert docker.pull(registry, f"{repo}:v1") == pushed
    assert docker.repo_digests(remote) == [registry.ref(repo, digest=pushed)]
    out = docker.run_container(remote, "sh", "-c", "echo hello from docker")
    assert out.strip() == "hello from docker"
    docker.rmi(remote)


# Both ways docs/registry.md tells oras-py users to push: Basic credentials on every request,
# or a token auth that asks for every scope it was challenged for.
@pytest.mark.parametrize("auth_backend", ["basic", "token"])
def test_oras_artifact_push_pull(
    auth_backend: Literal["basic", "token"],
    registry: RegistryEndpoint,
    registry_http: RegistryClient,
    repo: str,
    tmp_path: Path,
) -> None:
    oras_client = Oras(tmp_path / "oras", auth_backend=auth_backend)
    oras_client.login(registry)
    note = tmp_path / "note.txt"
    note.write_text("an artifact pushed with oras-py\n")
    digest = oras_client.push_files(
        registry, f"{repo}:note", [note], media_type="text/plain", annotations={"k": "v"}
    )
    stored = registry_http.stored_manifest(repo, "note")
    assert stored is not None
    assert stored.digest == digest
    assert stored.json()["annotations"] == {"k": "v"}

    files = oras_client.pull_files(registry, f"{repo}:note", tmp_path / "out")
    assert [f.name for f in files] == ["note.txt"]
    assert files[0].read_text() == note.read_text()


def test_oras_referrers_attach_and_discover_with_a_serviceaccount_token(
    oras_client: Oras,
    registry_sa: RegistryEndpoint,
    registry_http: RegistryClient,
    oci_images: ImageSet,
    repo: str,
    tmp_path: Path,
) -> None:
    registry = registry_sa
    oras_client.login(registry)
    subject = oci_images.busybox
    assert oras_client.push_image(registry, repo, subject) == subject.digest

    artifact = images.build_artifact(tmp_path / "sbom", subject=subject.manifest, tag="sbom")
    assert oras_client.push_artifact(registry, repo, artifact) == artifact.digest
    stored = registry_http.stored_manifest(repo, artifact.digest)
    assert stored is not None
    assert stored.json()["subject"]["digest"] == subject.digest

    note = tmp_path / "sig.txt"
    note.write_text("signature\n")
    signature = oras_client.push_files(
        registry, f"{repo}:sig", [note], media_type="text/plain", subject=subject.manifest
    )

    found = oras_client.discover(registry, repo, subject.digest)
    assert sorted(found.digests) == sorted([artifact.digest, signature])
    assert found.source == "api"  # the referrers API, not the tag-schema fallback
    filtered = oras_client.discover(registry, repo, subject.digest, artifact.artifact_type)
    assert filtered.digests == [artifact.digest]
    assert filtered.manifests[0]["artifactType"] == artifact.artifact_type
    assert oras_client.discover(registry, repo, artifact.digest).digests == []


# --- permissions, seen by real clients ---------------------------------------------------------


def test_skopeo_with_a_serviceaccount_token_pushes_and_pulls(
    skopeo: Skopeo,
    registry_sa: RegistryEndpoint,
    registry_http: RegistryClient,
    oci_images: ImageSet,
    repo: str,
    tmp_path: Path,
) -> None:
    skopeo.login(registry_sa)
    busybox = oci_images.busybox
    assert skopeo.push(busybox.oci_ref, registry_sa, f"{repo}:v1") == busybox.digest
    assert skopeo.pull(registry_sa, f"{repo}:v1", tmp_path / "out") == busybox.digest
    stored = registry_http.stored_manifest(repo, "v1")
    assert stored is not None
    assert stored.digest == busybox.digest


def test_a_puller_pulls_but_cannot_push(
    acp_registry: AcpRegistry,
    skopeo: Skopeo,
    podman: Podman,
    registry: RegistryEndpoint,
    oci_images: ImageSet,
    repo: str,
    tmp_path: Path,
) -> None:
    busybox = oci_images.busybox
    skopeo.login(registry)
    assert skopeo.push(busybox.oci_ref, registry, f"{repo}:v1") == busybox.digest

    puller = acp_registry.puller
    skopeo.login(puller)
    assert skopeo.pull(puller, f"{repo}:v1", tmp_path / "pulled") == busybox.digest
    with pytest.raises(CommandError, match=DENIED):
        skopeo.push(busybox.oci_ref, puller, f"{repo}:v2")
    podman.login(puller)
    podman.pull(puller, f"{repo}:v1")
    podman.tag(puller.ref(repo, "v1"), puller.ref(repo, "v3"))
    with pytest.raises(CommandError, match=DENIED):
        podman.push(puller.ref(repo, "v3"), puller, f"{repo}:v3")
    podman.rmi(puller.ref(repo, "v1"), puller.ref(repo, "v3"))
    # Nothing the puller tried to push arrived.
    skopeo.login(registry)
    assert skopeo.list_tags(registry, repo) == ["v1"]


def test_another_namespace_stays_out_of_reach(
    acp_registry: AcpRegistry,
    skopeo: Skopeo,
    ctr: Ctr,
    registry: RegistryEndpoint,
    registry_sa: RegistryEndpoint,
    oci_images: ImageSet,
    tmp_path: Path,
) -> None:
    busybox = oci_images.busybox
    foreign = f"{OTHER_NAMESPACE}/secret-{secrets.token_hex(3)}"
    admin = acp_registry.admin
    skopeo.login(admin)
    assert skopeo.push(busybox.oci_ref, admin, f"{foreign}:v1") == busybox.digest

    for outsider in (registry, registry_sa):
        skopeo.login(outsider)
        with pytest.raises(CommandError, match=DENIED):
            skopeo.pull(outsider, f"{foreign}:v1", tmp_path / "stolen")
        with pytest.raises(CommandError, match=DENIED):
            skopeo.inspect_raw(outsider, f"{foreign}@{busybox.digest}")
        ctr.login(outsider)
        with pytest.raises(CommandError, match=CTR_DENIED):
            ctr.pull(outsider, f"{foreign}:v1")
        # The same answer for a repository that does not exist: nothing leaks.
        with pytest.raises(CommandError, match=DENIED):
            skopeo.inspect_raw(outsider, f"{OTHER_NAMESPACE}/no-such-repository:v1")
