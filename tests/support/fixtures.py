"""Shared pytest fixtures: test images, our server as a registry, and client drivers.

Client tests take ``registry`` (a ``RegistryEndpoint``): a user of our own
``acp-server`` bound with ``system:image-pusher`` in namespace ``e2e`` (see
``tests/support/acp_registry.py`` for every endpoint and how it is made).

A missing client skips its tests; with ``ACP_TESTS_REQUIRE_CLIENTS=1`` (CI) it
fails them instead, so an incomplete install cannot pass unnoticed.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import images
from tests.support.acp_fixtures import DATABASES
from tests.support.acp_registry import AcpRegistry, prepare
from tests.support.clients import (
    Buildah,
    Containerd,
    Ctr,
    Docker,
    DockerDaemon,
    Oras,
    Podman,
    Skopeo,
)
from tests.support.clients.docker import find_docker_cli, find_dockerd
from tests.support.endpoint import RegistryEndpoint
from tests.support.registry_client import RegistryClient
from tests.support.server import running_server


def require(what: str, available: bool) -> None:
    """Skip (or, in CI, fail) when a client is not installed."""
    if available:
        return
    message = f"{what} is not installed: run tests/support/install-clients.sh"
    if os.environ.get("ACP_TESTS_REQUIRE_CLIENTS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def require_binaries(*names: str) -> None:
    for name in names:
        require(name, shutil.which(name) is not None)


@dataclass(frozen=True)
class ImageSet:
    busybox: images.BuiltImage
    index: images.BuiltIndex
    random: images.BuiltImage  # 3 layers, 3 MiB in all
    busybox_oci_archive: Path
    index_oci_archive: Path
    busybox_docker_archive: Path
    busybox_docker_name: str  # the name docker/podman load it under


@pytest.fixture(scope="session")
def oci_images(tmp_path_factory: pytest.TempPathFactory) -> ImageSet:
    require_binaries("busybox")
    root = tmp_path_factory.mktemp("images")
    busybox = images.build_busybox_image(root / "busybox")
    index = images.build_multiplatform_index(root / "index")
    rnd = images.build_random_image(root / "random", total_size=3 << 20, layers=3)
    name = "localhost/acp-tests/busybox:latest"
    return ImageSet(
        busybox=busybox,
        index=index,
        random=rnd,
        busybox_oci_archive=images.write_oci_archive(busybox.layout, root / "busybox-oci.tar"),
        index_oci_archive=images.write_oci_archive(index.layout, root / "index-oci.tar"),
        busybox_docker_archive=images.write_docker_archive(
            busybox, root / "busybox-docker.tar", name
        ),
        busybox_docker_name=name,
    )


@pytest.fixture(scope="session", params=DATABASES)
def acp_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcpRegistry]:
    """One acp-server for every client test of a database backend, with the namespaces,
    accounts, ServiceAccount and bindings of `tests/support/acp_registry.py`."""
    tmp = tmp_path_factory.mktemp(f"acp-registry-{request.param}")
    with running_server(tmp, database=request.param) as server:
        yield prepare(server, tmp)


@pytest.fixture(scope="session")
def registry(acp_registry: AcpRegistry) -> RegistryEndpoint:
    """A user with a password, bound to push (and delete) in namespace `e2e`."""
    return acp_registry.pusher


@pytest.fixture(scope="session")
def registry_sa(acp_registry: AcpRegistry) -> RegistryEndpoint:
    """A ServiceAccount token as the password, bound to push in namespace `e2e`."""
    return acp_registry.serviceaccount


@pytest.fixture
def registry_http(registry: RegistryEndpoint) -> Iterator[RegistryClient]:
    """Raw /v2/ requests with `registry`'s credentials, to check what a client stored."""
    with RegistryClient(registry.url, basic=(registry.username, registry.password)) as client:
        yield client


@pytest.fixture
def repo(request: pytest.FixtureRequest, registry: RegistryEndpoint) -> str:
    """A fresh repository name ``<namespace>/<test-name>-<random>`` for this test."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return registry.repo(f"{stem}-{secrets.token_hex(3)}")


@pytest.fixture(scope="module")
def skopeo(tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    require_binaries("skopeo")
    return Skopeo(tmp_path_factory.mktemp("skopeo"))


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    require_binaries("podman", "runc")
    client = Podman(tmp_path_factory.mktemp("podman"))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def buildah(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Buildah]:
    require_binaries("buildah")
    client = Buildah(tmp_path_factory.mktemp("buildah"))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    require_binaries("containerd", "ctr")
    daemon = Containerd(tmp_path_factory.mktemp("containerd"))
    try:
        yield daemon.start()
    finally:
        daemon.close()


@pytest.fixture
def ctr(tmp_path: Path, containerd: Containerd) -> Ctr:
    """A ctr client with an empty image and content store."""
    client = Ctr(tmp_path / "ctr", containerd)
    client.forget_all()
    return client


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerDaemon]:
    require("dockerd (docker.io unpacked)", find_dockerd() is not None)
    require("docker CLI", find_docker_cli() is not None)
    require_binaries("containerd", "runc")
    daemon = DockerDaemon(tmp_path_factory.mktemp("dockerd"))
    try:
        yield daemon.start()
    finally:
        daemon.close()


@pytest.fixture
def docker(tmp_path: Path, dockerd: DockerDaemon) -> Docker:
    return Docker(tmp_path / "docker", dockerd)


@pytest.fixture
def oras_client(tmp_path: Path) -> Oras:
    """oras-py; the auth backend follows the registry's challenge
    (``ACP_TESTS_ORAS_AUTH=basic|token`` forces one)."""
    backend = os.environ.get("ACP_TESTS_ORAS_AUTH") or None
    if backend not in (None, "basic", "token"):
        raise ValueError(f"ACP_TESTS_ORAS_AUTH must be basic or token, not {backend!r}")
    return Oras(tmp_path / "oras", auth_backend=backend)  # type: ignore[arg-type]
