"""A second cluster has its own registry listener, repositories and tokens (SQLite and
PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.acp_fixtures import DATABASES
from tests.support.platform import Platform
from tests.support.registry_client import RegistryClient, make_image, sha256
from tests.support.server import RunningServer, free_port, running_server


@pytest.fixture(scope="module", params=DATABASES)
def two_clusters(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, str]]:
    dev_port = free_port()
    with running_server(
        tmp_path_factory.mktemp("clusters"),
        database=request.param,
        extra_args=["--cluster", f"dev=127.0.0.1:{dev_port}"],
    ) as server:
        yield server, f"http://127.0.0.1:{dev_port}"


@pytest.fixture(scope="module")
def platform(two_clusters: tuple[RunningServer, str]) -> Iterator[Platform]:
    server, _ = two_clusters
    with Platform(server, server.login()) as admin:
        yield admin


def test_clusters_keep_their_registries_apart(
    two_clusters: tuple[RunningServer, str], platform: Platform
) -> None:
    server, dev_url = two_clusters
    ns = f"both-{uuid.uuid4().hex[:6]}"
    platform.namespace(ns)
    platform.namespace(ns, cluster="dev")
    admin = ("admin", server.admin_password)
    global_image, dev_image = make_image(), make_image()
    with (
        RegistryClient(server.url, basic=admin) as on_global,
        RegistryClient(dev_url, basic=admin) as on_dev,
    ):
        assert on_global.push_image(f"{ns}/app", "v1", global_image).status_code == 201
        assert on_dev.push_image(f"{ns}/app", "v1", dev_image).status_code == 201
        assert on_global.manifest(f"{ns}/app", "v1").content == global_image.manifest
        assert on_dev.manifest(f"{ns}/app", "v1").content == dev_image.manifest
        # Same name, different repositories: blobs of one are not readable in the other.
        assert on_dev.head_blob(f"{ns}/app", sha256(global_image.layers[0])).status_code == 404
        assert on_global.head_blob(f"{ns}/app", sha256(dev_image.layers[0])).status_code == 404

    challenge = httpx.get(f"{dev_url}/v2/").headers["WWW-Authenticate"]
    assert f'realm="{dev_url}/auth/token"' in challenge
    assert f'service="{dev_url[7:]}"' in challenge
    token = httpx.get(
        f"{dev_url}/auth/token",
        params={"service": dev_url[7:], "scope": f"repository:{ns}/app:pull"},
        auth=admin,
    ).json()["token"]
    with RegistryClient(dev_url, bearer=token) as dev_token:
        assert dev_token.manifest(f"{ns}/app", "v1").status_code == 200
    # A token minted for the dev registry is worthless on the global one.
    with RegistryClient(server.url, bearer=token) as elsewhere:
        assert elsewhere.manifest(f"{ns}/app", "v1").status_code == 401


def test_service_account_tokens_belong_to_their_cluster(
    two_clusters: tuple[RunningServer, str], platform: Platform
) -> None:
    server, dev_url = two_clusters
    ns = f"sa-{uuid.uuid4().hex[:6]}"
    platform.namespace(ns)
    platform.namespace(ns, cluster="dev")
    token = platform.serviceaccount(ns, "bot", cluster="dev")
    platform.bind(ns, "system:image-puller", serviceaccount=(ns, "bot"), cluster="dev")
    with RegistryClient(server.url, basic=("admin", server.admin_password)) as admin:
        admin.push_image(f"{ns}/app", "v1", make_image())
    with RegistryClient(dev_url, basic=("admin", server.admin_password)) as admin:
        admin.push_image(f"{ns}/app", "v1", make_image())
    with RegistryClient(dev_url, basic=("bot", token)) as on_dev:
        assert on_dev.manifest(f"{ns}/app", "v1").status_code == 200
    with RegistryClient(server.url, basic=("bot", token)) as on_global:
        assert on_global.manifest(f"{ns}/app", "v1").status_code == 401


def test_catalog_is_per_cluster(
    two_clusters: tuple[RunningServer, str], platform: Platform
) -> None:
    server, dev_url = two_clusters
    ns = f"cat-{uuid.uuid4().hex[:6]}"
    platform.namespace(ns, cluster="dev")
    admin = ("admin", server.admin_password)
    with RegistryClient(dev_url, basic=admin) as on_dev:
        on_dev.push_blob(f"{ns}/only-dev", b"x")
        assert f"{ns}/only-dev" in on_dev.catalog().json()["repositories"]
    with RegistryClient(server.url, basic=admin) as on_global:
        assert f"{ns}/only-dev" not in on_global.catalog().json()["repositories"]
        missing = on_global.push_blob(f"{ns}/app", b"x")
        assert missing.json()["errors"][0]["code"] == "NAME_UNKNOWN"
