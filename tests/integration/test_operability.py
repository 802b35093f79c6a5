"""What an operator watches: `/metrics` (requests by route and status, latency, bytes, uploads
in progress, auth failures) and the audit log (`GET /api/v1/audit`, `ac get auditevents`)
show a push, a refused pull, a role binding change, logins and deletes (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import make_ac
from tests.support.partial import PartialPatch
from tests.support.registry_client import RegistryClient, make_image, sha256
from tests.support.server import RunningServer

MANIFESTS = "/v2/{name}/manifests/{reference}"
UPLOAD = "/v2/{name}/blobs/uploads/{reference}"
BLOB = "/v2/{name}/blobs/{digest}"
RBAC = "/kubernetes/global/apis/rbac.authorization.k8s.io/v1"


class Metrics:
    """One scrape of /metrics, summed over the label values not asked for."""

    def __init__(self, server: RunningServer) -> None:
        response = httpx.get(f"{server.url}/metrics", verify=server.verify)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        self.samples = [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        return sum(
            value
            for sample, have, value in self.samples
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        )

    def has(self, name: str, **labels: str) -> bool:
        return any(
            sample == name and all(have.get(k) == v for k, v in labels.items())
            for sample, have, _ in self.samples
        )


@dataclass
class Team:
    namespace: str
    alice: tuple[str, str]  # pusher
    bob: tuple[str, str]  # no binding until a test adds one


def _user(server: RunningServer, token: str, name: str) -> tuple[str, str]:
    password = f"pw-{uuid.uuid4().hex}"
    server.create_user(name, password, token)
    return name, password


def _binding(name: str, role: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
    }


@pytest.fixture(scope="module")
def team(acp_server: RunningServer, admin_token: str) -> Team:
    suffix = uuid.uuid4().hex[:6]
    ns = f"ops-{suffix}"
    alice = _user(acp_server, admin_token, f"alice-{suffix}")
    bob = _user(acp_server, admin_token, f"bob-{suffix}")
    with acp_server.client(admin_token) as c:
        created = c.post(
            "/kubernetes/global/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        )
        assert created.status_code == 201, created.text
        bound = c.post(
            f"{RBAC}/namespaces/{ns}/rolebindings",
            json=_binding("alice-push", "system:image-pusher", alice[0]),
        )
        assert bound.status_code == 201, bound.text
    return Team(ns, alice, bob)


def _audit(server: RunningServer, token: str, **params: str) -> list[dict[str, Any]]:
    with server.client(token) as c:
        response = c.get("/api/v1/audit", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "AuditEventList"
    return list(body["items"])


def test_a_push_shows_in_request_latency_and_byte_metrics(
    acp_server: RunningServer, team: Team
) -> None:
    before = Metrics(acp_server)
    image = make_image(layer_size=200_000)
    with RegistryClient(acp_server.url, basic=team.alice) as alice:
        assert alice.push_image(f"{team.namespace}/app", "v1", image).status_code == 201
        assert alice.blob(f"{team.namespace}/app", sha256(image.layers[0])).status_code == 200
    after = Metrics(acp_server)

    def grew(name: str, by: float = 1, **labels: str) -> None:
        delta = after.value(name, **labels) - before.value(name, **labels)
        assert delta >= by, f"{name}{labels} grew by {delta}, expected {by}"

    # Registry requests are labelled by endpoint, not by repository.
    grew("acp_http_requests_total", route=MANIFESTS, method="PUT", status="201")
    grew("acp_http_requests_total", route="/v2/{name}/blobs/uploads/", method="POST", status="201")
    grew("acp_http_requests_total", route=BLOB, method="GET", status="200")
    assert not any("/v2/ops-" in labels.get("route", "") for _, labels, _ in after.samples)
    grew("acp_http_request_duration_seconds_count", route=MANIFESTS, method="PUT")
    assert after.has("acp_http_request_duration_seconds_bucket", route=MANIFESTS, le="0.1")
    grew("acp_http_request_bytes_total", 200_000, route="/v2/{name}/blobs/uploads/")
    grew("acp_http_response_bytes_total", 200_000, route=BLOB)
    assert after.has("acp_registry_uploads_in_progress")


def test_a_refused_pull_counts_as_an_auth_failure(acp_server: RunningServer, team: Team) -> None:
    before = Metrics(acp_server)
    with RegistryClient(acp_server.url, basic=team.bob) as bob:
        refused = bob.manifest(f"{team.namespace}/app", "v1")
    assert refused.status_code == 403
    # The anonymous first request of the token handshake is not a failure.
    assert httpx.get(f"{acp_server.url}/v2/{team.namespace}/app/tags/list").status_code == 401
    with RegistryClient(acp_server.url, basic=(team.bob[0], "wrong-password")) as wrong:
        assert wrong.manifest(f"{team.namespace}/app", "v1").status_code == 401
    after = Metrics(acp_server)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("acp_auth_failures_total", surface="registry", reason="forbidden") == 1
    assert delta("acp_auth_failures_total", surface="registry", reason="credentials") == 1
    assert delta("acp_auth_failures_total", surface="registry") == 2
    assert delta("acp_http_requests_total", route=MANIFESTS, method="GET", status="403") == 1


def test_a_wrong_password_at_the_token_endpoint_is_a_denied_login(
    acp_server: RunningServer, admin_token: str, team: Team
) -> None:
    before = Metrics(acp_server)
    refused = httpx.get(
        f"{acp_server.url}/auth/token",
        params={"service": acp_server.host, "scope": f"repository:{team.namespace}/app:pull"},
        auth=(team.bob[0], "not-the-password"),
    )
    assert refused.status_code == 401
    after = Metrics(acp_server)
    assert (
        after.value("acp_auth_failures_total", surface="token", reason="credentials")
        - before.value("acp_auth_failures_total", surface="token", reason="credentials")
        == 1
    )
    denied = _audit(acp_server, admin_token, action="login", actor=team.bob[0], outcome="denied")
    assert [e["details"].get("via") for e in denied] == ["token-endpoint"]


def test_a_role_binding_change_is_audited_and_takes_effect(
    acp_server: RunningServer, admin_token: str, team: Team
) -> None:
    start = time.time()
    with acp_server.client(admin_token) as c:
        bound = c.post(
            f"{RBAC}/namespaces/{team.namespace}/rolebindings",
            json=_binding("bob-pull", "system:image-puller", team.bob[0]),
        )
        assert bound.status_code == 201, bound.text
    with RegistryClient(acp_server.url, basic=team.bob) as bob:
        assert bob.manifest(f"{team.namespace}/app", "v1").status_code == 200
    with acp_server.client(admin_token) as c:
        gone = c.delete(f"{RBAC}/namespaces/{team.namespace}/rolebindings/bob-pull")
        assert gone.status_code == 200, gone.text

    events = _audit(acp_server, admin_token, action="rolebinding.*", namespace=team.namespace)
    changes = [(e["action"], e["name"], e["actor"]) for e in events]
    assert ("rolebinding.create", "bob-pull", "admin") in changes
    assert ("rolebinding.delete", "bob-pull", "admin") in changes
    created = next(e for e in events if e["name"] == "bob-pull")
    assert created["cluster"] == "global"
    assert created["outcome"] == "success"
    assert created["requestId"]
    assert created["time"].endswith("Z")
    # `since` as a duration includes them; a time after them excludes them.
    recent = _audit(acp_server, admin_token, action="rolebinding.*", since="1h")
    assert {e["id"] for e in events} <= {e["id"] for e in recent}
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 3600))
    assert _audit(acp_server, admin_token, namespace=team.namespace, since=later) == []


def test_logins_and_deletes_are_audited(
    acp_server: RunningServer, admin_token: str, team: Team
) -> None:
    name, password = team.alice
    token = acp_server.login(name, password)
    assert (
        httpx.post(
            f"{acp_server.url}/api/v1/login", json={"username": name, "password": "nope-nope"}
        ).status_code
        == 401
    )
    with RegistryClient(acp_server.url, basic=team.alice) as alice:
        pushed = alice.push_image(f"{team.namespace}/gone", "v1", make_image())
        assert pushed.status_code == 201
    with acp_server.client(admin_token) as c:
        deleted = c.delete(
            f"/api/registry/v1/namespaces/{team.namespace}/repositories/gone/tags/v1"
        )
        assert deleted.status_code == 200, deleted.text
        assert c.delete(f"/api/v1/users/{team.bob[0]}").status_code == 204
    with acp_server.client(token) as c:
        assert c.post("/api/v1/logout").status_code == 204

    logins = _audit(acp_server, admin_token, actor=name, action="log*")
    assert [(e["action"], e["outcome"]) for e in logins][-3:] == [
        ("login", "success"),
        ("login", "denied"),
        ("logout", "success"),
    ]
    deletes = _audit(
        acp_server, admin_token, action="registry.tag.delete", namespace=team.namespace
    )
    assert deletes
    assert deletes[-1]["actor"] == "admin"
    assert any(
        e["name"] == team.bob[0] for e in _audit(acp_server, admin_token, action="user.delete")
    )


def test_audit_pages_and_refuses_bad_parameters(
    acp_server: RunningServer, admin_token: str
) -> None:
    everything = _audit(acp_server, admin_token, limit="1000")
    assert len(everything) >= 5
    first = _audit(acp_server, admin_token, limit="2")
    with acp_server.client(admin_token) as c:
        page = c.get("/api/v1/audit", params={"limit": "2"}).json()
        following = c.get(
            "/api/v1/audit", params={"limit": "2", "continue": page["continue"]}
        ).json()
        assert [e["id"] for e in first + following["items"]] == [e["id"] for e in everything[:4]]
        for params in (
            {"since": "yesterday"},
            {"since": "999999999h"},
            {"until": "999999999d"},
            {"until": "9999-12-31T23:00:00-05:00"},
            {"limit": "0"},
            {"continue": "x"},
        ):
            bad = c.get("/api/v1/audit", params=params)
            assert bad.status_code == 400, params
            assert bad.json()["error"]["code"] == "INVALID"


def test_only_administrators_read_the_audit_log(acp_server: RunningServer, team: Team) -> None:
    assert httpx.get(f"{acp_server.url}/api/v1/audit").status_code == 401
    token = acp_server.login(*team.alice)
    with acp_server.client(token) as c:
        refused = c.get("/api/v1/audit")
    assert refused.status_code == 403
    assert "cluster-admin" in refused.json()["error"]["message"]


def test_ac_get_auditevents(
    acp_server: RunningServer, team: Team, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ac = make_ac(tmp_path_factory.mktemp("ac"))
    ac.login(acp_server)
    table = ac.ok("get", "auditevents", "--action=rolebinding.*", "-n", team.namespace)
    header, *rows = table.lines
    assert header.split() == ["TIME", "ACTOR", "ACTION", "NAMESPACE", "NAME", "OUTCOME"]
    assert any("rolebinding.create" in row and "alice-push" in row for row in rows)
    as_json = ac.ok("get", "audit", "--since=1h", "--limit=3", "-o", "json")
    assert len(json.loads(as_json.out)["items"]) == 3
    empty = ac.ok("get", "auditevents", "--actor=nobody-at-all")
    assert empty.out == ""
    assert "No audit events found." in empty.err
    ac.login(acp_server, *team.alice)
    refused = ac.fails("get", "auditevents")
    assert "audit log" in refused.err


def test_uploads_in_progress_gauge_follows_an_upload(acp_server: RunningServer, team: Team) -> None:
    data = b"x" * 300_000
    with RegistryClient(acp_server.url, basic=team.alice) as alice:
        started = alice.start_upload(f"{team.namespace}/slow")
        assert started.status_code == 202
        location = started.headers["Location"]
        with PartialPatch(acp_server, location, team.alice, data) as finish:
            _wait_for(lambda: Metrics(acp_server).value("acp_registry_uploads_in_progress") >= 1)
            finish()
        done = alice.http.put(location, params={"digest": sha256(data)})
        assert done.status_code == 201, done.text
    _wait_for(lambda: Metrics(acp_server).value("acp_registry_uploads_in_progress") == 0)


def _wait_for(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the metric never reached the expected value"
        time.sleep(0.05)


def test_malformed_requests_log_one_line_without_what_was_sent(acp_server: RunningServer) -> None:
    assert acp_server.log_path is not None
    start = acp_server.log_path.stat().st_size
    secret = "s3cr3t" * 2000
    requests = [
        f"GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n\r\n".encode(),
        b"POST /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz-not-a-size\r\n",
        f"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Bad\x01Name: {secret[:40]}\r\n\r\n".encode(),
    ]
    for request in requests:
        status_line = acp_server.send_raw(request).split(b"\r\n", 1)[0]
        assert status_line.split(b" ")[1] == b"400", (request[:60], status_line)
    deadline = time.monotonic() + 5
    while True:
        with acp_server.log_path.open("rb") as log:
            log.seek(start)
            lines = log.read().decode(errors="replace").splitlines()
        refusals = [json.loads(line) for line in lines if '"aiohttp.server"' in line]
        if len(refusals) >= len(requests) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(refusals) == len(requests), lines
    for refusal in refusals:
        assert refusal["level"] == "info"
        assert refusal["msg"].startswith("refused a malformed HTTP request from 127.0.0.1 with 400")
        assert "exc" not in refusal
    assert "s3cr3t" not in "\n".join(lines)
    assert "Traceback" not in "\n".join(lines)
