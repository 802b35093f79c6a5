"""Bad input on every registry endpoint gets the spec's error code and changes nothing
(SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.platform import Platform
from tests.support.registry_client import (
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    RegistryClient,
    descriptor,
    make_image,
    make_index,
    sha256,
)
from tests.support.server import RunningServer

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def admin(platform: Platform) -> Iterator[RegistryClient]:
    with platform.registry() as client:
        yield client


@pytest.fixture
def ns(acp_server: RunningServer, platform: Platform) -> str:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    platform.namespace(name)
    return name


def _code(response: httpx.Response | _RawResponse) -> str:
    return str(response.json()["errors"][0]["code"])


def _state(admin: RegistryClient, ns: str) -> dict[str, Any]:
    """Everything a client can see of a namespace: repositories and their tags."""
    repositories = [r for r in admin.catalog().json()["repositories"] if r.startswith(f"{ns}/")]
    return {r: admin.tags(r).json()["tags"] for r in repositories}


def _seed(admin: RegistryClient, ns: str) -> None:
    assert admin.push_image(f"{ns}/app", "v1", make_image()).status_code == 201


# --- names -------------------------------------------------------------------------------

BAD_NAMES = ["../x", "My-NS/app", "{ns}//app", "{ns}/" + "a" * 300, "app", "{ns}/App", "{ns}/a..b"]


@pytest.mark.parametrize("raw_name", BAD_NAMES)
def test_invalid_names_on_every_endpoint(
    acp_server: RunningServer, admin: RegistryClient, ns: str, raw_name: str
) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    name = raw_name.format(ns=ns)
    digest = sha256(b"data")
    requests = [
        ("GET", f"/v2/{name}/manifests/v1", {}),
        ("HEAD", f"/v2/{name}/manifests/v1", {}),
        ("PUT", f"/v2/{name}/manifests/v1", {"content": make_image().manifest}),
        ("DELETE", f"/v2/{name}/manifests/v1", {}),
        ("GET", f"/v2/{name}/blobs/{digest}", {}),
        ("HEAD", f"/v2/{name}/blobs/{digest}", {}),
        ("DELETE", f"/v2/{name}/blobs/{digest}", {}),
        ("POST", f"/v2/{name}/blobs/uploads/", {}),
        ("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", {"content": b"data"}),
        ("PATCH", f"/v2/{name}/blobs/uploads/{uuid.uuid4()}", {"content": b"data"}),
        ("GET", f"/v2/{name}/tags/list", {}),
        ("GET", f"/v2/{name}/referrers/{digest}", {}),
    ]
    for method, path, kwargs in requests:
        # Raw requests, so that httpx does not normalise "../" away.
        response = _raw(acp_server, method, path, **kwargs)
        if method == "HEAD":
            # No body to explain a 400: "not here", so clients go on to a request that can.
            assert response.status_code == 404, (method, path)
        else:
            assert response.status_code == 400, (method, path, response.text)
            assert _code(response) == "NAME_INVALID", (method, path)
    assert _state(admin, ns) == before


def _raw(server: RunningServer, method: str, path: str, content: bytes = b"") -> _RawResponse:
    """A request sent exactly as written (httpx would normalise "../" away)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        token = base64.b64encode(f"admin:{server.admin_password}".encode()).decode()
        connection.request(method, path, body=content, headers={"Authorization": f"Basic {token}"})
        response = connection.getresponse()
        return _RawResponse(response.status, response.read())
    finally:
        connection.close()


@dataclass
class _RawResponse:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


# --- digests and blob uploads ------------------------------------------------------------


def test_monolithic_upload_with_the_wrong_digest(admin: RegistryClient, ns: str) -> None:
    before = _state(admin, ns)
    wrong = sha256(b"something else")
    response = admin.request(
        "POST", f"/v2/{ns}/new/blobs/uploads/", params={"digest": wrong}, content=b"data"
    )
    assert response.status_code == 400
    assert _code(response) == "DIGEST_INVALID"
    assert admin.head_blob(f"{ns}/new", wrong).status_code == 404
    assert admin.head_blob(f"{ns}/new", sha256(b"data")).status_code == 404
    # The first push failed, so the repository was not created either.
    assert _state(admin, ns) == before


