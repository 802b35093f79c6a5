"""`ac create|get|delete` on namespaces, ServiceAccounts and RBAC objects, `ac auth can-i`,
`ac namespace` and `ac create token`, through the cluster's Kubernetes-compatible API (and
the same kubeconfig used by the real kubectl)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.cli import Ac, make_ac
from tests.support.platform import Platform
from tests.support.registry_client import make_image
from tests.support.seed import unique
from tests.support.server import RunningServer

PASSWORD = "kube-user-password-1"


@pytest.fixture(scope="module", autouse=True)
def kubernetes_api(acp_server: RunningServer, admin_token: str) -> None:
    with acp_server.client(admin_token) as client:
        if client.get("/kubernetes/global/api").status_code != 200:
            pytest.skip("the Kubernetes-compatible API is not part of this build")


@pytest.fixture
def user(acp_server: RunningServer, admin_token: str, tmp_path: Path) -> tuple[str, Ac]:
    name = unique("dev")
    acp_server.create_user(name, PASSWORD, admin_token)
    ac = make_ac(tmp_path)
    ac.login(acp_server, name, PASSWORD)
    return name, ac


def test_namespaces(admin_ac: Ac) -> None:
    ns = unique("ns")
    assert admin_ac.ok("create", "namespace", ns).out == f"namespace/{ns} created\n"
    table = admin_ac.ok("get", "ns").lines
    assert table[0].split() == ["NAME", "STATUS", "AGE"]
    assert any(line.split()[0] == ns for line in table[1:])
    one = json.loads(admin_ac.ok("get", "namespace", ns, "-o", "json").out)
    assert one["kind"] == "Namespace"
    assert one["metadata"]["name"] == ns
    assert f"namespace/{ns}" in admin_ac.ok("get", "namespaces", "-o", "name").lines
    exists = admin_ac.fails("create", "ns", ns)
    assert "already exists" in exists.err
    assert admin_ac.ok("delete", "ns", ns).out == f'namespace "{ns}" deleted\n'


def test_server_dry_run_creates_nothing(admin_ac: Ac) -> None:
    ns = unique("dry")
    assert "(server dry run)" in admin_ac.ok("create", "ns", ns, "--dry-run=server").out
    assert admin_ac.fails("get", "ns", ns).code == 1


def test_serviceaccounts_and_tokens(
    admin_ac: Ac, acp_server: RunningServer, platform: Platform
) -> None:
    ns = unique("sa-ns")
    admin_ac.ok("create", "namespace", ns)
    assert (
        admin_ac.ok("create", "sa", "builder", "-n", ns).out == "serviceaccount/builder created\n"
    )
    assert admin_ac.ok("get", "serviceaccounts", "-n", ns, "-o", "name").lines == [
        "serviceaccount/builder"
    ]
    platform.push(f"{ns}/app", "v1", make_image())
    admin_ac.ok(
        "create", "rolebinding", "builder-pull", "--clusterrole=system:image-puller",
        f"--serviceaccount={ns}:builder", "-n", ns,
    )  # fmt: skip
    token = admin_ac.ok("create", "token", "builder", "-n", ns, "--duration=10m").out.strip()
    mount = admin_ac.home / "sa"
    mount.mkdir()
    (mount / "token").write_text(token)
    (mount / "namespace").write_text(ns)
    pod = make_ac(admin_ac.home)
    env = {"AC_SERVICEACCOUNT_DIR": str(mount), "AC_PLATFORM_URL": acp_server.url}
    assert pod.ok("get", "images", "-n", ns, "-o", "name", env=env).lines == [f"{ns}/app:v1"]
    assert pod.ok("auth", "can-i", "get", "imagestreams/layers", env=env).out == "yes\n"
    admin_ac.ok("delete", "sa", "builder", "-n", ns)
    assert "ServiceAccount" in pod.fails("get", "images", "-n", ns, env=env).err


def test_seed_rolebindings_grant_and_revoke(
    admin_ac: Ac, user: tuple[str, Ac], platform: Platform
) -> None:
    name, ac = user
    ns = unique("team")
    admin_ac.ok("create", "namespace", ns)
    platform.push(f"{ns}/my-app", "latest", make_image())
    refused = ac.fails("get", "images", "-n", ns)
    assert ns in refused.err
    assert "system:image-puller" in refused.err
    assert ac("auth", "can-i", "get", "imagestreams/layers", "-n", ns).out == "no\n"
    admin_ac.ok(
        "create", "rolebinding", "pull", "--clusterrole=system:image-puller", f"--user={name}",
        "-n", ns,
    )  # fmt: skip
    admin_ac.ok(
        "create", "rolebinding", "push", "--clusterrole=system:image-pusher", f"--user={name}",
        "-n", ns,
    )  # fmt: skip
    assert ac.ok("get", "images", "-n", ns, "-o", "name").lines == [f"{ns}/my-app:latest"]
    assert ac.ok("auth", "can-i", "update", "imagestreams/layers", "-n", ns).out == "yes\n"
    wide = admin_ac.ok("get", "rolebindings", "-n", ns, "-o", "wide").lines
    assert wide[0].split()[:3] == ["NAME", "ROLE", "AGE"]
    assert any(line.startswith("pull ") and name in line for line in wide)
    as_user = admin_ac("auth", "can-i", "delete", "imagestreamtags", "-n", ns, f"--as={name}")
    assert (as_user.code, as_user.out) == (1, "no\n")
    admin_ac.ok("delete", "rolebinding", "pull", "push", "-n", ns)
    assert ns in ac.fails("get", "images", "-n", ns).err


def test_a_non_admin_cannot_grant(admin_ac: Ac, user: tuple[str, Ac]) -> None:
    _, ac = user
    ns = unique("locked")
    admin_ac.ok("create", "namespace", ns)
    result = ac.fails(
        "create", "rolebinding", "x", "--clusterrole=view", "--user=someone", "-n", ns
    )
    assert ns in result.err
    assert "admin" in result.err
    # Only the namespace creator's own `admin` binding is there; nothing was granted.
    bindings = admin_ac.ok("get", "rolebindings", "-n", ns, "-o", "name").out.split()
    assert bindings == ["rolebinding.rbac.authorization.k8s.io/admin"]


def test_unknown_namespace(admin_ac: Ac) -> None:
    result = admin_ac.fails(
        "create", "rolebinding", "x", "--clusterrole=view", "--user=a", "-n", "no-such-ns-x"
    )
    assert "no-such-ns-x" in result.err
    switched = admin_ac.fails("namespace", "no-such-ns-x")
    assert "does not exist" in switched.err


def test_namespace_switch_is_used_by_later_commands(admin_ac: Ac) -> None:
    ns = unique("current")
    admin_ac.ok("create", "namespace", ns)
    assert ns in admin_ac.ok("namespace", ns).out
    assert admin_ac.ok("namespace", "-q").out.strip() == ns
    admin_ac.ok("create", "sa", "here")
    assert admin_ac.ok("get", "sa", "-n", ns, "-o", "name").lines == ["serviceaccount/here"]


def test_clusterroles_include_the_image_roles(admin_ac: Ac) -> None:
    names = admin_ac.ok("get", "clusterroles", "-o", "name").lines
    for role in ("system:image-puller", "system:image-pusher", "system:image-deleter"):
        assert f"clusterrole.rbac.authorization.k8s.io/{role}" in names
    role = yaml.safe_load(
        admin_ac.ok("get", "clusterrole", "system:image-puller", "-o", "yaml").out
    )
    assert role["rules"][0]["resources"] == ["imagestreams/layers"]


def test_kubectl_uses_the_same_kubeconfig(ac: Ac, acp_tls_server: RunningServer) -> None:
    # kubectl sends credentials to https:// servers only, so this one serves TLS.
    assert acp_tls_server.tls_ca is not None
    ac.login(acp_tls_server, "admin", "", "--certificate-authority", str(acp_tls_server.tls_ca))
    ns = unique("kubectl")
    ac.ok("create", "namespace", ns)
    out = subprocess.run(
        ["kubectl", "get", "namespaces", "-o", "name"],
        env=ac.env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"namespace/{ns}" in out.split()
