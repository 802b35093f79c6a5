"""Who may pull, push and delete: RoleBindings in the repository's namespace decide, through
Basic credentials, session and ServiceAccount tokens, registry tokens and anonymous access;
and nothing of a namespace reaches those without a binding there (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.platform import Platform
from tests.support.registry_client import Image, RegistryClient, make_image, sha256
from tests.support.server import RunningServer


@dataclass
class World:
    team: str
    other: str
    public: str
    image: Image
    secret: Image
    # role -> user name, user name -> password
    names: dict[str, str]
    passwords: dict[str, str]
    sa_token: str

    def client(self, server: RunningServer, role: str) -> RegistryClient:
        user = self.names[role]
        return RegistryClient(server.url, basic=(user, self.passwords[user]))


def _user(server: RunningServer, admin_token: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    password = f"pw-{uuid.uuid4().hex}"
    server.create_user(name, password, admin_token)
    return name, password


@pytest.fixture(scope="module")
def world(acp_server: RunningServer, admin_token: str, platform: Platform) -> World:
    suffix = uuid.uuid4().hex[:6]
    team, other, public = f"team-{suffix}", f"other-{suffix}", f"public-{suffix}"
    for ns in (team, other, public):
        platform.namespace(ns)
    passwords: dict[str, str] = {}
    roles = {
        "nobody": None,
        "puller": "system:image-puller",
        "pusher": "system:image-pusher",
        "editor": "edit",
    }
    names: dict[str, str] = {}
    for role_key, cluster_role in roles.items():
        name, password = _user(acp_server, admin_token, role_key)
        names[role_key] = name
        passwords[role_key] = password
        if cluster_role:
            platform.bind(team, cluster_role, user=name, name=f"{role_key}-binding")
    platform.bind(public, "system:image-puller", group="system:unauthenticated", name="public-pull")
    sa_token = platform.serviceaccount(team, "builder")
    platform.bind(
        team, "system:image-pusher", serviceaccount=(team, "builder"), name="builder-push"
    )
    image, secret = make_image(), make_image()
    with platform.registry() as admin:
        assert admin.push_image(f"{team}/app", "v1", image).status_code == 201
        assert admin.push_image(f"{other}/secret", "v1", secret).status_code == 201
        assert admin.push_image(f"{public}/app", "v1", image).status_code == 201
    by_user = {names[role]: password for role, password in passwords.items()}
    return World(team, other, public, image, secret, names, by_user, sa_token)


def _name(world: World, role: str) -> str:
    return world.names[role]


@pytest.fixture
def clients(acp_server: RunningServer, world: World) -> Iterator[dict[str, RegistryClient]]:
    made = {
        role: world.client(acp_server, role) for role in ("nobody", "puller", "pusher", "editor")
    }
    made["sa"] = RegistryClient(acp_server.url, basic=("anything", world.sa_token))
    made["anonymous"] = RegistryClient(acp_server.url)
    yield made
    for client in made.values():
        client.close()


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


# --- the matrix --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "pull", "push", "delete"),
    [
        ("nobody", 403, 403, 403),
        ("puller", 200, 403, 403),
        ("pusher", 200, 201, 403),
        ("sa", 200, 201, 403),
        ("editor", 200, 201, 202),
        ("anonymous", 401, 401, 401),
    ],
)
def test_pull_push_delete_matrix(
    world: World, clients: dict[str, RegistryClient], role: str, pull: int, push: int, delete: int
) -> None:
    client = clients[role]
    repo = f"{world.team}/app"
    assert client.manifest(repo, "v1").status_code == pull
    assert client.blob(repo, sha256(world.image.layers[0])).status_code == pull
    assert client.tags(repo).status_code == pull
    assert client.push_blob(repo, os.urandom(100)).status_code == push
    started = client.start_upload(repo)
    assert started.status_code == (202 if push == 201 else push)
    # Deleting a tag that only this test uses.
    clients["editor"].put_manifest(repo, f"del-{role}", world.image.manifest)
    assert client.request("DELETE", f"/v2/{repo}/manifests/del-{role}").status_code == delete
    if pull == 401:
        challenge = client.manifest(repo, "v1").headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="http://127.0.0.1:')
        assert f'scope="repository:{repo}:pull"' in challenge


def test_another_namespace_stays_invisible(
    world: World, clients: dict[str, RegistryClient]
) -> None:
    puller = clients["puller"]
    secret_repo = f"{world.other}/secret"
    catalog = puller.catalog().json()["repositories"]
    assert f"{world.team}/app" in catalog
    assert not [r for r in catalog if r.startswith(f"{world.other}/")]
    # The same refusal whether the repository, tag or namespace exists or not.
    refusals = [
        puller.manifest(secret_repo, "v1"),
        puller.manifest(secret_repo, "no-such-tag"),
        puller.manifest(f"{world.other}/no-such-repo", "v1"),
        puller.manifest(f"ghost-{uuid.uuid4().hex[:6]}/app", "v1"),
    ]
    assert {r.status_code for r in refusals} == {403}
    assert len({r.text for r in refusals}) == 1
    known_blob = puller.blob(secret_repo, sha256(world.secret.layers[0]))
    unknown_blob = puller.blob(secret_repo, sha256(b"never pushed"))
    assert known_blob.status_code == unknown_blob.status_code == 403
    assert known_blob.text == unknown_blob.text
    # The blob exists in the registry, but not in any repository the puller can read.
    assert puller.blob(f"{world.team}/app", sha256(world.secret.layers[0])).status_code == 404


def test_mount_from_an_unreadable_repository_falls_back(
    world: World, clients: dict[str, RegistryClient]
) -> None:
    pusher = clients["pusher"]
    target = f"{world.team}/mounted-{uuid.uuid4().hex[:4]}"
    secret_blob = sha256(world.secret.layers[0])
    answers = [
        pusher.request(
            "POST",
            f"/v2/{target}/blobs/uploads/",
            params={"mount": digest, "from": f"{world.other}/secret"},
        )
        for digest in (secret_blob, sha256(b"not there"))
    ]
    assert [a.status_code for a in answers] == [202, 202]
    assert all("/blobs/uploads/" in a.headers["Location"] for a in answers)
    assert pusher.head_blob(target, secret_blob).status_code == 404
    # From a readable repository, the mount works.
    readable = pusher.request(
        "POST",
        f"/v2/{target}/blobs/uploads/",
        params={"mount": sha256(world.image.layers[0]), "from": f"{world.team}/app"},
    )
    assert readable.status_code == 201


def test_catalog_and_base_for_anonymous_and_public(
    world: World, clients: dict[str, RegistryClient]
) -> None:
    anonymous = clients["anonymous"]
    assert anonymous.request("GET", "/v2/").status_code == 401
    catalog = anonymous.catalog()
    assert catalog.status_code == 401
    assert 'scope="registry:catalog:*"' in catalog.headers["WWW-Authenticate"]
    # Public namespace: anonymous pull works, push does not.
    repo = f"{world.public}/app"
    pulled = anonymous.manifest(repo, "v1")
    assert pulled.status_code == 200
    assert pulled.content == world.image.manifest
    assert anonymous.blob(repo, sha256(world.image.config)).content == world.image.config
    assert anonymous.push_blob(repo, b"nope").status_code == 401
    # What is public is public for logged-in callers too (clients always send credentials
    # once they have them), and nothing more.
    nobody = clients["nobody"]
    assert nobody.manifest(repo, "v1").status_code == 200
    assert nobody.push_blob(repo, b"nope").status_code == 403
    nobody_catalog = nobody.catalog().json()["repositories"]
    assert repo in nobody_catalog
    assert not [r for r in nobody_catalog if r.startswith((f"{world.team}/", f"{world.other}/"))]


# --- credentials that stop working -------------------------------------------------------


def test_session_token_as_password_until_revoked(acp_server: RunningServer, world: World) -> None:
    user = _name(world, "puller")
    session = acp_server.login(user, world.passwords[user])
    with RegistryClient(acp_server.url, basic=(user, session)) as client:
        assert client.manifest(f"{world.team}/app", "v1").status_code == 200
        with acp_server.client(session) as api:
            assert api.post("/api/v1/logout").status_code == 204
        refused = client.manifest(f"{world.team}/app", "v1")
        assert refused.status_code == 401
        assert _code(refused) == "UNAUTHORIZED"
    with RegistryClient(acp_server.url, bearer=session) as bearer:
        assert bearer.manifest(f"{world.team}/app", "v1").status_code == 401


def test_deleted_service_account_is_refused(
    acp_server: RunningServer, world: World, platform: Platform
) -> None:
    token = platform.serviceaccount(world.team, "short-lived")
    platform.bind(
        world.team,
        "system:image-puller",
        serviceaccount=(world.team, "short-lived"),
        name="short-lived-pull",
    )
    with RegistryClient(acp_server.url, basic=("x", token)) as client:
        assert client.manifest(f"{world.team}/app", "v1").status_code == 200
        platform.delete_serviceaccount(world.team, "short-lived")
        assert client.manifest(f"{world.team}/app", "v1").status_code == 401


def test_removed_binding_takes_effect_at_once(
    acp_server: RunningServer, admin_token: str, world: World, platform: Platform
) -> None:
    name, password = _user(acp_server, admin_token, "brief")
    platform.bind(world.team, "system:image-puller", user=name, name=f"{name}-pull")
    with RegistryClient(acp_server.url, basic=(name, password)) as client:
        assert client.manifest(f"{world.team}/app", "v1").status_code == 200
        platform.unbind(world.team, f"{name}-pull")
        assert client.manifest(f"{world.team}/app", "v1").status_code == 403


def test_wrong_password(acp_server: RunningServer, world: World) -> None:
    user = _name(world, "pusher")
    with RegistryClient(acp_server.url, basic=(user, "wrong-password")) as client:
        response = client.request("GET", "/v2/")
        assert response.status_code == 401
        assert _code(response) == "UNAUTHORIZED"
        assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
