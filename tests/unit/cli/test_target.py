"""Who `ac` acts as, and which registry API URL it uses."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from acp.cli.errors import CliError
from acp.cli.kubeconfig import ClusterInfo, KubeConfig, Session
from acp.cli.target import IN_CLUSTER_REGISTRY, State, check_url, registry_api_url

ADVERTISED = "https://registry.example.com"


def logged_in(tmp_path: Path, expires: str = "2999-01-01T00:00:00Z") -> dict[str, str]:
    path = tmp_path / "config"
    config = KubeConfig(path)
    config.put_session(
        Session(
            "work",
            "https://acp.example.com",
            "alice",
            "acps_token",
            expires,
            [
                ClusterInfo(
                    "global",
                    "https://acp.example.com/kubernetes/global",
                    "r:5000",
                    ADVERTISED,
                    ADVERTISED,
                )
            ],
        )
    )
    config.use("work", "global")
    config.save()
    return {"KUBECONFIG": str(path), "AC_SERVICEACCOUNT_DIR": str(tmp_path / "none")}


def fake_jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'ES256'})}.{part(claims)}.c2ln"


def pod(tmp_path: Path, cluster: str = "dev") -> dict[str, str]:
    directory = tmp_path / "sa"
    directory.mkdir()
    token = fake_jwt(
        {
            "sub": "system:serviceaccount:my-ns:builder",
            "kubernetes.io": {"namespace": "my-ns", "serviceaccount": {"name": "builder"}},
            "acp.io": {"cluster": cluster},
        }
    )
    (directory / "token").write_text(token + "\n")
    (directory / "namespace").write_text("my-ns")
    return {
        "KUBECONFIG": str(tmp_path / "absent"),
        "AC_SERVICEACCOUNT_DIR": str(directory),
        "AC_PLATFORM_URL": "https://acp.example.com/",
    }


def test_flag_beats_environment_beats_session(tmp_path: Path) -> None:
    env = logged_in(tmp_path)
    state = State({**env, "AC_REGISTRY_URL": "https://from-env"})
    assert registry_api_url("https://from-flag/", state) == ("https://from-flag", "--registry-url")
    assert registry_api_url("", state) == ("https://from-env", "AC_REGISTRY_URL")
    assert registry_api_url("", State(env)) == (ADVERTISED, "the login session")


def test_the_in_cluster_default_comes_last(tmp_path: Path) -> None:
    env = logged_in(tmp_path)
    config = KubeConfig.load(Path(env["KUBECONFIG"]))
    session = config.session("work")
    assert session is not None
    session.clusters[0].registry_api_url = ""
    config.put_session(session)
    config.save()
    url, source = registry_api_url("", State(env))
    assert url == f"https://{IN_CLUSTER_REGISTRY}"
    assert source == "the in-cluster default"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("registry:5000", "has no scheme"),
        ("ftp://registry", "must start with"),
        ("https://", "has no host name"),
        ("http://[::1", "is not a valid URL"),
        ("http://x:abc", "is not a valid URL"),
        ("http://x:99999", "is not a valid URL"),
    ],
)
def test_urls_need_a_scheme(value: str, problem: str) -> None:
    with pytest.raises(CliError, match=problem):
        check_url(value, "--registry-url")


def test_session_target(tmp_path: Path) -> None:
    target = State(logged_in(tmp_path)).target()
    assert target.source == "session"
    assert target.token == "acps_token"
    assert target.kubernetes_api == "https://acp.example.com/kubernetes/global"
    assert target.namespace == ""


def test_an_expired_session_says_to_log_in_again(tmp_path: Path) -> None:
    state = State(logged_in(tmp_path, expires="2000-01-01T00:00:00Z"))
    with pytest.raises(
        CliError, match=r"expired .* run `ac login https://acp.example.com --name work`"
    ):
        state.target()


def test_not_logged_in(tmp_path: Path) -> None:
    state = State({"KUBECONFIG": str(tmp_path / "x"), "AC_SERVICEACCOUNT_DIR": str(tmp_path / "y")})
    with pytest.raises(CliError, match="not logged in"):
        state.target()


def test_unknown_context_flag(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="not an `ac` session"):
        State(logged_in(tmp_path), context_flag="nope/global").target()


def test_in_a_pod_the_serviceaccount_token_is_used(tmp_path: Path) -> None:
    target = State(pod(tmp_path)).target()
    assert target.source == "serviceaccount"
    assert target.namespace == "my-ns"
    assert target.cluster == "dev"
    assert target.username == "system:serviceaccount:my-ns:builder"
    assert target.platform_url == "https://acp.example.com"
    assert target.kubernetes_api == "https://acp.example.com/kubernetes/dev"
    assert "serviceAccountName" in target.unauthorized_hint


def test_a_session_wins_over_the_pod(tmp_path: Path) -> None:
    env = {**pod(tmp_path), "KUBECONFIG": logged_in(tmp_path)["KUBECONFIG"]}
    assert State(env).target().source == "session"


def test_in_a_pod_ac_cluster_overrides_the_token(tmp_path: Path) -> None:
    env = {**pod(tmp_path), "AC_CLUSTER": "global"}
    assert State(env).target().cluster == "global"


def test_in_a_pod_without_platform_url(tmp_path: Path) -> None:
    env = pod(tmp_path)
    del env["AC_PLATFORM_URL"]
    target = State(env).target()
    with pytest.raises(CliError, match="AC_PLATFORM_URL"):
        target.kubernetes()
    # Nothing advertised and nothing to ask: the in-cluster default.
    assert registry_api_url("", State(env))[0] == f"https://{IN_CLUSTER_REGISTRY}"