def test_a_body_cut_short_ends_the_request_and_keeps_the_upload(
    acp_server: RunningServer, admin: RegistryClient, ns: str
) -> None:
    """A client that announces more than it sends and hangs up: nothing is stored, nothing
    fails on the server, and the upload stays where it was and can go on."""
    assert acp_server.log_path is not None
    logged_before = len(acp_server.log_path.read_text())
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    token = base64.b64encode(f"admin:{acp_server.admin_password}".encode()).decode()
    for size in (1000, 6 * MiB):  # through the small path and through the threaded one
        with socket.create_connection(("127.0.0.1", acp_server.port), timeout=30) as sock:
            sock.sendall(
                f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Basic {token}\r\nContent-Length: {size + 10}\r\n\r\n".encode()
                + os.urandom(size)
            )
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):  # whatever the server answers before it hangs up
                pass
        assert admin.request("GET", location).headers["Range"] == "0-0"
    assert "Traceback" not in acp_server.log_path.read_text()[logged_before:]
    # The cut-short request may still be winding down (it holds the upload until then):
    # meanwhile the answer is 416, "ask for the status and retry".
    deadline = time.monotonic() + 10
    while (status := admin.request("PATCH", location, content=b"abc").status_code) == 416:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status == 202
    assert admin.request("GET", location).headers["Range"] == "0-2"


def test_bodiless_monolithic_uploads_and_patches(admin: RegistryClient, ns: str) -> None:
    """No body at all: the empty blob when its digest is given, DIGEST_INVALID otherwise;
    an empty PATCH leaves the upload where it was."""
    empty = sha256(b"")
    wrong = sha256(b"not empty")
    response = admin.request("POST", f"/v2/{ns}/app/blobs/uploads/", params={"digest": wrong})
    assert response.status_code == 400
    assert _code(response) == "DIGEST_INVALID"
    response = admin.request("POST", f"/v2/{ns}/app/blobs/uploads/", params={"digest": empty})
    assert response.status_code == 201
    assert admin.head_blob(f"{ns}/app", empty).headers["Content-Length"] == "0"
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    assert admin.request("PATCH", location).status_code == 202
    assert admin.request("GET", location).headers["Range"] == "0-0"


@pytest.mark.parametrize(
    "digest", ["sha256:xyz", "md5:" + "a" * 32, "sha256:" + "A" * 64, "nonsense", ""]
)
def test_malformed_digests(admin: RegistryClient, ns: str, digest: str) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    responses = [
        admin.request(
            "POST", f"/v2/{ns}/app/blobs/uploads/", params={"digest": digest}, content=b"x"
        ),
        admin.request("GET", f"/v2/{ns}/app/referrers/{digest}") if digest else None,
    ]
    if digest and ":" in digest:
        responses += [
            admin.request("GET", f"/v2/{ns}/app/blobs/{digest}"),
            admin.request("GET", f"/v2/{ns}/app/manifests/{digest}"),
            admin.request(
                "POST",
                f"/v2/{ns}/app/blobs/uploads/",
                params={"mount": digest, "from": f"{ns}/app"},
            ),
        ]
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    responses.append(admin.request("PUT", location, params={"digest": digest}, content=b"x"))
    for response in responses:
        if response is None:
            continue
        assert response.status_code == 400, response.request.url
        assert _code(response) == "DIGEST_INVALID"
    assert _state(admin, ns) == before


def test_unsupported_digest_algorithm_for_a_session(admin: RegistryClient, ns: str) -> None:
    response = admin.start_upload(f"{ns}/app", **{"digest-algorithm": "md5"})
    assert response.status_code == 400
    assert _code(response) == "DIGEST_INVALID"


def test_closing_an_upload_with_the_wrong_digest(admin: RegistryClient, ns: str) -> None:
    before = _state(admin, ns)
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    admin.request("PATCH", location, content=b"real content")
    wrong = sha256(b"claimed content")
    response = admin.request("PUT", location, params={"digest": wrong})
    assert response.status_code == 400
    assert _code(response) == "DIGEST_INVALID"
    assert admin.head_blob(f"{ns}/app", wrong).status_code == 404
    assert admin.head_blob(f"{ns}/app", sha256(b"real content")).status_code == 404
    assert admin.request("GET", location).status_code == 404  # the session ended
    assert _state(admin, ns) == before


def test_closing_without_a_digest(admin: RegistryClient, ns: str) -> None:
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    response = admin.request("PUT", location, content=b"x")
    assert response.status_code == 400
    assert _code(response) == "DIGEST_INVALID"
    assert admin.request("GET", location).headers["Range"] == "0-0"


