"""The Kubernetes-compatible API over plain HTTP: bad input, tokens, permissions, reviews,
audit records and namespace deletion (SQLite and PostgreSQL).

Every refusal is a `Status` with Kubernetes' reason and code, and changes nothing.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from acp.db import tables
from tests.support.database import select
from tests.support.registry_client import RegistryClient, make_image, sha256
from tests.support.server import RunningServer

RBAC = "rbac.authorization.k8s.io"
RB_PATH = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"
SA_PATH = "/api/v1/namespaces/{ns}/serviceaccounts"
TEXT_HEADERS = {"Content-Type": "application/json"}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def kube(server: RunningServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{server.url}/kubernetes/global", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def admin(acp_server: RunningServer, admin_token: str) -> Iterator[httpx.Client]:
    with kube(acp_server, admin_token) as client:
        yield client


def status_of(response: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    assert response.status_code == code, response.text
    body = response.json()
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert (body["code"], body["reason"]) == (code, reason)
    return body


def namespace(admin: httpx.Client, name: str | None = None) -> str:
    name = name or _name("ns")
    r = admin.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name


def rolebinding(name: str, role: str, *subjects: dict[str, str], kind: str = "ClusterRole"):
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role},
        "subjects": list(subjects),
    }


def user_subject(name: str) -> dict[str, str]:
    return {"kind": "User", "apiGroup": RBAC, "name": name}


def names(admin: httpx.Client, path: str) -> list[str]:
    r = admin.get(path)
    assert r.status_code == 200, r.text
    return [item["metadata"]["name"] for item in r.json()["items"]]


def new_user(server: RunningServer, admin_token: str) -> tuple[str, str]:
    """(user name, session token) of a fresh user without any binding."""
    name = _name("user")
    server.create_user(name, "a-good-password-1", admin_token)
    return name, server.login(name, "a-good-password-1")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/namespaces", {"metadata": {"name": "My_NS"}}, "metadata.name"),
        ("/api/v1/namespaces", {"metadata": {"name": "a" * 64}}, "metadata.name"),
        ("/api/v1/namespaces", {"metadata": {"name": "-lead"}}, "metadata.name"),
        ("/api/v1/namespaces", {"metadata": {}}, "metadata.name"),
        (
            "/api/v1/namespaces",
            {"metadata": {"name": "ok", "labels": {"bad key!": "v"}}},
            "metadata.labels",
        ),
        (SA_PATH, {"metadata": {"name": "Builder"}}, "metadata.name"),
        (SA_PATH, {"metadata": {"name": "under_score"}}, "metadata.name"),
        (RB_PATH, {**rolebinding("a/b", "view")}, "metadata.name"),
        (
            RB_PATH,
            {
                **rolebinding("x", ".."),
            },
            "roleRef.name",
        ),
        (
            RB_PATH,
            {
                **rolebinding("x", "view"),
                "roleRef": {"apiGroup": "wrong.io", "kind": "ClusterRole", "name": "view"},
            },
            "roleRef.apiGroup",
        ),
        (
            RB_PATH,
            {
                **rolebinding("x", "view"),
                "roleRef": {"apiGroup": RBAC, "kind": "Robot", "name": "view"},
            },
            "roleRef.kind",
        ),
        (RB_PATH, rolebinding("x", "view", {"kind": "Robot", "name": "r2d2"}), "subjects[0].kind"),
        (
            RB_PATH,
            rolebinding("x", "view", {"kind": "User", "apiGroup": "x.io", "name": "u"}),
            "subjects[0].apiGroup",
        ),
        (
            RB_PATH,
            rolebinding("x", "view", {"kind": "ServiceAccount", "name": "Bad_SA"}),
            "subjects[0].name",
        ),
        (RB_PATH, rolebinding("x", "view", {"kind": "User", "apiGroup": RBAC}), "subjects[0].name"),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
            {"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["x"]}]},
            "rules[0].verbs",
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
            {"metadata": {"name": "r"}, "rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]},
            "rules[0].nonResourceURLs",
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "metadata": {"name": _name("crb")},
                "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "view"},
            },
            "roleRef.kind",
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "metadata": {"name": _name("crb")},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "sa"}],
            },
            "subjects[0].namespace",
        ),
    ],
)
def test_invalid_objects_are_422_and_change_nothing(
    admin: httpx.Client, path: str, body: dict[str, Any], field: str
) -> None:
    ns = namespace(admin)
    collection = path.format(ns=ns)
    before = names(admin, collection)
    status = status_of(admin.post(collection, json=body), 422, "Invalid")
    assert field in [cause["field"] for cause in status["details"]["causes"]]
    assert " is invalid: " in status["message"]
    assert names(admin, collection) == before


def test_namespace_name_error_reads_like_kubernetes(admin: httpx.Client) -> None:
    status = status_of(
        admin.post("/api/v1/namespaces", json={"metadata": {"name": "My_NS"}}), 422, "Invalid"
    )
    assert status["message"].startswith(
        'Namespace "My_NS" is invalid: metadata.name: Invalid value: "My_NS": a lowercase RFC '
        "1123 label must consist of lower case alphanumeric characters or '-'"
    )
    assert status["details"]["causes"][0]["reason"] == "FieldValueInvalid"
    assert status["details"]["kind"] == "Namespace"


def test_duplicate_creates_are_409(admin: httpx.Client) -> None:
    ns = namespace(admin)
    status = status_of(
        admin.post("/api/v1/namespaces", json={"metadata": {"name": ns}}), 409, "AlreadyExists"
    )
    assert status["message"] == f'namespaces "{ns}" already exists'
    assert status["details"] == {"name": ns, "kind": "namespaces"}
    path = RB_PATH.format(ns=ns)
    first = admin.post(path, json=rolebinding("dup", "view", user_subject("a")))
    assert first.status_code == 201
    status = status_of(
        admin.post(path, json=rolebinding("dup", "edit", user_subject("b"))), 409, "AlreadyExists"
    )
    assert status["details"] == {"name": "dup", "group": RBAC, "kind": "rolebindings"}
    stored = admin.get(f"{path}/dup").json()
    assert stored["roleRef"]["name"] == "view"
    assert stored["metadata"]["uid"] == first.json()["metadata"]["uid"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/pods",
        "/api/v1/namespaces/default/pods",
        "/apis/apps/v1/deployments",
        "/apis/rbac.authorization.k8s.io/v2/roles",
        "/apis/rbac.authorization.k8s.io/v1/widgets",
        "/apis/rbac.authorization.k8s.io/v1/rolebindings/needs-a-namespace",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/x/clusterroles",
        "/api/v1/namespaces/x/serviceaccounts/a/b/c",
        "/apis/nothing.io",
        "/no/such/path",
    ],
)
def test_unknown_resources_are_404(admin: httpx.Client, path: str) -> None:
    status = status_of(admin.get(path), 404, "NotFound")
    assert status["message"] == "the server could not find the requested resource"


def test_unknown_cluster_is_404(acp_server: RunningServer, admin_token: str) -> None:
    r = httpx.get(
        f"{acp_server.url}/kubernetes/nope/api", headers={"Authorization": f"Bearer {admin_token}"}
    )
    status_of(r, 404, "NotFound")


@pytest.mark.parametrize(
    ("content_type", "body", "code", "reason", "words"),
    [
        ("application/json", b"{not json", 400, "BadRequest", "json parse error"),
        ("application/json", b"[1, 2]", 400, "BadRequest", "must be an object"),
        ("application/json", b"", 400, "BadRequest", "empty"),
        ("application/yaml", b"metadata: [unclosed", 400, "BadRequest", "error converting YAML"),
        ("application/yaml", b"a: 1\n---\nb: 2\n", 400, "BadRequest", "exactly one YAML"),
        ("application/yaml", b"a: " + b"[" * 5000 + b"]" * 5000, 400, "BadRequest", "YAML"),
        (
            "application/json",
            b'{"apiVersion": "v2", "metadata": {"name": "x"}}',
            400,
            "BadRequest",
            "the API version in the data (v2) does not match",
        ),
        (
            "application/json",
            b'{"kind": "ServiceAccount", "metadata": {"name": "x"}}',
            400,
            "BadRequest",
            "the kind in the data (ServiceAccount) does not match",
        ),
        (
            "application/json",
            b'{"kind": "Pod", "metadata": {"name": "x"}}',
            400,
            "BadRequest",
            'no kind "Pod" is registered',
        ),
        (
            "application/json",
            b'{"metadata": {"name": 5}}',
            400,
            "BadRequest",
            "cannot unmarshal number into Go struct field",
        ),
        (
            "application/json",
            b'{"metadata": {"name": "x", "labels": ["a"]}}',
            400,
            "BadRequest",
            "cannot unmarshal array",
        ),
        ("text/plain", b"name: x", 415, "UnsupportedMediaType", "unknown format"),
        ("application/vnd.kubernetes.protobuf", b"k8s\x00\xff", 400, "BadRequest", "protobuf"),
    ],
)
def test_malformed_bodies_are_refused(
    admin: httpx.Client, content_type: str, body: bytes, code: int, reason: str, words: str
) -> None:
    before = names(admin, "/api/v1/namespaces")
    r = admin.post("/api/v1/namespaces", content=body, headers={"Content-Type": content_type})
    assert words in status_of(r, code, reason)["message"]
    assert names(admin, "/api/v1/namespaces") == before


def test_yaml_bodies_are_accepted(admin: httpx.Client) -> None:
    name = _name("yaml")
    r = admin.post(
        "/api/v1/namespaces",
        content=f"metadata:\n  name: {name}\n".encode(),
        headers={"Content-Type": "application/yaml", "Accept": "application/yaml"},
    )
    assert r.status_code == 201
    assert r.headers["Content-Type"].startswith("application/yaml")
    assert f"name: {name}" in r.text


def _post_yaml(server: RunningServer, token: str, body: bytes) -> httpx.Response:
    # Any signed-in user may post a SelfSubjectAccessReview.
    with kube(server, token) as client:
        return client.post(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            content=body,
            headers={"Content-Type": "application/yaml"},
        )


def test_yaml_aliases_are_refused_at_once(acp_server: RunningServer, admin_token: str) -> None:
    _user, token = new_user(acp_server, admin_token)
    review = [
        "apiVersion: authorization.k8s.io/v1",
        "kind: SelfSubjectAccessReview",
        "spec: {resourceAttributes: {verb: get, resource: pods}}",
    ]
    # Each level refers to the one before nine times: expanded, the body would grow nine
    # times per level ("billion laughs").
    levels = ['l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 6):
        levels.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    started = time.monotonic()
    r = _post_yaml(acp_server, token, "\n".join([*levels, *review, ""]).encode())
    assert time.monotonic() - started < 2
    assert "aliases" in status_of(r, 400, "BadRequest")["message"]
    # A merge key is an alias too; an anchor without an alias is harmless.
    r = _post_yaml(acp_server, token, "\n".join([*review, "x: &a {k: 1}", "y: {<<: *a}"]).encode())
    assert "aliases" in status_of(r, 400, "BadRequest")["message"]
    r = _post_yaml(acp_server, token, "\n".join([*review, "metadata: &m {}"]).encode())
    assert r.status_code == 201, r.text


def _slowly(*pieces: bytes) -> Iterator[bytes]:
    """A body that arrives in pieces, with a pause before each but the first."""
    for i, piece in enumerate(pieces):
        if i:
            time.sleep(0.3)
        yield piece


def test_bodies_arriving_in_pieces_are_read_whole(admin: httpx.Client) -> None:
    first = _name("pieces")
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": first}})
    raw = body.encode()
    # With a Content-Length: two writes, apart in time.
    r = admin.post(
        "/api/v1/namespaces",
        content=_slowly(raw[:20], raw[20:]),
        headers={**TEXT_HEADERS, "Content-Length": str(len(raw))},
    )
    assert r.status_code == 201, r.text
    # Chunked (no Content-Length), in three pieces, one of them large.
    second = _name("chunked")
    padded = json.dumps(
        {"metadata": {"name": second, "annotations": {"note": "x" * 200_000}}}
    ).encode()
    r = admin.post(
        "/api/v1/namespaces",
        content=_slowly(padded[:10], padded[10:150_000], padded[150_000:]),
        headers=TEXT_HEADERS,
    )
    assert "Content-Length" not in r.request.headers
    assert r.status_code == 201, r.text
    assert {first, second} <= set(names(admin, "/api/v1/namespaces"))


def test_chunked_bodies_over_the_limit_are_413(admin: httpx.Client) -> None:
    before = names(admin, "/api/v1/namespaces")
    piece = b" " * (1024 * 1024)
    body = [b'{"metadata": {"name": "big"}', piece, piece, piece, piece, b"}"]
    r = admin.post("/api/v1/namespaces", content=iter(body), headers=TEXT_HEADERS)
    assert "Content-Length" not in r.request.headers
    status_of(r, 413, "RequestEntityTooLarge")
    assert names(admin, "/api/v1/namespaces") == before


def test_unknown_fields_warn_by_default_and_fail_when_strict(admin: httpx.Client) -> None:
    body = {"metadata": {"name": _name("warn")}, "spek": {}}
    r = admin.post("/api/v1/namespaces", json=body)
    assert r.status_code == 201
    assert r.headers["Warning"] == '299 - "unknown field \\"spek\\""'
    assert "spek" not in r.json()
    strict = {"metadata": {"name": _name("strict")}, "spek": {}}
    r = admin.post("/api/v1/namespaces?fieldValidation=Strict", json=strict)
    assert (
        'strict decoding error: unknown field "spek"' in status_of(r, 400, "BadRequest")["message"]
    )
    assert strict["metadata"]["name"] not in names(admin, "/api/v1/namespaces")
    r = admin.post("/api/v1/namespaces?fieldValidation=Sloppy", json=strict)
    status_of(r, 400, "BadRequest")


def test_unsupported_verbs_and_formats(admin: httpx.Client) -> None:
    ns = namespace(admin)
    status_of(admin.get(f"{RB_PATH.format(ns=ns)}?watch=true"), 405, "MethodNotAllowed")
    status_of(admin.put(RB_PATH.format(ns=ns), json={}), 405, "MethodNotAllowed")
    status_of(
        admin.get(f"/apis/image.acp.io/v1/namespaces/{ns}/imagestreams"), 405, "MethodNotAllowed"
    )
    status_of(
        admin.get("/api/v1/namespaces", headers={"Accept": "application/vnd.kubernetes.protobuf"}),
        406,
        "NotAcceptable",
    )
    r = admin.patch(
        f"/api/v1/namespaces/{ns}",
        content=b"{}",
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    status_of(r, 415, "UnsupportedMediaType")


# --- tokens ------------------------------------------------------------------------------------


def _signing_key(server: RunningServer) -> tuple[str, Any]:
    from cryptography.hazmat.primitives import serialization

    row = select(server, tables.signing_keys)[0]
    return row.kid, serialization.load_pem_private_key(row.private_key_pem.encode(), None)


def _sa_claims(server: RunningServer, namespace: str, name: str, uid: str, **changes: Any):
    now = int(time.time())
    claims = {
        "iss": f"{server.url}/kubernetes/global",
        "sub": f"system:serviceaccount:{namespace}:{name}",
        "aud": [f"{server.url}/kubernetes/global"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
        "acp.io": {"cluster": "global"},
    }
    return {**claims, **changes}


def test_tokens_missing_expired_forged_and_revoked(
    acp_server: RunningServer, admin: httpx.Client, admin_token: str
) -> None:
    ns = namespace(admin)
    sa = admin.post(SA_PATH.format(ns=ns), json={"metadata": {"name": "robot"}}).json()
    uid = sa["metadata"]["uid"]
    kid, key = _signing_key(acp_server)
    valid = jwt.encode(_sa_claims(acp_server, ns, "robot", uid), key, "ES256", {"kid": kid})
    with kube(acp_server, valid) as client:
        assert client.get(SA_PATH.format(ns=ns)).status_code == 403  # authenticated, no rights
    expired_claims = _sa_claims(acp_server, ns, "robot", uid, exp=int(time.time()) - 60)
    expired = jwt.encode(expired_claims, key, "ES256", {"kid": kid})
    forged = jwt.encode(
        _sa_claims(acp_server, ns, "robot", uid),
        ec.generate_private_key(ec.SECP256R1()),
        "ES256",
        {"kid": kid},
    )
    other_audience = jwt.encode(
        _sa_claims(acp_server, ns, "robot", uid, aud=["someone-else"]), key, "ES256", {"kid": kid}
    )
    for token in (expired, forged, other_audience, "garbage", "acps_" + "x" * 43, valid + "x"):
        with kube(acp_server, token) as client:
            status = status_of(client.get("/api/v1/namespaces"), 401, "Unauthorized")
            assert status["message"]
    with kube(acp_server) as anonymous:
        status = status_of(anonymous.get("/api/v1/namespaces"), 403, "Forbidden")
        assert status["message"] == (
            'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" '
            'in API group "" at the cluster scope'
        )
        assert anonymous.get("/version").status_code == 200
        status_of(anonymous.get("/api"), 403, "Forbidden")

    # Revoked session token.
    _user, token = new_user(acp_server, admin_token)
    with kube(acp_server, token) as client:
        assert (
            client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json={}).status_code
            == 201
        )
        assert (
            httpx.post(
                f"{acp_server.url}/api/v1/logout", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 204
        )
        status_of(
            client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json={}),
            401,
            "Unauthorized",
        )

    # A deleted ServiceAccount's tokens stop working, also once one of the same name returns.
    assert admin.delete(f"{SA_PATH.format(ns=ns)}/robot").status_code == 200
    with kube(acp_server, valid) as client:
        status_of(client.get(SA_PATH.format(ns=ns)), 401, "Unauthorized")
    admin.post(SA_PATH.format(ns=ns), json={"metadata": {"name": "robot"}})
    with kube(acp_server, valid) as client:
        status_of(client.get(SA_PATH.format(ns=ns)), 401, "Unauthorized")


def test_disabled_users_are_refused_at_authentication(
    acp_server: RunningServer, admin: httpx.Client, admin_token: str
) -> None:
    user, token = new_user(acp_server, admin_token)
    ns = namespace(admin)
    admin.post(RB_PATH.format(ns=ns), json=rolebinding("v", "view", user_subject(user)))
    with kube(acp_server, token) as client:
        assert client.get(f"/api/v1/namespaces/{ns}").status_code == 200
    with acp_server.client(admin_token) as platform:
        assert platform.patch(f"/api/v1/users/{user}", json={"disabled": True}).status_code == 200
    with kube(acp_server, token) as client:
        status_of(client.get(f"/api/v1/namespaces/{ns}"), 401, "Unauthorized")
    basic = httpx.get(
        f"{acp_server.url}/kubernetes/global/api/v1/namespaces/{ns}",
        auth=(user, "a-good-password-1"),
    )
    status_of(basic, 401, "Unauthorized")


# --- permissions -------------------------------------------------------------------------------


def test_forbidden_actions_are_403_and_change_nothing(
    acp_server: RunningServer, admin: httpx.Client, admin_token: str
) -> None:
    ns = namespace(admin)
    user, token = new_user(acp_server, admin_token)
    with kube(acp_server, token) as client:
        r = client.post(
            RB_PATH.format(ns=ns), json=rolebinding("sneaky", "cluster-admin", user_subject(user))
        )
        status = status_of(r, 403, "Forbidden")
        assert status["message"] == (
            f'rolebindings.{RBAC} is forbidden: User "{user}" cannot create resource '
            f'"rolebindings" in API group "{RBAC}" in the namespace "{ns}"'
        )
        assert status["details"] == {"group": RBAC, "kind": "rolebindings"}
        r = client.delete(f"/api/v1/namespaces/{ns}")
        assert status_of(r, 403, "Forbidden")["message"].startswith(
            f'namespaces "{ns}" is forbidden: User "{user}" cannot delete resource "namespaces"'
        )
        # The same answer whether or not the object exists.
        missing = client.get(f"{RB_PATH.format(ns=ns)}/nope")
        existing = client.get(f"{RB_PATH.format(ns=ns)}/admin")
        assert missing.status_code == existing.status_code == 403
    assert "sneaky" not in names(admin, RB_PATH.format(ns=ns))
    assert admin.get(f"/api/v1/namespaces/{ns}").status_code == 200


def test_escalation_needs_bind_or_the_permissions(
    acp_server: RunningServer, admin: httpx.Client, admin_token: str
) -> None:
    ns = namespace(admin)
    user, token = new_user(acp_server, admin_token)
    path = RB_PATH.format(ns=ns)
    admin.post(path, json=rolebinding("owner", "admin", user_subject(user)))
    with kube(acp_server, token) as client:
        r = client.post(path, json=rolebinding("up", "cluster-admin", user_subject(user)))
        status = status_of(r, 403, "Forbidden")
        assert status["message"].startswith(
            f'rolebindings.{RBAC} "up" is forbidden: user "{user}" '
            '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not '
            "currently held:\n"
        )
        assert '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}' in status["message"]
        assert (
            client.post(
                path, json=rolebinding("ok", "system:image-pusher", user_subject("x"))
            ).status_code
            == 201
        )
        # Binding a role that does not exist, without bind on it: 404 for the role.
        r = client.post(path, json=rolebinding("ghost", "no-such-role", user_subject("x")))
        assert status_of(r, 404, "NotFound")["message"] == (
            f'clusterroles.{RBAC} "no-such-role" not found'
        )
        # An update that would escalate is refused too (subjects may change, rules may not grow).
        current = client.get(f"{path}/ok").json()
        current["subjects"].append(user_subject("y"))
        assert client.put(f"{path}/ok", json=current).status_code == 200

    # With `bind` on cluster-admin in this namespace, the user may grant it there.
    binder = {
        "metadata": {"name": _name("binder")},
        "rules": [
            {
                "apiGroups": [RBAC],
                "resources": ["clusterroles"],
                "verbs": ["bind"],
                "resourceNames": ["cluster-admin"],
            }
        ],
    }
    assert admin.post(f"/apis/{RBAC}/v1/clusterroles", json=binder).status_code == 201
    admin.post(path, json=rolebinding("binder", binder["metadata"]["name"], user_subject(user)))
    with kube(acp_server, token) as client:
        r = client.post(path, json=rolebinding("granted", "cluster-admin", user_subject("z")))
        assert r.status_code == 201, r.text
    assert "up" not in names(admin, path)


def test_resource_version_conflicts_are_409(admin: httpx.Client) -> None:
    ns = namespace(admin)
    path = RB_PATH.format(ns=ns)
    created = admin.post(path, json=rolebinding("rv", "view", user_subject("a"))).json()
    fresh = dict(created, subjects=[user_subject("b")])
    updated = admin.put(f"{path}/rv", json=fresh)
    assert updated.status_code == 200
    assert updated.json()["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    stale = dict(created, subjects=[user_subject("c")])
    status = status_of(admin.put(f"{path}/rv", json=stale), 409, "Conflict")
    assert status["message"] == (
        f'Operation cannot be fulfilled on rolebindings.{RBAC} "rv": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    assert admin.get(f"{path}/rv").json()["subjects"] == [user_subject("b")]
    uid_mismatch = {"preconditions": {"uid": "not-the-uid"}}
    r = admin.request("DELETE", f"{path}/rv", json=uid_mismatch)
    status_of(r, 409, "Conflict")
    assert admin.get(f"{path}/rv").status_code == 200
    status_of(
        admin.put(f"{path}/other", json=dict(fresh, metadata={"name": "rv"})), 400, "BadRequest"
    )


def test_dry_run_changes_nothing(admin: httpx.Client) -> None:
    ns = namespace(admin)
    path = RB_PATH.format(ns=ns)
    r = admin.post(f"{path}?dryRun=All", json=rolebinding("dry", "view", user_subject("a")))
    assert r.status_code == 201
    assert r.json()["metadata"]["name"] == "dry"
    status_of(admin.get(f"{path}/dry"), 404, "NotFound")
    r = admin.delete(f"/api/v1/namespaces/{ns}?dryRun=All")
    assert r.status_code == 200
    assert admin.get(f"/api/v1/namespaces/{ns}").status_code == 200
    status_of(admin.post(f"{path}?dryRun=Maybe", json=rolebinding("d", "view")), 400, "BadRequest")


def test_generate_name_tables_and_pages(admin: httpx.Client) -> None:
    ns = namespace(admin)
    path = SA_PATH.format(ns=ns)
    made = [admin.post(path, json={"metadata": {"generateName": "bot-"}}).json() for _ in range(3)]
    assert all(m["metadata"]["name"].startswith("bot-") for m in made)
    table = admin.get(path, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert table.json()["kind"] == "Table"
    assert [c["name"] for c in table.json()["columnDefinitions"]] == ["Name", "Secrets", "Age"]
    assert len(table.json()["rows"]) == 3
    first = admin.get(f"{path}?limit=2").json()
    assert len(first["items"]) == 2
    assert first["metadata"]["remainingItemCount"] == 1
    rest = admin.get(f"{path}?limit=2&continue={first['metadata']['continue']}").json()
    listed = [i["metadata"]["name"] for i in first["items"] + rest["items"]]
    assert sorted(listed) == sorted(m["metadata"]["name"] for m in made)
    assert "continue" not in rest["metadata"]
    for token in ("%%%", base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).decode()):
        status_of(admin.get(f"{path}?limit=2&continue={token}"), 400, "BadRequest")


def test_protobuf_bodies_from_typed_clients(admin: httpx.Client) -> None:
    from tests.unit.test_kube_protocol import ROLE_BINDING_PB

    if admin.get("/api/v1/namespaces/my-ns").status_code == 404:
        namespace(admin, "my-ns")
    r = admin.post(
        RB_PATH.format(ns="my-ns"),
        content=ROLE_BINDING_PB,
        headers={
            "Content-Type": "application/vnd.kubernetes.protobuf",
            "Accept": "application/vnd.kubernetes.protobuf, application/json",
        },
    )
    assert r.status_code in (201, 409), r.text
    stored = admin.get(f"{RB_PATH.format(ns='my-ns')}/pull-alice").json()
    assert stored["roleRef"]["name"] == "system:image-puller"
    assert len(stored["subjects"]) == 3


# --- ServiceAccount tokens and reviews ----------------------------------------------------------


def test_token_requests(acp_server: RunningServer, admin: httpx.Client) -> None:
    ns = namespace(admin)
    admin.post(SA_PATH.format(ns=ns), json={"metadata": {"name": "ci"}})
    token_path = f"{SA_PATH.format(ns=ns)}/ci/token"
    r = admin.post(token_path, json={"spec": {"expirationSeconds": 3600}})
    assert r.status_code == 201
    answer = r.json()
    assert answer["kind"] == "TokenRequest"
    assert answer["apiVersion"] == "authentication.k8s.io/v1"
    expires = datetime.strptime(answer["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert 3500 < expires.replace(tzinfo=UTC).timestamp() - time.time() < 3700
    with kube(acp_server, answer["status"]["token"]) as client:
        me = client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json={}).json()
    assert me["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:ci"

    status = status_of(
        admin.post(token_path, json={"spec": {"expirationSeconds": 10}}), 422, "Invalid"
    )
    assert status["details"]["causes"][0]["field"] == "spec.expirationSeconds"
    status_of(admin.post(f"{SA_PATH.format(ns=ns)}/nobody/token", json={}), 404, "NotFound")

    # A token for another audience: TokenReview with that audience accepts it, this API not.
    custom = admin.post(token_path, json={"spec": {"audiences": ["vault"]}}).json()
    token = custom["status"]["token"]
    assert custom["spec"]["audiences"] == ["vault"]
    with kube(acp_server, token) as client:
        status_of(client.get("/version"), 401, "Unauthorized")
    review = admin.post(
        "/apis/authentication.k8s.io/v1/tokenreviews",
        json={"spec": {"token": token, "audiences": ["vault"]}},
    ).json()
    assert review["status"]["authenticated"] is True
    assert review["status"]["audiences"] == ["vault"]
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{ns}:ci"
    review = admin.post(
        "/apis/authentication.k8s.io/v1/tokenreviews", json={"spec": {"token": token}}
    ).json()
    assert review["status"]["authenticated"] is False
    review = admin.post(
        "/apis/authentication.k8s.io/v1/tokenreviews", json={"spec": {"token": "nonsense"}}
    ).json()
    assert review["status"]["authenticated"] is False


def test_access_reviews(acp_server: RunningServer, admin: httpx.Client, admin_token: str) -> None:
    ns = namespace(admin)
    admin.post(
        RB_PATH.format(ns=ns),
        json=rolebinding("pull", "system:image-puller", user_subject("alice")),
    )
    pull = {
        "namespace": ns,
        "verb": "get",
        "group": "image.acp.io",
        "resource": "imagestreams",
        "subresource": "layers",
        "name": "app",
    }
    sar = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": "alice", "resourceAttributes": pull},
    }
    answer = admin.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json=sar).json()
    assert answer["status"] == {
        "allowed": True,
        "reason": f'RBAC: allowed by RoleBinding "pull/{ns}" of ClusterRole '
        '"system:image-puller" to User "alice"',
    }
    push = dict(sar, spec={"user": "alice", "resourceAttributes": dict(pull, verb="update")})
    answer = admin.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json=push).json()
    assert answer["status"] == {"allowed": False}
    lsar = {"spec": {"user": "alice", "resourceAttributes": pull}}
    answer = admin.post(
        f"/apis/authorization.k8s.io/v1/namespaces/{ns}/localsubjectaccessreviews", json=lsar
    ).json()
    assert answer["status"]["allowed"] is True
    status_of(
        admin.post(
            "/apis/authorization.k8s.io/v1/namespaces/elsewhere/localsubjectaccessreviews",
            json=lsar,
        ),
        400,
        "BadRequest",
    )
    status_of(
        admin.post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            json={"spec": {"resourceAttributes": pull}},
        ),
        422,
        "Invalid",
    )
    status_of(
        admin.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json={"spec": {}}),
        422,
        "Invalid",
    )

    _, token = new_user(acp_server, admin_token)
    with kube(acp_server, token) as client:
        status_of(
            client.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json=sar),
            403,
            "Forbidden",
        )
        status_of(
            client.post(
                "/apis/authentication.k8s.io/v1/tokenreviews", json={"spec": {"token": token}}
            ),
            403,
            "Forbidden",
        )
        ssar = {"spec": {"resourceAttributes": pull}}
        mine = client.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=ssar)
        assert mine.status_code == 201
        assert mine.json()["status"] == {"allowed": False}
        rules = client.post(
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            json={"spec": {"namespace": ns}},
        ).json()["status"]
        assert {
            "verbs": ["create"],
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
        } in (rules["resourceRules"])
        assert (
            client.post(
                "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", json={"spec": {}}
            ).status_code
            == 400
        )
        status_of(
            client.get("/api/v1/namespaces", headers={"Impersonate-Group": "x"}), 400, "BadRequest"
        )


# --- audit and namespace deletion --------------------------------------------------------------


def test_permission_changes_are_audited(acp_server: RunningServer, admin: httpx.Client) -> None:
    ns = namespace(admin)
    admin.post(SA_PATH.format(ns=ns), json={"metadata": {"name": "audited"}})
    admin.post(f"{SA_PATH.format(ns=ns)}/audited/token", json={})
    admin.post(RB_PATH.format(ns=ns), json=rolebinding("a", "view", user_subject("u")))
    admin.patch(
        f"{RB_PATH.format(ns=ns)}/a",
        json={"metadata": {"labels": {"x": "y"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    admin.delete(f"{RB_PATH.format(ns=ns)}/a")
    admin.post(f"{RB_PATH.format(ns=ns)}?dryRun=All", json=rolebinding("b", "view"))
    admin.delete(f"/api/v1/namespaces/{ns}")
    events = select(acp_server, tables.audit_events, tables.audit_events.c.namespace == ns)
    actions = [(e.action, e.name) for e in sorted(events, key=lambda e: e.id)]
    assert actions == [
        ("namespace.create", ns),
        ("rolebinding.create", "admin"),  # the creator's admin binding
        ("serviceaccount.create", "audited"),
        ("serviceaccount.token", "audited"),
        ("rolebinding.create", "a"),
        ("rolebinding.update", "a"),
        ("rolebinding.delete", "a"),
        ("namespace.delete", ns),
    ]
    assert all(e.actor == "admin" and e.cluster == "global" for e in events)
    deleted = next(e for e in events if e.action == "namespace.delete")
    assert deleted.details["removedObjects"] == 2  # the admin binding and the ServiceAccount


def test_deleting_a_namespace_removes_its_objects_and_repositories(
    acp_server: RunningServer, admin: httpx.Client
) -> None:
    ns = namespace(admin)
    keep = namespace(admin)
    admin.post(SA_PATH.format(ns=ns), json={"metadata": {"name": "s"}})
    admin.post(RB_PATH.format(ns=ns), json=rolebinding("r", "view", user_subject("u")))
    # The same image in both namespaces: its blobs are shared on disk.
    image = make_image()
    with RegistryClient(acp_server.url, basic=("admin", acp_server.admin_password)) as oci:
        for space in (ns, keep):
            assert oci.push_image(f"{space}/app", "v1", image).status_code == 201
        assert oci.manifest(f"{ns}/app", "v1").status_code == 200  # now cached by the worker

        r = admin.delete(f"/api/v1/namespaces/{ns}")
        assert r.status_code == 200
        gone = oci.manifest(f"{ns}/app", "v1")
        assert gone.status_code == 404
        assert gone.json()["errors"][0]["code"] == "NAME_UNKNOWN"
        assert oci.manifest(f"{keep}/app", "v1").status_code == 200
        catalog = oci.catalog().json()["repositories"]
        assert f"{keep}/app" in catalog
        assert f"{ns}/app" not in catalog
    [blob] = select(acp_server, tables.blobs, tables.blobs.c.digest == sha256(image.layers[0]))
    assert blob.size == len(image.layers[0])  # content stays for garbage collection
    assert r.json()["kind"] == "Namespace"
    assert r.json()["status"] == {"phase": "Terminating"}
    status_of(admin.get(f"/api/v1/namespaces/{ns}"), 404, "NotFound")
    assert names(admin, SA_PATH.format(ns=ns)) == []
    assert names(admin, RB_PATH.format(ns=ns)) == []
    # A namespace of the same name starts empty.
    namespace(admin, ns)
    assert names(admin, RB_PATH.format(ns=ns)) == ["admin"]
