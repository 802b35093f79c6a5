"""The Docker token endpoint (/auth/token) and registry tokens on /v2 (SQLite and
PostgreSQL)."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import database
from tests.support.platform import Platform
from tests.support.registry_client import RegistryClient, make_image
from tests.support.server import RunningServer


@dataclass
class Setup:
    team: str
    public: str
    other: str
    user: str
    password: str


@pytest.fixture(scope="module")
def setup(acp_server: RunningServer, admin_token: str, platform: Platform) -> Setup:
    suffix = uuid.uuid4().hex[:6]
    team, public, other = f"tok-{suffix}", f"tokpub-{suffix}", f"tokother-{suffix}"
    for ns in (team, public, other):
        platform.namespace(ns)
    user, password = f"puller-{suffix}", f"pw-{uuid.uuid4().hex}"
    acp_server.create_user(user, password, admin_token)
    platform.bind(team, "system:image-puller", user=user, name="pull")
    platform.bind(public, "system:image-puller", group="system:unauthenticated", name="public")
    with platform.registry() as admin:
        image = make_image()
        for ns in (team, public, other):
            assert admin.push_image(f"{ns}/app", "v1", image).status_code == 201
    return Setup(team, public, other, user, password)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _token(
    server: RunningServer, *scopes: str, auth: tuple[str, str] | None = None, **params: str
) -> httpx.Response:
    query = [("service", server.host), *(("scope", s) for s in scopes), *params.items()]
    return httpx.get(f"{server.url}/auth/token", params=query, auth=auth)


def test_get_grants_the_intersection_of_asked_and_allowed(
    acp_server: RunningServer, setup: Setup
) -> None:
    response = _token(
        acp_server,
        f"repository:{setup.team}/app:pull,push",
        f"repository:{setup.other}/app:pull repository:{setup.public}/app:pull,push",
        "registry:catalog:*",
        "repository:../bad:pull",
        "unknown:thing:do",
        auth=(setup.user, setup.password),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    assert "refresh_token" not in body
    claims = _claims(body["token"])
    assert claims["aud"] == acp_server.host
    assert claims["sub"] == setup.user
    assert claims["exp"] - claims["iat"] == 300
    assert sorted(claims["access"], key=lambda a: a["name"]) == sorted(
        [
            {"type": "repository", "name": f"{setup.team}/app", "actions": ["pull"]},
            {"type": "repository", "name": f"{setup.public}/app", "actions": ["pull"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ],
        key=lambda a: a["name"],
    )


def test_a_token_allows_what_it_lists_and_nothing_more(
    acp_server: RunningServer, setup: Setup
) -> None:
    token = _token(
        acp_server, f"repository:{setup.team}/app:pull", auth=(setup.user, setup.password)
    ).json()["token"]
    with RegistryClient(acp_server.url, bearer=token) as client:
        assert client.request("GET", "/v2/").status_code == 200
        assert client.manifest(f"{setup.team}/app", "v1").status_code == 200
        refused = client.push_blob(f"{setup.team}/app", b"x")
        assert refused.status_code == 401
        challenge = refused.headers["WWW-Authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert f'scope="repository:{setup.team}/app:pull,push"' in challenge
        assert f'service="{acp_server.host}"' in challenge
        # Pullable, but not listed in the token.
        assert client.manifest(f"{setup.public}/app", "v1").status_code == 401
        catalog = client.catalog()
        assert catalog.status_code == 401
        assert 'scope="registry:catalog:*"' in catalog.headers["WWW-Authenticate"]


def _challenge(server: RunningServer, request_head: bytes) -> str:
    """The WWW-Authenticate header of the answer to a request sent exactly as written."""
    answer = server.send_raw(request_head)
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    found = re.search(r"^WWW-Authenticate: (.*)$", head, re.MULTILINE | re.IGNORECASE)
    assert found, head
    return found.group(1).strip()


@pytest.mark.parametrize(
    ("host_header", "realm_host"),
    [
        ("Host: registry.example:8443\r\n", "registry.example:8443"),
        ("Host: [::1]:7000\r\n", "[::1]:7000"),
        # Anything but host[:port] names this listener instead.
        ('Host: evil.example",error="x\r\n', None),
        ("Host: evil.example/x\r\n", None),
        ("Host: \r\n", None),
    ],
)
def test_the_realm_comes_from_a_plain_host_header_only(
    acp_server: RunningServer, host_header: str, realm_host: str | None
) -> None:
    request = f"GET /v2/ HTTP/1.1\r\n{host_header}Connection: close\r\n\r\n"
    challenge = _challenge(acp_server, request.encode())
    realm = f"http://{realm_host or acp_server.host}/auth/token"
    assert challenge == f'Bearer realm="{realm}",service="{acp_server.host}"'


def test_without_a_host_header_the_realm_keeps_the_port(acp_server: RunningServer) -> None:
    challenge = _challenge(acp_server, b"GET /v2/ HTTP/1.0\r\n\r\n")
    assert challenge.startswith(f'Bearer realm="{acp_server.url}/auth/token",')


def test_catalog_with_a_catalog_token(acp_server: RunningServer, setup: Setup) -> None:
    token = _token(acp_server, "registry:catalog:*", auth=(setup.user, setup.password)).json()[
        "token"
    ]
    with RegistryClient(acp_server.url, bearer=token) as client:
        repositories = client.catalog().json()["repositories"]
    assert f"{setup.team}/app" in repositories
    assert f"{setup.public}/app" in repositories
    assert f"{setup.other}/app" not in repositories


def test_anonymous_token(acp_server: RunningServer, setup: Setup) -> None:
    response = _token(
        acp_server, f"repository:{setup.public}/app:pull,push", f"repository:{setup.team}/app:pull"
    )
    assert response.status_code == 200
    claims = _claims(response.json()["token"])
    assert claims["access"] == [
        {"type": "repository", "name": f"{setup.public}/app", "actions": ["pull"]}
    ]
    with RegistryClient(acp_server.url, bearer=response.json()["token"]) as client:
        assert client.manifest(f"{setup.public}/app", "v1").status_code == 200
        assert client.manifest(f"{setup.team}/app", "v1").status_code == 401


def test_wrong_credentials_are_refused(acp_server: RunningServer, setup: Setup) -> None:
    for auth in ((setup.user, "wrong"), (f"ghost-{uuid.uuid4().hex[:6]}", "wrong")):
        response = _token(acp_server, f"repository:{setup.team}/app:pull", auth=auth)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_grant"


def test_offline_token_and_refresh_grant(acp_server: RunningServer, setup: Setup) -> None:
    response = _token(
        acp_server, auth=(setup.user, setup.password), offline_token="true", client_id="docker"
    )
    refresh = response.json()["refresh_token"]
    assert refresh.startswith("acps_")
    refreshed = httpx.post(
        f"{acp_server.url}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": acp_server.host,
            "client_id": "docker",
            "scope": f"repository:{setup.team}/app:pull,push",
        },
    )
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["refresh_token"] == refresh
    assert body["scope"] == f"repository:{setup.team}/app:pull"
    access_token = body["access_token"]
    with RegistryClient(acp_server.url, bearer=access_token) as client:
        assert client.manifest(f"{setup.team}/app", "v1").status_code == 200
        # The refresh token is a platform session: revoking it ends what came from it.
        with acp_server.client(refresh) as api:
            assert api.post("/api/v1/logout").status_code == 204
        assert client.manifest(f"{setup.team}/app", "v1").status_code == 401
    again = httpx.post(
        f"{acp_server.url}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "service": acp_server.host},
    )
    assert again.status_code == 401


def test_oauth_password_grant(acp_server: RunningServer, setup: Setup) -> None:
    response = httpx.post(
        f"{acp_server.url}/auth/token",
        data={
            "grant_type": "password",
            "username": setup.user,
            "password": setup.password,
            "service": acp_server.host,
            "client_id": "containerd-client",
            "scope": f"repository:{setup.team}/app:pull repository:{setup.other}/app:pull",
            "access_type": "offline",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == f"repository:{setup.team}/app:pull"
    assert body["refresh_token"].startswith("acps_")
    wrong = httpx.post(
        f"{acp_server.url}/auth/token",
        data={"grant_type": "password", "username": setup.user, "password": "nope", "service": "x"},
    )
    assert wrong.status_code == 401
    unsupported = httpx.post(
        f"{acp_server.url}/auth/token", data={"grant_type": "authorization_code"}
    )
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"
    not_refresh = httpx.post(
        f"{acp_server.url}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": setup.password},
    )
    assert not_refresh.status_code == 401


def test_service_account_token_at_the_token_endpoint(
    acp_server: RunningServer, setup: Setup, platform: Platform
) -> None:
    sa = platform.serviceaccount(setup.team, "ci")
    platform.bind(
        setup.team, "system:image-pusher", serviceaccount=(setup.team, "ci"), name="ci-push"
    )
    response = _token(
        acp_server,
        f"repository:{setup.team}/app:pull,push",
        auth=("ignored", sa),
        offline_token="true",
    )
    assert response.status_code == 200
    assert response.json()["refresh_token"] == sa
    token = response.json()["token"]
    assert _claims(token)["access"][0]["actions"] == ["pull", "push"]
    with RegistryClient(acp_server.url, bearer=token) as client:
        assert client.push_blob(f"{setup.team}/app", b"from ci").status_code == 201
        platform.delete_serviceaccount(setup.team, "ci")
        assert client.manifest(f"{setup.team}/app", "v1").status_code == 401


def test_disabled_user_loses_its_tokens(
    acp_server: RunningServer, admin_token: str, setup: Setup, platform: Platform
) -> None:
    user, password = f"soon-off-{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    acp_server.create_user(user, password, admin_token)
    platform.bind(setup.team, "system:image-puller", user=user, name=f"{user}-pull")
    token = _token(acp_server, f"repository:{setup.team}/app:pull", auth=(user, password)).json()[
        "token"
    ]
    with RegistryClient(acp_server.url, bearer=token) as client:
        assert client.manifest(f"{setup.team}/app", "v1").status_code == 200
        with acp_server.client(admin_token) as api:
            assert api.patch(f"/api/v1/users/{user}", json={"disabled": True}).status_code == 200
        assert client.manifest(f"{setup.team}/app", "v1").status_code == 401


def test_expired_forged_and_misdirected_tokens(acp_server: RunningServer, setup: Setup) -> None:
    good = _token(
        acp_server, f"repository:{setup.team}/app:pull", auth=(setup.user, setup.password)
    ).json()["token"]
    claims = _claims(good)
    now = int(time.time())
    expired = database.sign_token(
        acp_server, {**claims, "iat": now - 600, "nbf": now - 600, "exp": now - 300}
    )
    other_service = database.sign_token(acp_server, {**claims, "aud": "elsewhere:5000"})
    other_cluster = database.sign_token(
        acp_server, {**claims, "acp": {**claims["acp"], "cluster": "dev"}}
    )
    header, _payload, signature = good.split(".")
    forged_claims = {
        **claims,
        "access": [{"type": "repository", "name": f"{setup.other}/app", "actions": ["pull"]}],
    }
    forged_payload = (
        base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    )
    forged = f"{header}.{forged_payload}.{signature}"
    for token in (expired, other_service, other_cluster, forged, "eyJ.not.a-token"):
        with RegistryClient(acp_server.url, bearer=token) as client:
            response = client.manifest(f"{setup.team}/app", "v1")
            assert response.status_code == 401, token
            assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    # A registry token is not a credential for the token endpoint.
    response = httpx.get(
        f"{acp_server.url}/auth/token", headers={"Authorization": f"Bearer {good}"}
    )
    assert response.status_code == 401
