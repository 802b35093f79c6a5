"""`ac` inside a Pod: no kubeconfig, the mounted ServiceAccount token and the platform URL
from the environment; exactly that ServiceAccount's permissions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import Ac, make_ac
from tests.support.platform import Platform
from tests.support.registry_client import make_image
from tests.support.seed import unique
from tests.support.server import RunningServer


@dataclass
class Pod:
    ac: Ac
    env: dict[str, str]
    my_ns: str
    other_ns: str


@pytest.fixture(scope="module")
def namespaces(platform: Platform) -> tuple[str, str]:
    my_ns, other_ns = unique("my-ns"), unique("other-ns")
    for ns in (my_ns, other_ns):
        platform.namespace(ns)
        image = make_image()
        for tag in ("latest", "v1"):
            platform.push(f"{ns}/my-app", tag, image)
    return my_ns, other_ns


def make_pod(
    tmp_path: Path, server: RunningServer, platform: Platform, namespaces: tuple[str, str]
) -> Pod:
    """A Pod's view: the token the TokenRequest API issued for a ServiceAccount bound to
    pull in `my_ns`, mounted with its namespace."""
    my_ns, other_ns = namespaces
    name = unique("job")
    token = platform.serviceaccount(my_ns, name)
    platform.bind(my_ns, "system:image-puller", serviceaccount=(my_ns, name), name=f"pull-{name}")
    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    (mount / "token").write_text(token)
    (mount / "namespace").write_text(my_ns)
    ac = make_ac(tmp_path)
    env = {"AC_SERVICEACCOUNT_DIR": str(mount), "AC_PLATFORM_URL": server.url}
    return Pod(ac, env, my_ns, other_ns)


@pytest.fixture
def pod(
    tmp_path: Path, acp_server: RunningServer, platform: Platform, namespaces: tuple[str, str]
) -> Pod:
    return make_pod(tmp_path, acp_server, platform, namespaces)


def test_get_images_in_the_pods_namespace(pod: Pod) -> None:
    assert not pod.ac.kubeconfig.exists()
    result = pod.ac.ok("get", "images", "-n", pod.my_ns, env=pod.env)
    assert [line.split()[:2] for line in result.lines[1:]] == [
        ["my-app", "latest"],
        ["my-app", "v1"],
    ]


def test_exactly_the_serviceaccounts_permissions(pod: Pod) -> None:
    everywhere = pod.ac.ok("get", "images", "-o", "name", env=pod.env).lines
    assert everywhere == [f"{pod.my_ns}/my-app:latest", f"{pod.my_ns}/my-app:v1"]
    refused = pod.ac.fails("get", "images", "-n", pod.other_ns, env=pod.env)
    assert pod.other_ns in refused.err
    assert "system:image-puller" in refused.err
    assert f"ServiceAccount {pod.my_ns}/" in refused.err
    delete = pod.ac.fails(
        "delete", "images", f"--repo={pod.my_ns}/my-app:v1", "--confirm", env=pod.env
    )
    assert "system:image-deleter" in delete.err


def test_registry_url_from_the_environment_needs_no_platform(
    pod: Pod, acp_server: RunningServer
) -> None:
    env = {
        "AC_SERVICEACCOUNT_DIR": pod.env["AC_SERVICEACCOUNT_DIR"],
        "AC_REGISTRY_URL": acp_server.url,
    }
    data = json.loads(pod.ac.ok("get", "images", "-n", pod.my_ns, "-o", "json", env=env).out)
    assert len(data["items"]) == 2


def test_without_any_url_the_in_cluster_registry_is_tried(pod: Pod) -> None:
    env = {"AC_SERVICEACCOUNT_DIR": pod.env["AC_SERVICEACCOUNT_DIR"]}
    result = pod.ac.fails("get", "images", "-n", pod.my_ns, env=env)
    assert "https://image-registry.image-registry-system.svc:5000" in result.err


def test_a_revoked_token_points_at_the_serviceaccount(pod: Pod) -> None:
    token_file = Path(pod.env["AC_SERVICEACCOUNT_DIR"]) / "token"
    token_file.write_text(token_file.read_text()[:-4] + "AAAA")
    result = pod.ac.fails("get", "images", "-n", pod.my_ns, env=pod.env)
    assert "ServiceAccount token" in result.err
    assert "serviceAccountName" in result.err


def test_a_login_session_takes_precedence(pod: Pod, acp_server: RunningServer) -> None:
    pod.ac.login(acp_server)
    names = pod.ac.ok("get", "images", "-o", "name", env=pod.env).lines
    assert f"{pod.other_ns}/my-app:v1" in names  # admin sees both namespaces