def test_out_of_order_and_overlapping_chunks(admin: RegistryClient, ns: str) -> None:
    data = os.urandom(30_000)
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    ok = admin.request(
        "PATCH", location, content=data[:10_000], headers={"Content-Range": "0-9999"}
    )
    assert ok.status_code == 202
    for start, end in ((20_000, 29_999), (5_000, 14_999), (0, 9_999), (10_001, 10_100)):
        response = admin.request(
            "PATCH",
            location,
            content=data[start : end + 1],
            headers={"Content-Range": f"{start}-{end}"},
        )
        assert response.status_code == 416, (start, end)
        assert _code(response) == "BLOB_UPLOAD_INVALID"
        assert response.headers["Range"] == "0-9999"
        assert response.headers["Location"] == location
    # Also when the out-of-order chunk comes with the closing PUT.
    closing = admin.request(
        "PUT",
        location,
        params={"digest": sha256(data)},
        content=data[20_000:],
        headers={"Content-Range": "20000-29999"},
    )
    assert closing.status_code == 416
    status = admin.request("GET", location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-9999"
    # The upload goes on from where it really stands.
    rest = admin.request(
        "PATCH", location, content=data[10_000:], headers={"Content-Range": "10000-29999"}
    )
    assert rest.status_code == 202
    assert admin.request("PUT", location, params={"digest": sha256(data)}).status_code == 201
    assert admin.blob(f"{ns}/app", sha256(data)).content == data


def test_malformed_and_inconsistent_content_range(admin: RegistryClient, ns: str) -> None:
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    malformed = admin.request(
        "PATCH", location, content=b"abc", headers={"Content-Range": "zero-2"}
    )
    assert malformed.status_code == 400
    assert _code(malformed) == "BLOB_UPLOAD_INVALID"
    backwards = admin.request("PATCH", location, content=b"abc", headers={"Content-Range": "2-0"})
    assert backwards.status_code == 416
    wrong_length = admin.request(
        "PATCH", location, content=b"abc", headers={"Content-Range": "0-9"}
    )
    assert wrong_length.status_code == 400
    assert _code(wrong_length) == "SIZE_INVALID"
    assert admin.request("GET", location).headers["Range"] == "0-0"


def test_unknown_uploads(
    acp_server: RunningServer, admin: RegistryClient, ns: str, platform: Platform
) -> None:
    other = f"bad-{uuid.uuid4().hex[:8]}"
    platform.namespace(other)
    location = admin.start_upload(f"{ns}/app").headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    for path in (
        f"/v2/{ns}/app/blobs/uploads/{uuid.uuid4()}",
        f"/v2/{ns}/app/blobs/uploads/not-a-uuid",
        f"/v2/{ns}/other/blobs/uploads/{upload_id}",  # another repository's upload
        f"/v2/{other}/app/blobs/uploads/{upload_id}",
    ):
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            params = {"digest": sha256(b"x")} if method == "PUT" else {}
            response = admin.request(
                method, path, params=params, content=b"x" if method != "GET" else None
            )
            assert response.status_code == 404, (method, path)
            assert _code(response) == "BLOB_UPLOAD_UNKNOWN"
    # The real one is untouched.
    assert admin.request("GET", location).status_code == 204


# --- manifests ---------------------------------------------------------------------------


def _with_blobs(admin: RegistryClient, repo: str) -> Any:
    image = make_image()
    for blob in image.blobs:
        admin.push_blob(repo, blob)
    return image


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", OCI_MANIFEST),
        (b"", OCI_MANIFEST),
        (b"[1, 2]", OCI_MANIFEST),
        (
            b'{"schemaVersion": 1, "name": "x"}',
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
        (b'{"schemaVersion": 2, "config": {}, "layers": []}', OCI_MANIFEST),
        # Nested deeper than Python's JSON decoder recurses.
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, OCI_MANIFEST),
    ],
)
def test_malformed_manifests(
    admin: RegistryClient, ns: str, body: bytes, content_type: str
) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    response = admin.put_manifest(f"{ns}/app", "broken", body, content_type)
    assert response.status_code == 400
    assert _code(response) == "MANIFEST_INVALID"
    assert admin.manifest(f"{ns}/app", sha256(body)).status_code == 404
    assert _state(admin, ns) == before


