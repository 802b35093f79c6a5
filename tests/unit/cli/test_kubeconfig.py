"""Writing and merging the kubeconfig: sessions side by side, other tools' entries kept."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

from acp.cli.kubeconfig import ClusterInfo, KubeConfig, Session, default_path


def session(
    name: str, clusters: tuple[str, ...] = ("global", "dev"), token: str = "acps_t"
) -> Session:
    return Session(
        name=name,
        platform_url=f"https://{name}.example.com",
        username="alice",
        token=token,
        expires_at="2030-01-01T00:00:00Z",
        clusters=[
            ClusterInfo(
                c,
                f"https://{name}.example.com/kubernetes/{c}",
                f"{c}.{name}.example.com:5000",
                f"https://{c}.{name}.example.com:5000",
                f"https://{c}.{name}.example.com:5000",
            )
            for c in clusters
        ],
    )


FOREIGN = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "kind", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "kind-admin", "user": {"token": "other"}}],
    "contexts": [{"name": "kind", "context": {"cluster": "kind", "user": "kind-admin"}}],
    "current-context": "kind",
}


def test_layout_names(tmp_path: Path) -> None:
    config = KubeConfig(tmp_path / "config")
    config.put_session(session("work"))
    config.use("work", "global")
    data = config.data
    assert [c["name"] for c in data["clusters"]] == ["acp:work:global", "acp:work:dev"]
    assert [u["name"] for u in data["users"]] == ["acp:work"]
    assert [c["name"] for c in data["contexts"]] == ["work/global", "work/dev"]
    assert data["contexts"][1]["context"] == {"cluster": "acp:work:dev", "user": "acp:work"}
    assert data["clusters"][0]["cluster"]["server"] == "https://work.example.com/kubernetes/global"
    assert data["current-context"] == "work/global"


def test_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "config"
    config = KubeConfig(path)
    config.put_session(session("work"))
    config.use("work", "dev")
    config.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = KubeConfig.load(path)
    current = loaded.resolve()
    assert current is not None
    assert current.session.name == "work"
    assert current.session.token == "acps_t"
    assert current.session.current_cluster == "dev"
    assert current.cluster.registry_host == "dev.work.example.com:5000"
    assert current.cluster.registry_api_url == "https://dev.work.example.com:5000"
    assert [c.name for c in current.session.clusters] == ["global", "dev"]


def test_sessions_live_side_by_side_with_other_tools(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(FOREIGN))
    os.chmod(path, 0o644)
    config = KubeConfig.load(path)
    config.put_session(session("work"))
    config.put_session(session("prod", ("global",)))
    config.use("prod", "global")
    config.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = KubeConfig.load(path)
    assert sorted(loaded.session_names()) == ["prod", "work"]
    assert loaded.context("kind") == {"cluster": "kind", "user": "kind-admin"}
    assert loaded.resolve("kind") is None  # not ours
    assert loaded.remove_session("work")
    assert loaded.session_names() == ["prod"]
    assert loaded.context("kind") is not None
    assert loaded.current_context == "prod/global"
    names = [c["name"] for c in loaded.data["clusters"]]
    assert names == ["kind", "acp:prod:global"]


def test_relogin_keeps_namespaces_and_drops_clusters_that_went_away(tmp_path: Path) -> None:
    config = KubeConfig(tmp_path / "config")
    config.put_session(session("work", ("global", "dev", "old")))
    config.use("work", "dev")
    config.set_namespace("work/dev", "my-ns")
    config.put_session(session("work", ("global", "dev"), token="acps_new"))
    assert config.context("work/dev") == {
        "cluster": "acp:work:dev",
        "user": "acp:work",
        "namespace": "my-ns",
    }
    assert config.context("work/old") is None
    assert config.current_context == "work/dev"
    again = config.session("work")
    assert again is not None
    assert again.token == "acps_new"


def test_logout_of_the_current_session_clears_current_context(tmp_path: Path) -> None:
    config = KubeConfig(tmp_path / "config")
    config.put_session(session("work"))
    config.use("work", "global")
    config.remove_session("work")
    assert config.current_context == ""
    assert config.data["clusters"] == config.data["users"] == config.data["contexts"] == []
    assert not config.remove_session("work")


def test_default_path(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert default_path({"KUBECONFIG": f"{first}{os.pathsep}{second}"}) == first
    assert default_path({"HOME": str(tmp_path)}) == tmp_path / ".kube" / "config"


def test_a_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    config = KubeConfig.load(tmp_path / "absent")
    assert config.sessions() == []
    assert config.resolve() is None
