"""Platform API: login, logout, whoami, clusters, user management (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from tests.support.server import RunningServer


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_login_returns_a_prefixed_session_token(acp_server: RunningServer) -> None:
    r = httpx.post(
        f"{acp_server.url}/api/v1/login",
        json={"username": "admin", "password": acp_server.admin_password},
    )
    assert r.status_code == 201
    body = r.json()
    assert body["token"].startswith("acps_")
    assert body["user"]["username"] == "admin"
    assert body["expiresAt"].endswith("Z")


def test_failed_login_does_not_say_whether_the_user_exists(acp_server: RunningServer) -> None:
    wrong_password = httpx.post(
        f"{acp_server.url}/api/v1/login", json={"username": "admin", "password": "nope-nope"}
    )
    no_user = httpx.post(
        f"{acp_server.url}/api/v1/login",
        json={"username": _name("ghost"), "password": "nope-nope"},
    )
    assert wrong_password.status_code == no_user.status_code == 401
    assert wrong_password.json() == no_user.json()


def test_repeated_failures_are_throttled_even_with_the_right_password(
    acp_server: RunningServer, admin_token: str
) -> None:
    user = _name("victim")
    acp_server.create_user(user, "right-password-1", admin_token)
    codes = [
        httpx.post(
            f"{acp_server.url}/api/v1/login", json={"username": user, "password": "wrong-pass"}
        ).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [401] * 5
    assert codes[5] == 429
    blocked = httpx.post(
        f"{acp_server.url}/api/v1/login", json={"username": user, "password": "right-password-1"}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[" * 30_000 + b"]" * 30_000, 400),
        (b"[1, 2]", 400),
        (b'{"username": "admin"}', 400),
        (b'{"username": 5, "password": "x"}', 400),
    ],
)
def test_malformed_login_requests_get_400(
    acp_server: RunningServer, body: bytes, status: int
) -> None:
    r = httpx.post(f"{acp_server.url}/api/v1/login", content=body)
    assert r.status_code == status
    assert r.json()["error"]["message"]


def test_whoami_with_session_and_basic(acp_server: RunningServer, admin_token: str) -> None:
    with acp_server.client(admin_token) as c:
        me = c.get("/api/v1/whoami").json()
    assert me["username"] == "admin"
    assert "system:authenticated" in me["groups"]
    assert me["authenticatedBy"] == "session"
    basic = httpx.get(
        f"{acp_server.url}/api/v1/whoami", headers=_basic("admin", acp_server.admin_password)
    ).json()
    assert basic["authenticatedBy"] == "password"


def test_logout_revokes_the_token_at_once(acp_server: RunningServer) -> None:
    token = acp_server.login()
    with acp_server.client(token) as c:
        assert c.get("/api/v1/whoami").status_code == 200
        assert c.post("/api/v1/logout").status_code == 204
        after = c.get("/api/v1/whoami")
    assert after.status_code == 401
    assert "log in again" in after.json()["error"]["message"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer acps_" + "x" * 43,
        "Bearer not-a-token",
        "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl",
        "Basic !!!",
        "Digest abc",
    ],
)
def test_forged_or_malformed_credentials_get_401(acp_server: RunningServer, header: str) -> None:
    r = httpx.get(f"{acp_server.url}/api/v1/whoami", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "UNAUTHORIZED"


def test_anonymous_whoami_is_refused(acp_server: RunningServer) -> None:
    assert httpx.get(f"{acp_server.url}/api/v1/whoami").status_code == 401


def test_clusters_lists_global_with_its_addresses(
    acp_server: RunningServer, admin_token: str
) -> None:
    with acp_server.client(admin_token) as c:
        items = c.get("/api/v1/clusters").json()["items"]
    assert items[0] == {
        "name": "global",
        "kubernetesApi": f"{acp_server.url}/kubernetes/global",
        "registryHost": acp_server.host,
        "registryUrl": acp_server.url,
        "registryApiUrl": acp_server.url,
    }


def test_user_lifecycle_by_an_admin(acp_server: RunningServer, admin_token: str) -> None:
    user = _name("bob")
    with acp_server.client(admin_token) as admin:
        created = admin.post("/api/v1/users", json={"username": user, "password": "bob-pass-1"})
        assert created.status_code == 201
        assert created.json()["disabled"] is False
        duplicate = admin.post("/api/v1/users", json={"username": user, "password": "bob-pass-1"})
        assert duplicate.status_code == 409
        assert user in [u["username"] for u in admin.get("/api/v1/users").json()["items"]]

        bob_token = acp_server.login(user, "bob-pass-1")
        disabled = admin.patch(f"/api/v1/users/{user}", json={"disabled": True})
        assert disabled.json()["disabled"] is True
        # Disabling ends the sessions and refuses the password at once.
        with acp_server.client(bob_token) as bob:
            assert bob.get("/api/v1/whoami").status_code == 401
        assert (
            httpx.get(
                f"{acp_server.url}/api/v1/whoami", headers=_basic(user, "bob-pass-1")
            ).status_code
            == 401
        )

        admin.patch(f"/api/v1/users/{user}", json={"disabled": False})
        new_password = admin.put(f"/api/v1/users/{user}/password", json={"password": "bob-pass-2"})
        assert new_password.status_code == 204
        assert acp_server.login(user, "bob-pass-2").startswith("acps_")

        assert admin.delete(f"/api/v1/users/{user}").status_code == 204
        assert admin.get(f"/api/v1/users/{user}").status_code == 404
        assert admin.delete(f"/api/v1/users/{user}").status_code == 404


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"username": "Bad_Name", "password": "long-enough"}, 422),
        ({"username": "system-x", "password": "long-enough"}, 422),
        ({"username": "shortpw", "password": "short"}, 422),
        ({"username": "grp", "password": "long-enough", "groups": ["system:masters"]}, 422),
        ({"username": "grp2", "password": "long-enough", "groups": "devs"}, 400),
    ],
)
def test_invalid_users_are_refused_and_nothing_changes(
    acp_server: RunningServer, admin_token: str, payload: dict[str, object], status: int
) -> None:
    with acp_server.client(admin_token) as admin:
        before = admin.get("/api/v1/users").json()["items"]
        r = admin.post("/api/v1/users", json=payload)
        assert r.status_code == status, r.text
        assert admin.get("/api/v1/users").json()["items"] == before


def test_non_admins_cannot_manage_users_but_can_change_their_own_password(
    acp_server: RunningServer, admin_token: str
) -> None:
    user = _name("carol")
    acp_server.create_user(user, "carol-pass-1", admin_token)
    token = acp_server.login(user, "carol-pass-1")
    with acp_server.client(token) as carol:
        assert carol.get("/api/v1/users").status_code == 403
        assert (
            carol.post(
                "/api/v1/users", json={"username": _name("x"), "password": "long-enough"}
            ).status_code
            == 403
        )
        assert carol.delete("/api/v1/users/admin").status_code == 403
        assert (
            carol.put("/api/v1/users/admin/password", json={"password": "hijacked-1"}).status_code
            == 403
        )
        wrong = carol.put(
            f"/api/v1/users/{user}/password",
            json={"password": "carol-pass-2", "currentPassword": "not-it-at-all"},
        )
        assert wrong.status_code == 401
        ok = carol.put(
            f"/api/v1/users/{user}/password",
            json={"password": "carol-pass-2", "currentPassword": "carol-pass-1"},
        )
        assert ok.status_code == 204
    assert acp_server.login(user, "carol-pass-2")


def test_openapi_document_describes_the_platform_api(acp_server: RunningServer) -> None:
    doc = httpx.get(f"{acp_server.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/v1/login",
        "/api/v1/logout",
        "/api/v1/whoami",
        "/api/v1/clusters",
        "/api/v1/users",
        "/api/v1/users/{name}",
    ):
        assert path in doc["paths"]


def test_every_response_carries_a_request_id(acp_server: RunningServer) -> None:
    r = httpx.get(f"{acp_server.url}/healthz", headers={"X-Request-Id": "trace-123"})
    assert r.headers["X-Request-Id"] == "trace-123"
    generated = httpx.get(f"{acp_server.url}/api/v1/whoami")
    assert len(generated.headers["X-Request-Id"]) == 32