def test_unknown_media_types(admin: RegistryClient, ns: str) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    image = _with_blobs(admin, f"{ns}/app")
    as_unknown = admin.put_manifest(
        f"{ns}/app", "x", image.manifest, "application/vnd.example.thing+json"
    )
    assert as_unknown.status_code == 400
    assert _code(as_unknown) == "MANIFEST_INVALID"
    declared = json.loads(image.manifest)
    declared["mediaType"] = "application/vnd.example.thing+json"
    body = json.dumps(declared).encode()
    in_body = admin.put_manifest(f"{ns}/app", "x", body, "application/json")
    assert in_body.status_code == 400
    mismatch = admin.put_manifest(f"{ns}/app", "x", image.manifest, OCI_INDEX)
    assert mismatch.status_code == 400
    assert _code(mismatch) == "MANIFEST_INVALID"
    assert _state(admin, ns) == before


def test_missing_referenced_blobs(admin: RegistryClient, ns: str) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    image = make_image(layers=2)
    admin.push_blob(f"{ns}/app", image.layers[0])  # config and the second layer are missing
    response = admin.put_manifest(f"{ns}/app", "v2", image.manifest)
    assert response.status_code == 400
    reported = {e["detail"]["digest"] for e in response.json()["errors"]}
    assert {e["code"] for e in response.json()["errors"]} == {"MANIFEST_BLOB_UNKNOWN"}
    assert reported == {sha256(image.config), sha256(image.layers[1])}
    assert admin.manifest(f"{ns}/app", image.digest).status_code == 404
    # Blobs of another repository do not count.
    for blob in image.blobs:
        admin.push_blob(f"{ns}/elsewhere", blob)
    assert admin.put_manifest(f"{ns}/app", "v2", image.manifest).status_code == 400
    assert _state(admin, ns) == {**before, f"{ns}/elsewhere": []}


def test_missing_child_manifests(admin: RegistryClient, ns: str) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    child = make_image()
    index = make_index([child])
    response = admin.put_manifest(f"{ns}/app", "multi", index, OCI_INDEX)
    assert response.status_code == 400
    assert _code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert response.json()["errors"][0]["detail"]["digest"] == child.digest
    assert _state(admin, ns) == before


def test_manifest_digest_mismatch(admin: RegistryClient, ns: str) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    image = _with_blobs(admin, f"{ns}/app")
    response = admin.put_manifest(f"{ns}/app", sha256(b"another manifest"), image.manifest)
    assert response.status_code == 400
    assert _code(response) == "DIGEST_INVALID"
    assert admin.manifest(f"{ns}/app", image.digest).status_code == 404
    assert _state(admin, ns) == before


