"""Commands against an in-process fake server: the requests they send and what they print."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from acp.cli import http
from acp.cli.kubeconfig import ClusterInfo, KubeConfig, Session
from acp.cli.main import main

KUBE = "https://acp.example.com/kubernetes/global"
REGISTRY_API = "https://registry.example.com"
DIGEST = "sha256:" + "ab" * 32


@dataclass
class Run:
    code: int
    out: str
    err: str
    requests: list[httpx.Request] = field(default_factory=list)

    def bodies(self) -> list[object]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Run]:
    path = tmp_path / "config"
    config = KubeConfig(path)
    config.put_session(
        Session(
            "work",
            "https://acp.example.com",
            "alice",
            "acps_token",
            "2999-01-01T00:00:00Z",
            [ClusterInfo("global", KUBE, "registry.example.com", REGISTRY_API, REGISTRY_API)],
        )
    )
    config.use("work", "global")
    config.set_namespace("work/global", "ctx-ns")
    config.save()
    for key in ("AC_REGISTRY_URL", "AC_PLATFORM_URL", "AC_CLUSTER"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setenv("AC_SERVICEACCOUNT_DIR", str(tmp_path / "none"))

    def invoke(*argv: str, handler: Handler | None = None) -> Run:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            if handler is None:
                return httpx.Response(500, json={"error": {"code": "X", "message": "unexpected"}})
            return handler(request)

        http.use_transport(httpx.MockTransport(record))
        try:
            with pytest.raises(SystemExit) as exited:
                main(list(argv))
        finally:
            http.use_transport(None)
        captured = capsys.readouterr()
        return Run(int(exited.value.code or 0), captured.out, captured.err, seen)

    return invoke


def created(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    body["metadata"]["uid"] = "u-1"
    return httpx.Response(201, json=body)


def test_seed_rolebinding_for_a_user(run: Callable[..., Run]) -> None:
    result = run(
        "create", "rolebinding", "pull-alice", "--clusterrole=system:image-puller",
        "--user=alice", "-n", "my-ns", handler=created,
    )  # fmt: skip
    assert result.code == 0
    assert result.out == "rolebinding.rbac.authorization.k8s.io/pull-alice created\n"
    [request] = result.requests
    assert request.method == "POST"
    assert (
        str(request.url)
        == f"{KUBE}/apis/rbac.authorization.k8s.io/v1/namespaces/my-ns/rolebindings"
    )
    assert request.headers["Authorization"] == "Bearer acps_token"
    assert json.loads(request.content) == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "pull-alice", "namespace": "my-ns"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:image-puller",
        },
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}],
    }


def test_seed_rolebinding_for_a_serviceaccount_with_repeated_subjects(
    run: Callable[..., Run],
) -> None:
    result = run(
        "create", "rolebinding", "push", "--clusterrole=system:image-pusher",
        "--serviceaccount=my-ns:builder", "--serviceaccount=other:ci", "--group=team",
        "--namespace=my-ns", handler=created,
    )  # fmt: skip
    assert result.code == 0
    subjects = json.loads(result.requests[0].content)["subjects"]
    assert [(s["kind"], s["name"]) for s in subjects] == [
        ("Group", "team"),
        ("ServiceAccount", "builder"),
        ("ServiceAccount", "ci"),
    ]


def test_client_dry_run_sends_nothing(run: Callable[..., Run]) -> None:
    result = run("create", "ns", "new-ns", "--dry-run=client", "-o", "yaml")
    assert result.code == 0
    assert result.requests == []
    assert result.out == "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: new-ns\n"
    bare = run("create", "namespace", "new-ns", "--dry-run")
    assert bare.out == "namespace/new-ns created (dry run)\n"


def test_server_dry_run_asks_the_server(run: Callable[..., Run]) -> None:
    result = run("create", "sa", "builder", "--dry-run=server", handler=created)
    assert result.out == "serviceaccount/builder created (server dry run)\n"
    request = result.requests[0]
    assert request.url.params["dryRun"] == "All"
    assert request.url.path.endswith("/api/v1/namespaces/ctx-ns/serviceaccounts")


def test_forbidden_names_the_role_to_ask_for(run: Callable[..., Run]) -> None:
    def forbidden(_request: httpx.Request) -> httpx.Response:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": "Forbidden",
            "code": 403,
            "message": 'rolebindings.rbac.authorization.k8s.io is forbidden: User "alice" cannot '
            'create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the '
            'namespace "my-ns"',
        }
        return httpx.Response(403, json=status)

    result = run(
        "create",
        "rolebinding",
        "x",
        "--clusterrole=view",
        "--user=bob",
        "-n",
        "my-ns",
        handler=forbidden,
    )
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "admin role in namespace 'my-ns'" in result.err


def test_get_namespaces_table_and_name(run: Callable[..., Run]) -> None:
    items = {
        "kind": "NamespaceList",
        "items": [
            {
                "metadata": {"name": "a", "creationTimestamp": "2000-01-01T00:00:00Z"},
                "status": {"phase": "Active"},
            },
            {"metadata": {"name": "bbbb", "creationTimestamp": "2000-01-01T00:00:00Z"}},
        ],
    }

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=items)

    table = run("get", "ns", handler=handler)
    assert table.out.splitlines()[0].split() == ["NAME", "STATUS", "AGE"]
    assert table.out.splitlines()[1].startswith("a      Active   ")
    assert table.requests[0].url.path == "/kubernetes/global/api/v1/namespaces"
    assert (
        run("get", "namespaces", "-o", "name", handler=handler).out
        == "namespace/a\nnamespace/bbbb\n"
    )
    as_json = json.loads(run("get", "namespace", "-o", "json", handler=handler).out)
    assert as_json["kind"] == "List"
    assert as_json["items"][0]["kind"] == "Namespace"


def test_get_serviceaccounts_uses_the_context_namespace(run: Callable[..., Run]) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": []})

    result = run("get", "sa", handler=handler)
    assert (
        result.requests[0].url.path == "/kubernetes/global/api/v1/namespaces/ctx-ns/serviceaccounts"
    )
    assert result.err == "No resources found in ctx-ns namespace.\n"
    everywhere = run("get", "serviceaccounts", "-A", handler=handler)
    assert everywhere.requests[0].url.path == "/kubernetes/global/api/v1/serviceaccounts"


def test_delete_rolebinding(run: Callable[..., Run]) -> None:
    result = run(
        "delete",
        "rolebinding",
        "a",
        "b",
        "-n",
        "my-ns",
        handler=lambda r: httpx.Response(200, json={}),
    )
    assert result.out.splitlines() == [
        'rolebinding.rbac.authorization.k8s.io "a" deleted',
        'rolebinding.rbac.authorization.k8s.io "b" deleted',
    ]
    assert [r.method for r in result.requests] == ["DELETE", "DELETE"]


@pytest.mark.parametrize(("allowed", "code", "out"), [(True, 0, "yes\n"), (False, 1, "no\n")])
def test_can_i(run: Callable[..., Run], allowed: bool, code: int, out: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            201, json={**json.loads(request.content), "status": {"allowed": allowed}}
        )

    result = run(
        "auth",
        "can-i",
        "delete",
        "images",
        "-n",
        "my-ns",
        "--as=bob",
        "--as-group=g",
        handler=handler,
    )
    assert (result.code, result.out, result.err) == (code, out, "")
    request = result.requests[0]
    assert request.url.path.endswith("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert request.headers["Impersonate-User"] == "bob"
    assert request.headers["Impersonate-Group"] == "g"
    spec = json.loads(request.content)["spec"]["resourceAttributes"]
    assert spec == {
        "namespace": "my-ns",
        "verb": "delete",
        "group": "image.acp.io",
        "resource": "images",
    }


def test_create_token(run: Callable[..., Run]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"status": {"token": "eyJ.x.y"}})

    result = run("create", "token", "builder", "-n", "my-ns", "--duration=1h", handler=handler)
    assert result.out == "eyJ.x.y\n"
    assert result.requests[0].url.path.endswith(
        "/api/v1/namespaces/my-ns/serviceaccounts/builder/token"
    )
    assert json.loads(result.requests[0].content)["spec"] == {"expirationSeconds": 3600}


def test_get_images_follows_continue_tokens(run: Callable[..., Run]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("continue")
        item = {
            "namespace": "ns",
            "repository": "app",
            "tag": "v2" if token else "v1",
            "digest": DIGEST,
            "mediaType": "m",
            "size": 1,
            "created": "2000-01-01T00:00:00Z",
            "platforms": [],
        }
        meta = {"continue": "" if token else "next", "registryHost": "r:5000", "cluster": "global"}
        return httpx.Response(200, json={"items": [item], "metadata": meta})

    result = run("get", "images", "-o", "name", handler=handler)
    assert result.out == "ns/app:v1\nns/app:v2\n"
    assert [str(r.url.host) for r in result.requests] == ["registry.example.com"] * 2
    assert result.requests[0].url.params["limit"] == "1000"
    assert "namespace" not in result.requests[0].url.params


def test_delete_images_checks_everything_before_deleting(run: Callable[..., Run]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        dry = request.url.params.get("dryRun") == "true"
        return httpx.Response(
            200,
            json={
                "digest": DIGEST,
                "deletedTags": ["v1"],
                "remainingTags": ["latest"],
                "dryRun": dry,
            },
        )

    result = run(
        "delete",
        "images",
        f"--repo=ns/app@{DIGEST}",
        "--repo=ns/app:v1",
        "--confirm",
        handler=handler,
    )
    assert result.code == 0
    calls = [(r.url.path.rsplit("/", 2)[-2], r.url.params.get("dryRun")) for r in result.requests]
    # Previews of both first, tags before digests; then the deletions in the same order.
    assert calls == [("tags", "true"), ("manifests", "true"), ("tags", None), ("manifests", None)]


def test_delete_images_stops_at_the_first_refusal(run: Callable[..., Run]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "nope" in request.url.path:
            return httpx.Response(
                404, json={"error": {"code": "NOT_FOUND", "message": "ns/app:nope does not exist"}}
            )
        return httpx.Response(
            200, json={"digest": DIGEST, "deletedTags": ["v1"], "remainingTags": []}
        )

    result = run(
        "delete", "images", "--repo=ns/app:v1", "--repo=ns/app:nope", "--confirm", handler=handler
    )
    assert result.code == 1
    assert all(r.url.params.get("dryRun") == "true" for r in result.requests)


def test_usage_errors_are_one_line_with_status_2(run: Callable[..., Run]) -> None:
    result = run("get", "images", "--bogus")
    assert result.code == 2
    assert result.err.startswith("error: No such option '--bogus'")
    assert result.err.count("\n") == 1
    missing = run("delete", "images")
    assert missing.code == 2
    assert "--repo" in missing.err


def test_no_arguments_prints_help(run: Callable[..., Run]) -> None:
    result = run()
    assert result.code == 0
    assert "Usage: ac" in result.out


def test_config_view_redacts_tokens(run: Callable[..., Run]) -> None:
    assert "acps_token" not in run("config", "view").out
    assert "REDACTED" in run("config", "view").out
    assert "acps_token" in run("config", "view", "--raw").out


def test_unreachable_platform_names_the_url(run: Callable[..., Run]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = run("get", "ns", handler=refuse)
    assert result.code == 1
    assert result.err == (
        f"error: cannot reach the Kubernetes API at {KUBE}; check the URL and that the server "
        "is running\n"
    )


def _one_sentence(result: Run, code: int = 1) -> str:
    """The error of a command that failed cleanly: one line on stderr, no traceback."""
    assert result.code == code, result.err
    assert result.err.startswith("error: ")
    assert result.err.count("\n") == 1
    assert "Traceback" not in result.err
    return result.err


@pytest.mark.parametrize("url", ["http://[::1", "http://x:abc", "https://", "http://x:99999"])
def test_malformed_registry_urls_are_one_sentence(
    run: Callable[..., Run], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    assert url in _one_sentence(run("get", "images", f"--registry-url={url}"))
    monkeypatch.setenv("AC_REGISTRY_URL", url)
    assert "AC_REGISTRY_URL" in _one_sentence(run("get", "images"))


@pytest.mark.parametrize("url", ["http://[::1", "http://x:abc", "https://"])
def test_malformed_login_urls_are_one_sentence(run: Callable[..., Run], url: str) -> None:
    result = run("login", url, "-u", "alice", "-p", "a-password")
    assert f"the platform URL {url!r}" in _one_sentence(result, code=2)
    assert result.requests == []


def _damage_kubeconfig(tmp_path: Path, **changes: object) -> None:
    """Set the session's platformUrl, the cluster's server or its registryApiUrl."""
    config = KubeConfig.load(tmp_path / "config")
    user = config.data["users"][0]["user"]["extensions"][0]["extension"]
    cluster = config.data["clusters"][0]["cluster"]
    for key, value in changes.items():
        if key == "platformUrl":
            user[key] = value
        elif key == "server":
            cluster[key] = value
        else:
            cluster["extensions"][0]["extension"][key] = value
    config.save()


@pytest.mark.parametrize("value", ["http://[::1", "http://x:abc", 5, "https://"])
def test_malformed_urls_in_the_kubeconfig_are_one_sentence(
    run: Callable[..., Run], tmp_path: Path, value: object
) -> None:
    _damage_kubeconfig(tmp_path, platformUrl=value)
    err = _one_sentence(run("auth", "whoami"))
    assert "the platform API" in err
    assert "log in again" in err
    _damage_kubeconfig(tmp_path, server=value)
    assert "the Kubernetes API" in _one_sentence(run("get", "ns"))
    _damage_kubeconfig(tmp_path, registryApiUrl=value)
    assert "registry API URL" in _one_sentence(run("get", "images"))


@pytest.mark.parametrize(
    "content", [b"\xff\xfe\x00bin", b"\x00\x01\x02", b"x: " + b"[" * 3000 + b"]" * 3000]
)
def test_a_kubeconfig_that_is_not_text_or_yaml_is_one_sentence(
    run: Callable[..., Run], tmp_path: Path, content: bytes
) -> None:
    (tmp_path / "config").write_bytes(content)
    assert "kubeconfig" in _one_sentence(run("get", "ns"))


@pytest.mark.parametrize("name", ["BAD NS", "My-NS", "under_score", "a" * 64, "dot.ted"])
def test_switching_to_an_invalid_namespace_changes_nothing(
    run: Callable[..., Run], tmp_path: Path, name: str
) -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"kind": "Status", "code": 403, "message": "forbidden"})

    result = run("namespace", name, handler=forbidden)
    assert f"{name!r} is not a valid namespace name" in _one_sentence(result, code=2)
    assert result.requests == []
    assert KubeConfig.load(tmp_path / "config").context("work/global") == {
        "cluster": "acp:work:global",
        "user": "acp:work",
        "namespace": "ctx-ns",
    }
    allowed = run("namespace", "good-ns", handler=forbidden)
    assert allowed.code == 0, allowed.err
    assert (KubeConfig.load(tmp_path / "config").context("work/global") or {})[
        "namespace"
    ] == "good-ns"


def test_registry_login_writes_docker_auth(run: Callable[..., Run], tmp_path: Path) -> None:
    target = tmp_path / "docker" / "config.json"
    target.parent.mkdir()
    target.write_text(json.dumps({"auths": {"other.io": {"auth": "eA=="}}, "psFormat": "x"}))
    result = run("registry", "login", "--to", str(target))
    assert result.code == 0
    data = json.loads(target.read_text())
    assert data["psFormat"] == "x"
    assert data["auths"]["other.io"] == {"auth": "eA=="}
    import base64

    assert (
        base64.b64decode(data["auths"]["registry.example.com"]["auth"]).decode()
        == "alice:acps_token"
    )
    assert target.stat().st_mode & 0o777 == 0o600


def test_login_writes_the_session(run: Callable[..., Run], tmp_path: Path) -> None:
    def platform(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/login":
            body = {
                "token": "acps_new",
                "expiresAt": "2999-01-01T00:00:00Z",
                "user": {"username": "bob"},
            }
            return httpx.Response(201, json=body)
        if request.url.path == "/api/v1/clusters":
            item = {"name": "global", "kubernetesApi": "https://p.example/kubernetes/global"}
            return httpx.Response(200, json={"items": [item]})
        return httpx.Response(204)

    result = run("login", "p.example", "--name", "other", "-u", "bob", "-p", "pw", handler=platform)
    assert result.code == 0, result.err
    assert [str(r.url) for r in result.requests] == [
        "https://p.example/api/v1/login",
        "https://p.example/api/v1/clusters",
    ]
    assert json.loads(result.requests[0].content) == {"username": "bob", "password": "pw"}
    config = KubeConfig.load(tmp_path / "config")
    assert config.current_context == "other/global"
    assert sorted(config.session_names()) == ["other", "work"]


@pytest.mark.parametrize(
    ("status", "headers", "message"),
    [
        (401, {}, "error: login to https://p.example failed: invalid username or password"),
        (429, {"Retry-After": "30"}, "error: too many attempts; try again in 30 seconds"),
    ],
)
def test_refused_logins_change_nothing(
    run: Callable[..., Run], tmp_path: Path, status: int, headers: dict[str, str], message: str
) -> None:
    before = (tmp_path / "config").read_bytes()

    def refuse(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, headers=headers, json={"error": {"code": "X", "message": "no"}}
        )

    result = run("login", "https://p.example", "-u", "bob", "-p", "bad", handler=refuse)
    assert result.code == 1
    assert result.err.startswith(message)
    assert (tmp_path / "config").read_bytes() == before
