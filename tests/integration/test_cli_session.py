"""`ac login`, `ac logout` and `ac config …` against a real server with two clusters."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.cli import Ac
from tests.support.platform import Platform
from tests.support.registry_client import make_image
from tests.support.seed import unique
from tests.support.server import RunningServer, free_port, running_server


@pytest.fixture(scope="module")
def two_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with `global` on the main port and `dev` with its own registry port."""
    dev_port = free_port()
    tmp = tmp_path_factory.mktemp("acp-two")
    with running_server(tmp, extra_args=["--cluster", f"dev=127.0.0.1:{dev_port}"]) as server:
        yield server


@pytest.fixture(scope="module")
def seeded(two_clusters: RunningServer) -> Iterator[Platform]:
    """Namespace `shared` in both clusters, each with an image only its registry holds."""
    with Platform(two_clusters, two_clusters.login()) as admin:
        for cluster in ("global", "dev"):
            admin.namespace("shared", cluster=cluster)
            admin.push(f"shared/only-in-{cluster}", "v1", make_image(), cluster=cluster)
        yield admin


def _config(ac: Ac) -> dict:
    return yaml.safe_load(ac.kubeconfig.read_text())


def test_login_writes_one_context_per_cluster(ac: Ac, two_clusters: RunningServer) -> None:
    result = ac.login(two_clusters, "admin", "", "--name", "work")
    assert f"Logged in to {two_clusters.url} as admin" in result.out
    assert stat.S_IMODE(ac.kubeconfig.stat().st_mode) == 0o600
    data = _config(ac)
    assert [c["name"] for c in data["contexts"]] == ["work/global", "work/dev"]
    assert [c["name"] for c in data["clusters"]] == ["acp:work:global", "acp:work:dev"]
    assert data["clusters"][0]["cluster"]["server"] == f"{two_clusters.url}/kubernetes/global"
    assert data["current-context"] == "work/global"
    assert data["users"][0]["user"]["token"].startswith("acps_")


def test_seed_flow_get_clusters_and_use_cluster(
    ac: Ac, two_clusters: RunningServer, seeded: Platform
) -> None:
    ac.login(two_clusters)
    lines = ac.ok("config", "get-clusters").lines
    assert lines[0].split() == ["CURRENT", "NAME", "REGISTRY", "REGISTRY", "API", "URL"]
    assert lines[1].split()[:2] == ["*", "global"]
    assert lines[2].split()[0] == "dev"
    assert ac.ok("get", "images", "-o", "name").lines == ["shared/only-in-global:v1"]
    assert "dev" in ac.ok("config", "use-cluster", "dev").out
    # The registry API of `dev`, as advertised at login, is used now.
    assert ac.ok("get", "images", "-o", "name").lines == ["shared/only-in-dev:v1"]
    assert ac.ok("config", "current-context").out.strip().endswith("/dev")
    missing = ac.fails("config", "use-cluster", "nope")
    assert "has no cluster 'nope'" in missing.err


def test_login_prompts_for_what_is_missing(ac: Ac, two_clusters: RunningServer) -> None:
    result = ac("login", two_clusters.url, input=f"admin\n{two_clusters.admin_password}\n")
    assert result.code == 0, result.err
    assert "Username" in result.out
    assert two_clusters.admin_password not in result.out


def test_login_without_a_terminal_or_password_says_how_to_give_it(
    ac: Ac, two_clusters: RunningServer
) -> None:
    result = ac.fails("login", two_clusters.url, "-u", "admin", input="")
    assert result.code == 2
    assert "no password given and no terminal to ask on: pass -p or set AC_LOGIN_PASSWORD" in (
        result.err
    )
    assert "Warning" not in result.err
    assert not ac.kubeconfig.exists()


def test_login_from_the_environment(ac: Ac, two_clusters: RunningServer) -> None:
    env = {
        "AC_LOGIN_PLATFORM_URL": two_clusters.url,
        "AC_LOGIN_SESSION": "from-env",
        "AC_LOGIN_USERNAME": "admin",
        "AC_LOGIN_PASSWORD": two_clusters.admin_password,
    }
    assert ac("login", env=env).code == 0
    assert _config(ac)["current-context"] == "from-env/global"


def test_wrong_password_changes_nothing(ac: Ac, two_clusters: RunningServer) -> None:
    failed = ac.fails("login", two_clusters.url, "-u", "admin", "-p", "not-the-password")
    assert "invalid username or password" in failed.err
    assert not ac.kubeconfig.exists()
    ac.login(two_clusters, "admin", "", "--name", "keep")
    before = ac.kubeconfig.read_bytes()
    ac.fails("login", two_clusters.url, "--name", "keep", "-u", "admin", "-p", "wrong-again-1")
    assert ac.kubeconfig.read_bytes() == before


def test_unreachable_platform_names_the_url(ac: Ac) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = ac.fails("login", url, "-u", "admin", "-p", "x")
    assert f"cannot reach the platform API at {url}" in result.err
    assert not ac.kubeconfig.exists()