def _image_document(image: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(image.manifest)
    return document


def _refused(admin: RegistryClient, ns: str, document: dict[str, Any], words: str = "") -> str:
    """The message of the 400 MANIFEST_INVALID that refuses `document`."""
    body = json.dumps(document).encode()
    response = admin.put_manifest(f"{ns}/app", "sized", body, document["mediaType"])
    assert response.status_code == 400, response.text
    assert _code(response) == "MANIFEST_INVALID"
    message = str(response.json()["errors"][0]["message"])
    assert words in message
    assert admin.manifest(f"{ns}/app", sha256(body)).status_code == 404
    return message


@pytest.mark.parametrize("size", [10**30, 2**63, -1])
def test_descriptor_sizes_beyond_the_database(admin: RegistryClient, ns: str, size: int) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    image = _with_blobs(admin, f"{ns}/app")
    for where in ("config", "layers"):
        document = _image_document(image)
        if where == "config":
            document["config"]["size"] = size
        else:
            document["layers"][0]["size"] = size
        _refused(admin, ns, document, "size")
    index = json.loads(make_index([image]))
    index["manifests"][0]["size"] = size
    _refused(admin, ns, index, "size")
    document = _image_document(image)
    document["subject"] = {**document["config"], "mediaType": OCI_MANIFEST, "size": size}
    _refused(admin, ns, document, "size")
    assert _state(admin, ns) == before


def test_descriptor_sizes_must_match_the_stored_content(admin: RegistryClient, ns: str) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    image = _with_blobs(admin, f"{ns}/app")
    config = sha256(image.config)
    for size in (999, 2**63 - 1, 0):
        document = _image_document(image)
        document["config"]["size"] = size
        message = _refused(admin, ns, document, f"{config} gives size {size}")
        assert f"is {len(image.config)} bytes" in message
    document = _image_document(image)
    document["layers"][0]["size"] += 1
    _refused(admin, ns, document, sha256(image.layers[0]))
    # Config and layers each claiming the largest size (the sum would not fit).
    document = _image_document(image)
    document["config"]["size"] = document["layers"][0]["size"] = 2**63 - 1
    _refused(admin, ns, document, "gives size")
    # An index entry must give its child manifest's length.
    assert admin.put_manifest(f"{ns}/app", image.digest, image.manifest).status_code == 201
    index = json.loads(make_index([image]))
    index["manifests"][0]["size"] = len(image.manifest) + 1
    _refused(admin, ns, index, f"{image.digest} gives size {len(image.manifest) + 1}")
    # With the right sizes, everything goes in; the sizes stored are the real ones.
    assert admin.put_manifest(f"{ns}/app", "sized", image.manifest).status_code == 201
    index_body = make_index([image])
    assert admin.put_manifest(f"{ns}/app", "multi", index_body, OCI_INDEX).status_code == 201
    assert _state(admin, ns) == {
        **before,
        f"{ns}/app": sorted([*before[f"{ns}/app"], "multi", "sized"]),
    }


FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"


def test_only_foreign_layers_may_be_elsewhere(admin: RegistryClient, ns: str) -> None:
    _seed(admin, ns)
    image = _with_blobs(admin, f"{ns}/app")
    elsewhere = descriptor(OCI_LAYER, b"never pushed", urls=["https://example.com/layer"])
    # An ordinary layer with `urls` must still be in the repository.
    document = _image_document(image)
    document["layers"].append(elsewhere)
    body = json.dumps(document).encode()
    response = admin.put_manifest(f"{ns}/app", "urls", body)
    assert response.status_code == 400, response.text
    assert _code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert response.json()["errors"][0]["detail"]["digest"] == elsewhere["digest"]
    # So must a foreign layer without any.
    document["layers"][-1] = {**elsewhere, "mediaType": NONDISTRIBUTABLE, "urls": []}
    response = admin.put_manifest(f"{ns}/app", "urls", json.dumps(document).encode())
    assert _code(response) == "MANIFEST_BLOB_UNKNOWN"
    # Foreign and non-distributable layers with URLs are fetched from there.
    for media_type in (FOREIGN, NONDISTRIBUTABLE):
        document["layers"][-1] = {**elsewhere, "mediaType": media_type}
        body = json.dumps(document).encode()
        response = admin.put_manifest(f"{ns}/app", "urls", body)
        assert response.status_code == 201, response.text
    # Their sizes cannot be checked, but the total must still fit.
    document["layers"][-1]["size"] = 2**63 - 1
    document["layers"].append({**document["layers"][-1], "digest": sha256(b"another")})
    _refused(admin, ns, document, "add up")


def test_oversized_manifests(admin: RegistryClient, ns: str) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    admin.push_blob(f"{ns}/app", config)
    padding = "x" * (4 * MiB)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [],
            "annotations": {"padding": padding},
        }
    ).encode()
    response = admin.put_manifest(f"{ns}/app", "huge", body)
    assert response.status_code == 413
    assert _code(response) == "MANIFEST_INVALID"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    streamed = admin.request(
        "PUT",
        f"/v2/{ns}/app/manifests/huge",
        content=chunks(),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert streamed.status_code == 413
    assert _state(admin, ns) == before


def test_invalid_tags(admin: RegistryClient, ns: str) -> None:
    _seed(admin, ns)
    before = _state(admin, ns)
    image = _with_blobs(admin, f"{ns}/app")
    for tag in (".hidden", "-dash", "a" * 129, "bad!tag"):
        response = admin.put_manifest(f"{ns}/app", tag, image.manifest)
        assert response.status_code == 400, tag
        assert _code(response) == "TAG_INVALID"
    by_digest = admin.put_manifest(f"{ns}/app", image.digest, image.manifest, tag=["ok", "no!"])
    assert by_digest.status_code == 400
    assert _code(by_digest) == "TAG_INVALID"
    assert _state(admin, ns) == before


# --- listings ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", ["-1", "abc", "1e3", "99999999999"])
def test_bad_page_sizes(admin: RegistryClient, ns: str, n: str) -> None:
    _seed(admin, ns)
    for response in (admin.tags(f"{ns}/app", n=n), admin.catalog(n=n)):
        assert response.status_code == 400
        assert _code(response) == "UNSUPPORTED"
