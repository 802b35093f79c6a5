"""The registry metadata API over HTTP: pagination, visibility, tag-only deletion, dry runs.

Namespaces, bindings and ServiceAccounts are made through the Kubernetes API and images
pushed through the OCI registry, so what the metadata API lists and deletes is what OCI
clients see."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.support.platform import Platform
from tests.support.registry_client import Image, make_image
from tests.support.seed import unique
from tests.support.server import RunningServer

API = "/api/registry/v1"
PASSWORD = "metadata-password-1"
# Three images, tagged t00…t06 in turn: t00, t03 and t06 share one digest.
IMAGES = [make_image(seed=f"c{i}".encode()) for i in range(3)]


def image_of(tag: str) -> Image:
    return IMAGES[int(tag[1:]) % 3]


@pytest.fixture(scope="module")
def ns(platform: Platform) -> str:
    name = unique("meta")
    platform.namespace(name)
    for i in range(7):
        platform.push(f"{name}/app", f"t{i:02d}", image_of(f"t{i:02d}"))
    platform.push(f"{name}/zeta/inner", "x", make_image())
    return name


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_pages_walk_every_tag_once_in_order(
    acp_server: RunningServer, admin_token: str, ns: str
) -> None:
    seen: list[str] = []
    params: dict[str, str | int] = {"namespace": ns, "limit": 3}
    pages = 0
    with acp_server.client(admin_token) as client:
        while True:
            body = client.get(f"{API}/images", params=params).json()
            pages += 1
            seen += [f"{i['repository']}:{i['tag']}" for i in body["items"]]
            if not body["metadata"]["continue"]:
                break
            params["continue"] = body["metadata"]["continue"]
    assert pages == 3
    assert seen == [f"app:t{i:02d}" for i in range(7)] + ["zeta/inner:x"]


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "5000"},
        {"limit": "x"},
        {"continue": "%%%"},
        # Nested deeper than Python's JSON decoder recurses.
        {"continue": base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).decode()},
    ],
)
def test_bad_paging_parameters_are_400(
    acp_server: RunningServer, admin_token: str, query: dict[str, str]
) -> None:
    with acp_server.client(admin_token) as client:
        r = client.get(f"{API}/images", params=query)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "INVALID"


def test_public_namespaces_are_listed_for_everyone(
    acp_server: RunningServer, platform: Platform, ns: str
) -> None:
    public = unique("public")
    platform.namespace(public)
    platform.bind(public, "system:image-puller", group="system:unauthenticated")
    platform.push(f"{public}/open", "latest", make_image())
    body = httpx.get(f"{acp_server.url}{API}/images").json()
    assert {item["namespace"] for item in body["items"]} == {public}
    refused = httpx.delete(
        f"{acp_server.url}{API}/namespaces/{public}/repositories/open/tags/latest"
    )
    assert refused.status_code == 401
    # Logged in, the public namespace is still listed (as the registry lets anyone pull it).
    token = platform.serviceaccount(ns, unique("reader"))
    listed = httpx.get(f"{acp_server.url}{API}/images", headers=_bearer(token)).json()
    assert {item["namespace"] for item in listed["items"]} == {public}
    one = httpx.get(f"{acp_server.url}{API}/images?namespace={public}", headers=_bearer(token))
    assert one.status_code == 200


def test_bad_credentials_are_401(acp_server: RunningServer) -> None:
    r = httpx.get(f"{acp_server.url}{API}/images", headers=_bearer("acps_" + "x" * 43))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "UNAUTHORIZED"


def test_dry_run_then_delete_a_tag_keeps_its_siblings(
    acp_server: RunningServer, admin_token: str, platform: Platform, ns: str
) -> None:
    url = f"{API}/namespaces/{ns}/repositories/app/tags/t00"
    with acp_server.client(admin_token) as client:
        preview = client.delete(url, params={"dryRun": "true"}).json()
        assert preview == {
            "apiVersion": "registry.acp.io/v1",
            "kind": "ImageDeletion",
            "dryRun": True,
            "namespace": ns,
            "repository": "app",
            "reference": "t00",
            "digest": image_of("t00").digest,
            "deletedTags": ["t00"],
            "manifestDeleted": False,
            "remainingTags": ["t03", "t06"],
        }
        assert "t00" in platform.tags(f"{ns}/app")
        done = client.delete(url).json()
        assert done["dryRun"] is False
        assert platform.tags(f"{ns}/app") == ["t01", "t02", "t03", "t04", "t05", "t06"]
        assert client.delete(url).status_code == 404
    # The registry stopped serving the tag at once; its siblings still pull.
    with platform.registry() as oci:
        assert oci.manifest(f"{ns}/app", "t00").status_code == 404
        assert oci.manifest(f"{ns}/app", "t03").status_code == 200


def test_delete_by_digest(
    acp_server: RunningServer, admin_token: str, platform: Platform, ns: str
) -> None:
    digest = image_of("t01").digest
    url = f"{API}/namespaces/{ns}/repositories/app/manifests/{digest}"
    with acp_server.client(admin_token) as client:
        body = client.delete(url).json()
    assert body["manifestDeleted"] is True
    assert body["deletedTags"] == ["t01", "t04"]
    assert not platform.manifest_exists(f"{ns}/app", digest)


@pytest.mark.parametrize(
    "path",
    [
        "/namespaces/Bad_NS/repositories/app/tags/v1",
        "/namespaces/ns/repositories/App/tags/v1",
        "/namespaces/ns/repositories/app/tags/-bad",
        "/namespaces/ns/repositories/app/manifests/sha256:abc",
    ],
)
def test_invalid_names_are_400(acp_server: RunningServer, admin_token: str, path: str) -> None:
    with acp_server.client(admin_token) as client:
        assert client.delete(f"{API}{path}").status_code == 400


def test_info_names_the_cluster(acp_server: RunningServer) -> None:
    body = httpx.get(f"{acp_server.url}{API}/info").json()
    assert body["cluster"] == "global"
    assert body["registryHost"] == acp_server.host


def test_deletes_and_refusals_are_audited(
    acp_server: RunningServer, admin_token: str, platform: Platform, ns: str
) -> None:
    url = f"{API}/namespaces/{ns}/repositories/zeta/inner/tags/x"
    token = platform.serviceaccount(ns, unique("nobody"))
    assert httpx.delete(f"{acp_server.url}{url}", headers=_bearer(token)).status_code == 403
    with acp_server.client(admin_token) as client:
        assert client.delete(url).status_code == 200
    assert platform.tags(f"{ns}/zeta/inner") == []
    log = (acp_server.log_path.read_text() if acp_server.log_path else "").splitlines()
    events = [
        line for line in log if '"action": "registry.tag.delete"' in line and "inner:x" in line
    ]
    assert ['"outcome": "denied"' in e for e in events] == [True, False]


def test_a_serviceaccount_token_lists_where_it_is_bound(
    platform: Platform, acp_server: RunningServer, ns: str
) -> None:
    sa = unique("sa")
    token = platform.serviceaccount(ns, sa)
    platform.bind(ns, "system:image-puller", serviceaccount=(ns, sa))
    ok = httpx.get(f"{acp_server.url}{API}/images", headers=_bearer(token))
    assert ok.status_code == 200
    assert ns in {item["namespace"] for item in ok.json()["items"]}


def test_openapi_documents_the_metadata_api(acp_server: RunningServer) -> None:
    spec = httpx.get(f"{acp_server.url}/openapi.json").json()
    paths = spec["paths"]
    assert "get" in paths["/api/registry/v1/images"]
    assert (
        "delete" in paths["/api/registry/v1/namespaces/{namespace}/repositories/{name}/tags/{tag}"]
    )
    image = spec["components"]["schemas"]["Image"]
    assert image["required"] == [
        "namespace", "repository", "tag", "digest", "mediaType", "size", "created", "tagged",
        "platforms",
    ]  # fmt: skip
