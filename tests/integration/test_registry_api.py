"""The OCI distribution API end to end over HTTP (SQLite and PostgreSQL): every endpoint's
success path with its status codes and headers."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support import database
from tests.support.platform import Platform
from tests.support.registry_client import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryClient,
    descriptor,
    make_artifact,
    make_image,
    make_index,
    sha256,
    sha512,
)
from tests.support.server import RunningServer

API_VERSION = "registry/2.0"


@pytest.fixture(scope="module")
def admin(platform: Platform) -> Iterator[RegistryClient]:
    with platform.registry() as client:
        yield client


@pytest.fixture
def ns(acp_server: RunningServer, platform: Platform) -> str:
    name = f"ns-{uuid.uuid4().hex[:8]}"
    platform.namespace(name)
    return name


def test_api_version_check(acp_server: RunningServer, admin: RegistryClient) -> None:
    response = admin.request("GET", "/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == API_VERSION


# --- blob uploads ------------------------------------------------------------------------


def test_monolithic_single_post(admin: RegistryClient, ns: str) -> None:
    data = os.urandom(5000)
    response = admin.push_blob(f"{ns}/app", data)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{ns}/app/blobs/{sha256(data)}"
    assert response.headers["Docker-Content-Digest"] == sha256(data)
    got = admin.blob(f"{ns}/app", sha256(data))
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["Docker-Content-Digest"] == sha256(data)
    assert got.headers["Content-Type"] == "application/octet-stream"


def test_post_then_put(admin: RegistryClient, ns: str) -> None:
    data = os.urandom(70_000)
    started = admin.start_upload(f"{ns}/app")
    assert started.status_code == 202
    location = started.headers["Location"]
    upload_id = started.headers["Docker-Upload-UUID"]
    assert location == f"/v2/{ns}/app/blobs/uploads/{upload_id}"
    assert started.headers["Range"] == "0-0"
    done = admin.request("PUT", location, params={"digest": sha256(data)}, content=data)
    assert done.status_code == 201
    assert done.headers["Docker-Content-Digest"] == sha256(data)
    assert admin.blob(f"{ns}/app", sha256(data)).content == data
    # The session is over.
    assert admin.request("GET", location).status_code == 404


def test_chunked_upload_with_status_and_resume(admin: RegistryClient, ns: str) -> None:
    data = os.urandom(300_000)
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    first = admin.request(
        "PATCH", location, content=data[:100_000], headers={"Content-Range": "0-99999"}
    )
    assert first.status_code == 202
    assert first.headers["Range"] == "0-99999"
    assert first.headers["Docker-Upload-UUID"]
    # A chunk without Content-Range is appended (what docker and containerd send).
    second = admin.request("PATCH", first.headers["Location"], content=data[100_000:200_000])
    assert second.status_code == 202
    assert second.headers["Range"] == "0-199999"
    status = admin.request("GET", location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-199999"
    assert status.headers["Location"] == location
    # The last chunk rides on the closing PUT.
    done = admin.request(
        "PUT",
        location,
        params={"digest": sha256(data)},
        content=data[200_000:],
        headers={"Content-Range": f"200000-{len(data) - 1}"},
    )
    assert done.status_code == 201, done.text
    assert admin.blob(f"{ns}/app", sha256(data)).content == data


def test_chunked_upload_helper_and_empty_blob(admin: RegistryClient, ns: str) -> None:
    data = os.urandom(50_001)
    assert admin.push_blob_chunked(f"{ns}/app", data, 10_000).status_code == 201
    assert admin.blob(f"{ns}/app", sha256(data)).content == data
    assert admin.push_blob(f"{ns}/app", b"").status_code == 201
    head = admin.head_blob(f"{ns}/app", sha256(b""))
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "0"


def test_sha512_upload(admin: RegistryClient, ns: str) -> None:
    data = os.urandom(20_000)
    started = admin.start_upload(f"{ns}/app", **{"digest-algorithm": "sha512"})
    assert started.status_code == 202
    done = admin.request(
        "PUT", started.headers["Location"], params={"digest": sha512(data)}, content=data
    )
    assert done.status_code == 201
    assert done.headers["Docker-Content-Digest"] == sha512(data)
    assert admin.blob(f"{ns}/app", sha512(data)).content == data
    # A session hashing sha256 can still be closed with a sha512 digest.
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    other = os.urandom(1000)
    admin.request("PATCH", location, content=other)
    assert admin.request("PUT", location, params={"digest": sha512(other)}).status_code == 201
    single = admin.request(
        "POST", f"/v2/{ns}/app/blobs/uploads/", params={"digest": sha512(b"x")}, content=b"x"
    )
    assert single.status_code == 201


def test_cancel_upload(admin: RegistryClient, ns: str) -> None:
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    admin.request("PATCH", location, content=b"abc")
    assert admin.request("DELETE", location).status_code == 204
    assert admin.request("GET", location).status_code == 404
    assert admin.request("DELETE", location).json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_cross_repository_mount(admin: RegistryClient, ns: str) -> None:
    data = os.urandom(4000)
    admin.push_blob(f"{ns}/source", data)
    mounted = admin.request(
        "POST",
        f"/v2/{ns}/target/blobs/uploads/",
        params={"mount": sha256(data), "from": f"{ns}/source"},
    )
    assert mounted.status_code == 201
    assert mounted.headers["Location"] == f"/v2/{ns}/target/blobs/{sha256(data)}"
    assert mounted.headers["Docker-Content-Digest"] == sha256(data)
    assert admin.blob(f"{ns}/target", sha256(data)).content == data
    # Not in the source, no source, a source that cannot be a name: an ordinary upload.
    for params in (
        {"mount": sha256(b"nope"), "from": f"{ns}/source"},
        {"mount": sha256(data)},
        {"mount": sha256(data), "from": "../x"},
    ):
        fallback = admin.request("POST", f"/v2/{ns}/third/blobs/uploads/", params=params)
        assert fallback.status_code == 202
        assert "/blobs/uploads/" in fallback.headers["Location"]
    assert admin.head_blob(f"{ns}/third", sha256(data)).status_code == 404


def test_blobs_are_readable_only_through_their_repositories(admin: RegistryClient, ns: str) -> None:
    data = os.urandom(3000)
    admin.push_blob(f"{ns}/one", data)
    assert admin.head_blob(f"{ns}/one", sha256(data)).status_code == 200
    missing = admin.blob(f"{ns}/two", sha256(data))
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_range_requests(admin: RegistryClient, ns: str) -> None:
    data = os.urandom(10_000)
    admin.push_blob(f"{ns}/app", data)
    digest = sha256(data)
    cases = {
        "bytes=500-1499": (data[500:1500], "bytes 500-1499/10000"),
        "bytes=500-": (data[500:], "bytes 500-9999/10000"),
        "bytes=-500": (data[-500:], "bytes 9500-9999/10000"),
        "bytes=2000-50000": (data[2000:], "bytes 2000-9999/10000"),
    }
    for header, (body, content_range) in cases.items():
        response = admin.blob(f"{ns}/app", digest, headers={"Range": header})
        assert response.status_code == 206, header
        assert response.content == body
        assert response.headers["Content-Range"] == content_range
    for bad in ("bytes=500-0", "bytes=10000-20000", "bytes=x-y", "lines=1-2", "bytes=-0"):
        response = admin.blob(f"{ns}/app", digest, headers={"Range": bad})
        assert response.status_code == 416, bad
        assert response.headers["Content-Range"] == "bytes */10000"
    backwards = admin.blob(f"{ns}/app", digest, headers={"Range": "bytes=5-1"})
    message = backwards.json()["errors"][0]["message"]
    assert "ends (byte 1) before it starts (byte 5)" in message
    beyond = admin.blob(f"{ns}/app", digest, headers={"Range": "bytes=10000-"})
    assert "starts beyond the 10000 bytes" in beyond.json()["errors"][0]["message"]


def test_blob_delete(acp_server: RunningServer, admin: RegistryClient, ns: str) -> None:
    data = os.urandom(1000)
    admin.push_blob(f"{ns}/app", data)
    admin.push_blob(f"{ns}/other", data)
    deleted = admin.request("DELETE", f"/v2/{ns}/app/blobs/{sha256(data)}")
    assert deleted.status_code == 202
    assert admin.head_blob(f"{ns}/app", sha256(data)).status_code == 404
    # Shared content stays readable where it is still linked.
    assert admin.blob(f"{ns}/other", sha256(data)).content == data
    again = admin.request("DELETE", f"/v2/{ns}/app/blobs/{sha256(data)}")
    assert again.status_code == 404
    events = database.audit_events(acp_server, "registry.blob.delete")
    assert any(e["details"]["digest"] == sha256(data) for e in events)


# --- manifests ---------------------------------------------------------------------------


def test_manifest_push_and_pull(admin: RegistryClient, ns: str) -> None:
    image = make_image(layers=2)
    pushed = admin.push_image(f"{ns}/app", "v1", image)
    assert pushed.status_code == 201
    assert pushed.headers["Location"] == f"/v2/{ns}/app/manifests/{image.digest}"
    assert pushed.headers["Docker-Content-Digest"] == image.digest
    assert "OCI-Subject" not in pushed.headers
    for reference in ("v1", image.digest):
        got = admin.manifest(f"{ns}/app", reference)
        assert got.status_code == 200
        assert got.content == image.manifest
        assert got.headers["Content-Type"] == OCI_MANIFEST
        assert got.headers["Docker-Content-Digest"] == image.digest
        head = admin.request("HEAD", f"/v2/{ns}/app/manifests/{reference}")
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(image.manifest))
        assert head.headers["Docker-Content-Digest"] == image.digest
    # Pushing the same tag again, or by digest, changes nothing visible.
    assert admin.put_manifest(f"{ns}/app", "v1", image.manifest).status_code == 201
    assert admin.put_manifest(f"{ns}/app", image.digest, image.manifest).status_code == 201
    assert admin.tags(f"{ns}/app").json()["tags"] == ["v1"]


def test_tag_moves_to_a_new_manifest(admin: RegistryClient, ns: str) -> None:
    first, second = make_image(), make_image()
    admin.push_image(f"{ns}/app", "latest", first)
    admin.push_image(f"{ns}/app", "latest", second)
    assert admin.manifest(f"{ns}/app", "latest").headers["Docker-Content-Digest"] == second.digest
    assert admin.manifest(f"{ns}/app", first.digest).status_code == 200


def test_push_by_digest_with_tag_parameters(admin: RegistryClient, ns: str) -> None:
    image = make_image()
    for blob in image.blobs:
        admin.push_blob(f"{ns}/app", blob)
    pushed = admin.put_manifest(
        f"{ns}/app", image.digest, image.manifest, tag=["1.0", "1", "latest"]
    )
    assert pushed.status_code == 201
    assert pushed.headers["OCI-Tag"] == "1.0, 1, latest"
    assert admin.tags(f"{ns}/app").json()["tags"] == ["1", "1.0", "latest"]


def test_docker_schema2_and_manifest_list(admin: RegistryClient, ns: str) -> None:
    amd, arm = make_image(docker=True), make_image(docker=True, architecture="arm64")
    for image in (amd, arm):
        assert admin.push_image(f"{ns}/app", image.digest, image).status_code == 201
    listing = make_index([amd, arm], DOCKER_LIST)
    assert admin.put_manifest(f"{ns}/app", "multi", listing, DOCKER_LIST).status_code == 201
    got = admin.manifest(f"{ns}/app", "multi")
    assert got.headers["Content-Type"] == DOCKER_LIST
    assert got.content == listing
    assert admin.manifest(f"{ns}/app", amd.digest).headers["Content-Type"] == DOCKER_MANIFEST


def test_oci_index_and_accept_negotiation(admin: RegistryClient, ns: str) -> None:
    amd, arm = make_image(), make_image(architecture="arm64")
    for image in (amd, arm):
        admin.push_image(f"{ns}/app", image.digest, image)
    index = make_index([amd, arm])
    assert admin.put_manifest(f"{ns}/app", "multi", index, OCI_INDEX).status_code == 201
    assert admin.manifest(f"{ns}/app", "multi", accept=OCI_INDEX).status_code == 200
    assert admin.manifest(f"{ns}/app", "multi", accept="*/*").status_code == 200
    refused = admin.manifest(f"{ns}/app", "multi", accept=f"{DOCKER_MANIFEST}, {DOCKER_LIST}")
    assert refused.status_code == 404
    assert refused.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    # By digest the client gets exactly what it named.
    by_digest = admin.manifest(f"{ns}/app", sha256(index), accept=DOCKER_MANIFEST)
    assert by_digest.status_code == 200
    assert by_digest.content == index


def test_unknown_manifest_and_repository(admin: RegistryClient, ns: str) -> None:
    admin.push_image(f"{ns}/app", "v1", make_image())
    missing_tag = admin.manifest(f"{ns}/app", "nope")
    assert missing_tag.status_code == 404
    assert missing_tag.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    missing_repo = admin.manifest(f"{ns}/never", "v1")
    assert missing_repo.status_code == 404
    assert missing_repo.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    assert admin.tags(f"{ns}/never").json()["errors"][0]["code"] == "NAME_UNKNOWN"
    ghost = f"missing-{uuid.uuid4().hex[:6]}"
    no_namespace = admin.push_blob(f"{ghost}/app", b"data")
    assert no_namespace.status_code == 404
    error = no_namespace.json()["errors"][0]
    assert error["code"] == "NAME_UNKNOWN"
    assert f"the namespace '{ghost}' does not exist" in error["message"]
    image = make_image()
    for answer in (
        admin.put_manifest(f"{ghost}/app", "v1", image.manifest),
        admin.manifest(f"{ghost}/app", "v1"),
        admin.tags(f"{ghost}/app"),
    ):
        assert answer.status_code == 404
        assert f"the namespace '{ghost}' does not exist" in answer.json()["errors"][0]["message"]


def test_a_deleted_namespace_takes_its_repositories(
    acp_server: RunningServer, admin: RegistryClient, ns: str, platform: Platform
) -> None:
    image = make_image()
    admin.push_image(f"{ns}/app", "v1", image)
    platform.delete_namespace(ns)
    gone = admin.manifest(f"{ns}/app", "v1")
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    assert admin.push_blob(f"{ns}/app", b"x").json()["errors"][0]["code"] == "NAME_UNKNOWN"
    assert not [r for r in admin.catalog().json()["repositories"] if r.startswith(f"{ns}/")]
    # A namespace created again with the same name starts empty.
    platform.namespace(ns)
    assert admin.manifest(f"{ns}/app", "v1").json()["errors"][0]["code"] == "NAME_UNKNOWN"
    assert admin.head_blob(f"{ns}/app", sha256(image.config)).status_code == 404
    assert admin.push_image(f"{ns}/app", "v1", image).status_code == 201


# --- content discovery -------------------------------------------------------------------


def test_tags_list_pagination(admin: RegistryClient, ns: str) -> None:
    image = make_image()
    for blob in image.blobs:
        admin.push_blob(f"{ns}/app", blob)
    names = ["B", "a", "a-1", "a_1", "b", "latest", "v1.0", "v10", "v2"]
    for name in names:
        assert admin.put_manifest(f"{ns}/app", name, image.manifest).status_code == 201
    ordered = sorted(names)  # bytewise: upper case first
    assert admin.tags(f"{ns}/app").json() == {"name": f"{ns}/app", "tags": ordered}
    first = admin.tags(f"{ns}/app", n=4)
    assert first.json()["tags"] == ordered[:4]
    assert first.headers["Link"] == f'</v2/{ns}/app/tags/list?n=4&last={ordered[3]}>; rel="next"'
    second = admin.request("GET", first.headers["Link"].split(">")[0][1:])
    assert second.json()["tags"] == ordered[4:8]
    third = admin.tags(f"{ns}/app", n=4, last=ordered[7])
    assert third.json()["tags"] == ordered[8:]
    assert "Link" not in third.headers
    assert (
        admin.tags(f"{ns}/app", last="latest").json()["tags"]
        == ordered[ordered.index("latest") + 1 :]
    )
    empty = admin.tags(f"{ns}/app", n=0)
    assert empty.json()["tags"] == []
    assert "Link" not in empty.headers


def test_catalog_pagination(admin: RegistryClient, ns: str) -> None:
    for name in ("c", "a", "b/x", "b"):
        admin.push_blob(f"{ns}/{name}", b"x")
    everything = admin.catalog().json()["repositories"]
    mine = [r for r in everything if r.startswith(f"{ns}/")]
    assert mine == [f"{ns}/a", f"{ns}/b", f"{ns}/b/x", f"{ns}/c"]
    assert everything == sorted(everything)
    page = admin.catalog(n=2, last=f"{ns}/a")
    assert page.json()["repositories"] == [f"{ns}/b", f"{ns}/b/x"]
    assert page.headers["Link"] == f'</v2/_catalog?n=2&last={ns}%2Fb%2Fx>; rel="next"'


def test_referrers(admin: RegistryClient, ns: str) -> None:
    repo = f"{ns}/app"
    image = make_image()
    admin.push_image(repo, "v1", image)
    sbom, empty = make_artifact(
        image.manifest, "application/vnd.example.sbom", b"sbom", kind="sbom"
    )
    signature, _ = make_artifact(image.manifest, "application/vnd.example.sig", b"sig")
    admin.push_blob(repo, empty)
    for artifact, payload in ((sbom, b"sbom"), (signature, b"sig")):
        admin.push_blob(repo, payload)
        pushed = admin.put_manifest(repo, sha256(artifact), artifact)
        assert pushed.status_code == 201
        assert pushed.headers["OCI-Subject"] == image.digest
    listed = admin.request("GET", f"/v2/{repo}/referrers/{image.digest}")
    assert listed.status_code == 200
    assert listed.headers["Content-Type"] == OCI_INDEX
    index = listed.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert by_digest[sha256(sbom)] == {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(sbom),
        "size": len(sbom),
        "artifactType": "application/vnd.example.sbom",
        "annotations": {"kind": "sbom"},
    }
    assert by_digest[sha256(signature)]["artifactType"] == "application/vnd.example.sig"
    filtered = admin.request(
        "GET",
        f"/v2/{repo}/referrers/{image.digest}",
        params={"artifactType": "application/vnd.example.sig"},
    )
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [sha256(signature)]
    # A subject pushed after its referrer, and subjects that do not exist at all.
    none = admin.request("GET", f"/v2/{repo}/referrers/{sha256(b'nothing')}")
    assert none.status_code == 200
    assert none.json()["manifests"] == []
    unknown_repo = admin.request("GET", f"/v2/{ns}/never/referrers/{image.digest}")
    assert unknown_repo.status_code == 200
    assert unknown_repo.json()["manifests"] == []


def test_referrer_may_arrive_before_its_subject(admin: RegistryClient, ns: str) -> None:
    repo = f"{ns}/app"
    image = make_image()
    artifact, empty = make_artifact(image.manifest, "application/vnd.example.x", b"p")
    admin.push_blob(repo, empty)
    admin.push_blob(repo, b"p")
    assert admin.put_manifest(repo, sha256(artifact), artifact).status_code == 201
    admin.push_image(repo, "v1", image)
    listed = admin.request("GET", f"/v2/{repo}/referrers/{image.digest}").json()
    assert [d["digest"] for d in listed["manifests"]] == [sha256(artifact)]


def test_referrers_tag_schema_fallback(admin: RegistryClient, ns: str) -> None:
    """Clients without the referrers API keep an index under the `sha256-<hex>` tag."""
    repo = f"{ns}/app"
    image = make_image()
    admin.push_image(repo, "v1", image)
    artifact, empty = make_artifact(image.manifest, "application/vnd.example.sig", b"s")
    admin.push_blob(repo, empty)
    admin.push_blob(repo, b"s")
    admin.put_manifest(repo, sha256(artifact), artifact)
    fallback_tag = "sha256-" + image.digest.split(":", 1)[1]
    assert admin.manifest(repo, fallback_tag).status_code == 404
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                descriptor(OCI_MANIFEST, artifact, artifactType="application/vnd.example.sig")
            ],
        }
    ).encode()
    assert admin.put_manifest(repo, fallback_tag, index, OCI_INDEX).status_code == 201
    got = admin.manifest(repo, fallback_tag)
    assert got.status_code == 200
    assert got.content == index


# --- content management ------------------------------------------------------------------


def test_delete_tag_deletes_that_tag_only(
    acp_server: RunningServer, admin: RegistryClient, ns: str
) -> None:
    image = make_image()
    admin.push_image(f"{ns}/app", "v1", image)
    admin.put_manifest(f"{ns}/app", "latest", image.manifest)
    deleted = admin.request("DELETE", f"/v2/{ns}/app/manifests/v1")
    assert deleted.status_code == 202
    assert admin.manifest(f"{ns}/app", "v1").status_code == 404
    assert admin.manifest(f"{ns}/app", "latest").status_code == 200
    assert admin.manifest(f"{ns}/app", image.digest).status_code == 200
    assert admin.tags(f"{ns}/app").json()["tags"] == ["latest"]
    assert admin.request("DELETE", f"/v2/{ns}/app/manifests/v1").status_code == 404
    events = database.audit_events(acp_server, "registry.tag.delete")
    assert any(e["name"] == "app:v1" and e["namespace"] == ns for e in events)


def test_delete_manifest_reports_the_tags_that_went(
    acp_server: RunningServer, admin: RegistryClient, ns: str
) -> None:
    image, other = make_image(), make_image()
    admin.push_image(f"{ns}/app", "v1", image)
    admin.put_manifest(f"{ns}/app", "stable", image.manifest)
    admin.push_image(f"{ns}/app", "v2", other)
    deleted = admin.request("DELETE", f"/v2/{ns}/app/manifests/{image.digest}")
    assert deleted.status_code == 202
    assert deleted.json() == {"digest": image.digest, "deletedTags": ["stable", "v1"]}
    for reference in ("v1", "stable", image.digest):
        assert admin.manifest(f"{ns}/app", reference).status_code == 404
    assert admin.tags(f"{ns}/app").json()["tags"] == ["v2"]
    events = database.audit_events(acp_server, "registry.manifest.delete")
    event = next(e for e in events if e["details"]["digest"] == image.digest)
    assert event["details"]["tags"] == ["stable", "v1"]
    assert event["actor"] == "admin"
    missing = admin.request("DELETE", f"/v2/{ns}/app/manifests/{image.digest}")
    assert missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert (
        admin.request("DELETE", f"/v2/{ns}/never/manifests/{image.digest}").json()["errors"][0][
            "code"
        ]
        == "NAME_UNKNOWN"
    )


def test_unsupported_methods(admin: RegistryClient, ns: str) -> None:
    response = admin.request("POST", f"/v2/{ns}/app/manifests/v1")
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert "PUT" in response.headers["Allow"]
    assert admin.request("GET", "/v2/nothing-here").status_code == 404
