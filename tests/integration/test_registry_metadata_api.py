"""The registry metadata API over HTTP: pagination, visibility, tag-only deletion, dry runs."""

from __future__ import annotations

import httpx
import pytest

from tests.support.seed import Image, Seeder, digest_of, unique
from tests.support.server import RunningServer

API = "/api/registry/v1"
PASSWORD = "metadata-password-1"


@pytest.fixture(scope="module")
def ns(seeder: Seeder) -> str:
    name = unique("meta")
    seeder.namespace(name)
    seeder.images(
        [Image(name, "app", f"t{i:02d}", content=f"c{i % 3}") for i in range(7)]
        + [Image(name, "zeta/inner", "x")]
    )
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
    "query", [{"limit": "0"}, {"limit": "5000"}, {"limit": "x"}, {"continue": "%%%"}]
)
def test_bad_paging_parameters_are_400(
    acp_server: RunningServer, admin_token: str, query: dict[str, str]
) -> None:
    with acp_server.client(admin_token) as client:
        r = client.get(f"{API}/images", params=query)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "INVALID"


def test_anonymous_sees_only_public_namespaces(
    acp_server: RunningServer, seeder: Seeder, ns: str
) -> None:
    public = unique("public")
    seeder.namespace(public)
    seeder.bind(public, "system:image-puller", group="system:unauthenticated")
    seeder.images([Image(public, "open", "latest")])
    body = httpx.get(f"{acp_server.url}{API}/images").json()
    assert {item["namespace"] for item in body["items"]} == {public}
    refused = httpx.delete(
        f"{acp_server.url}{API}/namespaces/{public}/repositories/open/tags/latest"
    )
    assert refused.status_code == 401


def test_bad_credentials_are_401(acp_server: RunningServer) -> None:
    r = httpx.get(f"{acp_server.url}{API}/images", headers=_bearer("acps_" + "x" * 43))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "UNAUTHORIZED"


def test_dry_run_then_delete_a_tag_keeps_its_siblings(
    acp_server: RunningServer, admin_token: str, seeder: Seeder, ns: str
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
            "digest": digest_of(Image(ns, "app", "t00", content="c0")),
            "deletedTags": ["t00"],
            "manifestDeleted": False,
            "remainingTags": ["t03", "t06"],
        }
        assert "t00" in seeder.tag_names(ns, "app")
        done = client.delete(url).json()
        assert done["dryRun"] is False
        assert seeder.tag_names(ns, "app") == ["t01", "t02", "t03", "t04", "t05", "t06"]
        assert client.delete(url).status_code == 404


def test_delete_by_digest(
    acp_server: RunningServer, admin_token: str, seeder: Seeder, ns: str
) -> None:
    digest = digest_of(Image(ns, "app", "t01", content="c1"))
    url = f"{API}/namespaces/{ns}/repositories/app/manifests/{digest}"
    with acp_server.client(admin_token) as client:
        body = client.delete(url).json()
    assert body["manifestDeleted"] is True
    assert body["deletedTags"] == ["t01", "t04"]
    assert digest not in seeder.manifest_digests(ns, "app")


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


def test_deletes_are_audited(
    acp_server: RunningServer, admin_token: str, seeder: Seeder, ns: str
) -> None:
    with acp_server.client(admin_token) as client:
        client.delete(f"{API}/namespaces/{ns}/repositories/zeta/inner/tags/x")
    assert seeder.tag_names(ns, "zeta/inner") == []
    log = (acp_server.log_path.read_text() if acp_server.log_path else "").splitlines()
    assert any('"action": "image.delete"' in line and "inner:x" in line for line in log)


def test_a_serviceaccount_token_lists_where_it_is_bound(
    seeder: Seeder, acp_server: RunningServer, ns: str
) -> None:
    sa = unique("sa")
    uid = seeder.serviceaccount(ns, sa)
    token = seeder.serviceaccount_token(ns, sa, uid, cluster="global")
    seeder.bind(ns, "system:image-puller", serviceaccount=(ns, sa))
    ok = httpx.get(f"{acp_server.url}{API}/images", headers=_bearer(token))
    assert ok.status_code == 200
    assert {item["namespace"] for item in ok.json()["items"]} == {ns}


def test_openapi_documents_the_metadata_api(acp_server: RunningServer) -> None:
    spec = httpx.get(f"{acp_server.url}/openapi.json").json()
    paths = spec["paths"]
    assert "get" in paths["/api/registry/v1/images"]
    assert (
        "delete" in paths["/api/registry/v1/namespaces/{namespace}/repositories/{name}/tags/{tag}"]
    )
    image = spec["components"]["schemas"]["Image"]
    assert image["required"] == [
        "namespace", "repository", "tag", "digest", "mediaType", "size", "created", "platforms",
    ]  # fmt: skip