def test_sessions_side_by_side_and_logout_revokes(
    ac: Ac, two_clusters: RunningServer, seeded: Platform
) -> None:
    user = unique("second")
    two_clusters.create_user(user, "second-password-1", two_clusters.login())
    ac.login(two_clusters, "admin", "", "--name", "one")
    ac.login(two_clusters, user, "second-password-1", "--name", "two")
    sessions = ac.ok("config", "get-sessions", "-o", "json").out
    listed = {s["name"]: s for s in json.loads(sessions)}
    assert set(listed) == {"one", "two"}
    assert listed["two"]["current"] is True
    assert listed["two"]["username"] == user
    ac.ok("config", "use-session", "one")
    assert ac.ok("auth", "whoami", "-o", "json").out.count('"admin"') == 1
    token_two = next(u["user"]["token"] for u in _config(ac)["users"] if u["name"] == "acp:two")
    assert "Logged out" in ac.ok("logout", "--name", "two").out
    revoked = httpx.get(
        f"{two_clusters.url}/api/v1/whoami", headers={"Authorization": f"Bearer {token_two}"}
    )
    assert revoked.status_code == 401
    assert [s["name"] for s in json.loads(ac.ok("config", "get-sessions", "-o", "json").out)] == [
        "one"
    ]
    assert ac.ok("get", "images", "-o", "name").out  # session one is untouched
    ac.ok("logout")
    assert "not logged in" in ac.fails("get", "images").err


def test_logging_in_again_replaces_and_revokes_the_old_token(
    ac: Ac, two_clusters: RunningServer
) -> None:
    ac.login(two_clusters, "admin", "", "--name", "again")
    ac.ok(
        "namespace", "shared"
    ) if False else None  # namespace switching is covered with the Kubernetes API
    old = _config(ac)["users"][0]["user"]["token"]
    ac.login(two_clusters, "admin", "", "--name", "again")
    new = _config(ac)["users"][0]["user"]["token"]
    assert new != old
    assert len(_config(ac)["contexts"]) == 2
    r = httpx.get(f"{two_clusters.url}/api/v1/whoami", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401


def test_an_expired_session_says_to_log_in_again(ac: Ac, two_clusters: RunningServer) -> None:
    ac.login(two_clusters, "admin", "", "--name", "old")
    data = _config(ac)
    data["users"][0]["user"]["extensions"][0]["extension"]["expiresAt"] = "2001-01-01T00:00:00Z"
    ac.kubeconfig.write_text(yaml.safe_dump(data))
    result = ac.fails("get", "images")
    assert "expired" in result.err
    assert f"ac login {two_clusters.url} --name old" in result.err


def test_config_view_redacts_unless_raw(admin_view: tuple[Ac, str]) -> None:
    ac, token = admin_view
    view = ac.ok("config", "view").out
    assert token not in view
    assert "REDACTED" in view
    assert token in ac.ok("config", "view", "--raw").out
    assert yaml.safe_load(view)["kind"] == "Config"


@pytest.fixture
def admin_view(ac: Ac, two_clusters: RunningServer) -> tuple[Ac, str]:
    ac.login(two_clusters)
    return ac, _config(ac)["users"][0]["user"]["token"]


def test_kubectl_reads_the_kubeconfig(ac: Ac, two_clusters: RunningServer, tmp_path: Path) -> None:
    ac.login(two_clusters, "admin", "", "--name", "work")
    env = {**ac.env}
    names = subprocess.run(
        ["kubectl", "config", "get-contexts", "-o", "name"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert sorted(names) == ["work/dev", "work/global"]
    server = subprocess.run(
        ["kubectl", "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert server == f"{two_clusters.url}/kubernetes/global"
    # kubectl rewriting the file keeps what `ac` needs.
    subprocess.run(
        ["kubectl", "config", "set-context", "--current", "--namespace=shared"],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    assert ac.ok("namespace", "-q").out.strip() == "shared"
    assert sorted(ac.ok("config", "get-clusters", "-o", "name").lines) == ["dev", "global"]


def test_registry_info_and_docker_credentials(ac: Ac, two_clusters: RunningServer) -> None:
    ac.login(two_clusters)
    info = json.loads(ac.ok("registry", "info", "-o", "json").out)
    assert info["registryHost"] == two_clusters.host
    assert info["registryApiUrl"] == two_clusters.url
    assert info["registryApiUrlSource"] == "the login session"
    ac.ok("registry", "login")
    auths = json.loads((ac.home / ".docker" / "config.json").read_text())["auths"]
    assert list(auths) == [two_clusters.host]
    target = ac.home / "auth.json"
    ac.ok("registry", "login", "--registry", "other.example:5000", "--to", str(target))
    assert list(json.loads(target.read_text())["auths"]) == ["other.example:5000"]


def test_version_and_completion(ac: Ac, two_clusters: RunningServer) -> None:
    assert ac.ok("version", "--client").out.startswith("Client Version: ")
    ac.login(two_clusters)
    assert "Server Version: " in ac.ok("version").out
    assert "_AC_COMPLETE" in ac.ok("completion", "bash").out
    assert "compdef" in ac.ok("completion", "zsh").out
