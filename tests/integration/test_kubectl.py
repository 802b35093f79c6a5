"""The real kubectl against the Kubernetes-compatible API, with the outcomes a real cluster
gives (SQLite and PostgreSQL).

kubectl sends credentials to `https://` servers only, so the server here serves HTTPS with a
self-signed certificate that the kubeconfig names as its certificate authority.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support.kubectl import Kubectl, kubectl_for
from tests.support.server import RunningServer

RBAC = "rbac.authorization.k8s.io"
# The registry's pull question in kubectl's words: the `layers` subresource of imagestreams.
CAN_PULL = ["auth", "can-i", "get", "imagestreams.image.acp.io", "--subresource=layers"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kubectl")


@pytest.fixture(scope="module")
def admin(acp_tls_server: RunningServer, workdir: Path) -> Kubectl:
    return kubectl_for(acp_tls_server, acp_tls_server.login(), workdir, "admin")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _user(server: RunningServer, admin_kubectl: Kubectl, workdir: Path, name: str) -> Kubectl:
    admin_token = server.login()
    server.create_user(name, f"{name}-password-1", admin_token)
    return kubectl_for(server, server.login(name, f"{name}-password-1"), workdir, name)


def _rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines()]


def test_the_seed_workflow(admin: Kubectl) -> None:
    """Every command of issue 2, in order, with what a real cluster prints."""
    k = admin
    assert k.ok("create", "namespace", "my-ns") == "namespace/my-ns created\n"
    assert k.ok("create", "serviceaccount", "builder", "-n", "my-ns") == (
        "serviceaccount/builder created\n"
    )
    assert (
        k.ok(
            "create",
            "rolebinding",
            "pull-alice",
            "--clusterrole=system:image-puller",
            "--user=alice",
            "-n",
            "my-ns",
        )
        == f"rolebinding.{RBAC}/pull-alice created\n"
    )
    assert (
        k.ok(
            "create",
            "rolebinding",
            "push-builder",
            "--clusterrole=system:image-pusher",
            "--serviceaccount=my-ns:builder",
            "-n",
            "my-ns",
        )
        == f"rolebinding.{RBAC}/push-builder created\n"
    )

    rows = _rows(k.ok("get", "rolebindings", "-n", "my-ns"))
    assert rows[0] == ["NAME", "ROLE", "AGE"]
    by_name = {row[0]: row[1] for row in rows[1:]}
    assert by_name == {
        "admin": "ClusterRole/admin",  # the creator of the namespace
        "pull-alice": "ClusterRole/system:image-puller",
        "push-builder": "ClusterRole/system:image-pusher",
    }
    wide = k.ok("get", "rolebindings", "-n", "my-ns", "-o", "wide").splitlines()
    assert wide[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert any(line.startswith("pull-alice") and "alice" in line for line in wide)
    assert any(line.startswith("push-builder") and "my-ns:builder" in line for line in wide)

    listed = yaml.safe_load(k.ok("get", "rolebindings", "-n", "my-ns", "-o", "yaml"))
    assert listed["kind"] == "List"
    items = {item["metadata"]["name"]: item for item in listed["items"]}
    assert items["pull-alice"]["apiVersion"] == f"{RBAC}/v1"
    assert items["pull-alice"]["kind"] == "RoleBinding"
    assert items["pull-alice"]["roleRef"] == {
        "apiGroup": RBAC,
        "kind": "ClusterRole",
        "name": "system:image-puller",
    }
    assert items["pull-alice"]["subjects"] == [{"apiGroup": RBAC, "kind": "User", "name": "alice"}]
    assert items["push-builder"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "builder", "namespace": "my-ns"}
    ]
    for item in listed["items"]:
        meta = item["metadata"]
        assert meta["namespace"] == "my-ns"
        assert meta["uid"]
        assert meta["resourceVersion"]
        assert meta["creationTimestamp"]

    # As on a real cluster, kubectl reads `imagestreams/layers.image.acp.io` as TYPE/NAME: it
    # asks about an imagestream *named* "layers.image.acp.io", which no binding grants.
    # The pull question is the `layers` subresource.
    literal = k.run(
        "auth", "can-i", "get", "imagestreams/layers.image.acp.io", "-n", "my-ns", "--as=alice"
    )
    assert (literal.returncode, literal.stdout) == (1, "no\n")
    assert k.ok(*CAN_PULL, "-n", "my-ns", "--as=alice") == "yes\n"
    assert k.run(*CAN_PULL, "-n", "other-ns", "--as=alice").stdout == "no\n"
    assert (
        k.run(
            "auth",
            "can-i",
            "update",
            "imagestreams.image.acp.io",
            "--subresource=layers",
            "-n",
            "my-ns",
            "--as=alice",
        ).stdout
        == "no\n"
    )

    token = k.ok("create", "token", "builder", "-n", "my-ns").strip()
    assert token.count(".") == 2
    as_builder = Kubectl(k.kubeconfig, k.cache_dir)
    whoami = json.loads(as_builder.ok("--token", token, "auth", "whoami", "-o", "json"))
    assert whoami["status"]["userInfo"]["username"] == "system:serviceaccount:my-ns:builder"
    assert "system:serviceaccounts:my-ns" in whoami["status"]["userInfo"]["groups"]
    assert (
        as_builder.ok(
            "--token",
            token,
            "auth",
            "can-i",
            "update",
            "imagestreams.image.acp.io",
            "--subresource=layers",
            "-n",
            "my-ns",
        )
        == "yes\n"
    )

    assert k.ok("delete", "rolebinding", "pull-alice", "-n", "my-ns") == (
        f'rolebinding.{RBAC} "pull-alice" deleted\n'
    )
    assert k.run(*CAN_PULL, "-n", "my-ns", "--as=alice").stdout == "no\n"
    assert "pull-alice" not in k.ok("get", "rolebindings", "-n", "my-ns")

    assert k.ok("delete", "sa", "builder", "-n", "my-ns") == 'serviceaccount "builder" deleted\n'
    refused = as_builder.fails("--token", token, "auth", "whoami")
    assert "You must be logged in to the server" in refused

    rows = _rows(k.ok("get", "namespaces"))
    assert rows[0] == ["NAME", "STATUS", "AGE"]
    assert rows[1][:2] == ["my-ns", "Active"]
    got = yaml.safe_load(k.ok("get", "namespace", "my-ns", "-o", "yaml"))
    assert got["status"] == {"phase": "Active"}
    assert got["metadata"]["labels"]["kubernetes.io/metadata.name"] == "my-ns"

    assert k.ok("delete", "namespace", "my-ns") == 'namespace "my-ns" deleted\n'
    assert 'namespaces "my-ns" not found' in k.fails("get", "namespace", "my-ns")
    gone = k.run("get", "rolebindings", "-n", "my-ns")
    assert gone.stderr.strip() == "No resources found in my-ns namespace."


def test_clusterroles_listing(admin: Kubectl) -> None:
    rows = _rows(admin.ok("get", "clusterroles"))
    assert rows[0] == ["NAME", "CREATED", "AT"]
    names = {row[0] for row in rows[1:]}
    assert {
        "cluster-admin",
        "admin",
        "edit",
        "view",
        "system:image-puller",
        "system:image-pusher",
        "system:image-deleter",
    } <= names
    pusher = yaml.safe_load(admin.ok("get", "clusterrole", "system:image-pusher", "-o", "yaml"))
    assert pusher["rules"] == [
        {
            "apiGroups": ["image.acp.io"],
            "resources": ["imagestreams/layers"],
            "verbs": ["get", "update"],
        }
    ]
    names_only = admin.ok("get", "clusterrolebindings", "-o", "name").split()
    assert f"clusterrolebinding.{RBAC}/acp:bootstrap-admin" in names_only


def test_whoami(admin: Kubectl) -> None:
    rows = dict(line.split(None, 1) for line in admin.ok("auth", "whoami").strip().splitlines()[1:])
    assert rows["Username"].strip() == "admin"
    assert rows["Groups"].strip() == "[system:authenticated]"


def test_discovery_is_quiet_and_complete(admin: Kubectl) -> None:
    done = admin.run("api-resources")
    assert done.returncode == 0
    assert done.stderr == ""
    resources = {line.split()[0] for line in done.stdout.splitlines()[1:]}
    assert {
        "namespaces",
        "serviceaccounts",
        "roles",
        "rolebindings",
        "clusterroles",
        "clusterrolebindings",
        "selfsubjectaccessreviews",
        "subjectaccessreviews",
        "tokenreviews",
        "selfsubjectreviews",
    } <= resources
    version = admin.ok("version")
    assert "Server Version: v1.32" in version


def test_namespace_creator_becomes_admin_and_cannot_escalate(
    acp_tls_server: RunningServer, admin: Kubectl, workdir: Path
) -> None:
    creator_role = _name("ns-creator")
    admin.ok("create", "clusterrole", creator_role, "--verb=create", "--resource=namespaces")
    nora_name = _name("nora")
    admin.ok(
        "create",
        "clusterrolebinding",
        creator_role,
        f"--clusterrole={creator_role}",
        f"--user={nora_name}",
    )
    nora = _user(acp_tls_server, admin, workdir, nora_name)
    ns = _name("nora-ns")
    assert nora.ok("create", "namespace", ns) == f"namespace/{ns} created\n"
    assert nora.ok("auth", "can-i", "create", "rolebindings", "-n", ns) == "yes\n"
    assert nora.run("auth", "can-i", "create", "rolebindings", "-n", "default").stdout == "no\n"

    refused = nora.fails(
        "create",
        "rolebinding",
        "root",
        "--clusterrole=cluster-admin",
        f"--user={nora_name}",
        "-n",
        ns,
    )
    assert f'rolebindings.{RBAC} "root" is forbidden: user "{nora_name}"' in refused
    assert "is attempting to grant RBAC permissions not currently held" in refused
    assert "root" not in admin.ok("get", "rolebindings", "-n", ns)

    assert (
        nora.ok(
            "create", "rolebinding", "readers", "--clusterrole=view", "--group=readers", "-n", ns
        )
        == f"rolebinding.{RBAC}/readers created\n"
    )
    assert (
        nora.ok(
            "create",
            "rolebinding",
            "pull",
            "--clusterrole=system:image-puller",
            "--user=alice",
            "-n",
            ns,
        )
        == f"rolebinding.{RBAC}/pull created\n"
    )
    # A namespace admin may not create namespace-wide roles beyond what it holds.
    refused = nora.fails(
        "create", "role", "ns-deleter", "--verb=delete", "--resource=namespaces", "-n", ns
    )
    assert "attempting to grant RBAC permissions not currently held" in refused


def test_impersonation_needs_the_impersonate_verb(
    acp_tls_server: RunningServer, admin: Kubectl, workdir: Path
) -> None:
    olga = _user(acp_tls_server, admin, workdir, _name("olga"))
    refused = olga.fails("auth", "can-i", "get", "namespaces", "--as=bob")
    assert 'users "bob" is forbidden: User "olga-' in refused
    assert 'cannot impersonate resource "users" in API group "" at the cluster scope' in refused
    refused = olga.fails("auth", "can-i", "get", "namespaces", "--as=system:serviceaccount:a:b")
    assert 'cannot impersonate resource "serviceaccounts" in API group "" in the namespace "a"' in (
        refused
    )
    # cluster-admin may impersonate anyone, groups included.
    whoami = json.loads(admin.ok("auth", "whoami", "--as=bob", "--as-group=devs", "-o", "json"))
    assert whoami["status"]["userInfo"]["username"] == "bob"
    assert whoami["status"]["userInfo"]["groups"] == ["devs", "system:authenticated"]


def test_files_apply_patch_label_and_dry_run(admin: Kubectl) -> None:
    ns = _name("files")
    admin.ok("create", "namespace", ns)
    manifest = f"""
apiVersion: {RBAC}/v1
kind: RoleBinding
metadata:
  name: from-file
  namespace: {ns}
roleRef:
  apiGroup: {RBAC}
  kind: ClusterRole
  name: view
subjects:
- kind: User
  name: bob
"""
    assert (
        admin.ok("create", "-f", "-", input=manifest) == f"rolebinding.{RBAC}/from-file created\n"
    )
    again = admin.fails("create", "-f", "-", input=manifest)
    assert f'rolebindings.{RBAC} "from-file" already exists' in again
    assert "(AlreadyExists)" in again
    changed = admin.run("apply", "-f", "-", input=manifest.replace("name: bob", "name: carol"))
    assert changed.returncode == 0
    assert changed.stdout == f"rolebinding.{RBAC}/from-file configured\n"
    subjects = json.loads(admin.ok("get", "rolebinding", "from-file", "-n", ns, "-o", "json"))
    assert [s["name"] for s in subjects["subjects"]] == ["carol"]

    admin.ok(
        "patch",
        "rolebinding",
        "from-file",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"add","path":"/subjects/-","value":{"kind":"Group","name":"g",'
        '"apiGroup":"rbac.authorization.k8s.io"}}]',
    )
    admin.ok(
        "patch",
        "rolebinding",
        "from-file",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"metadata":{"annotations":{"team":"blue"}}}',
    )
    admin.ok("label", "rolebinding", "from-file", "-n", ns, "tier=gold")
    got = json.loads(admin.ok("get", "rolebinding", "from-file", "-n", ns, "-o", "json"))
    assert [s["name"] for s in got["subjects"]] == ["carol", "g"]
    assert got["metadata"]["annotations"]["team"] == "blue"
    assert got["metadata"]["labels"] == {"tier": "gold"}
    assert admin.ok("get", "rolebindings", "-n", ns, "-l", "tier=gold", "-o", "name") == (
        f"rolebinding.{RBAC}/from-file\n"
    )

    immutable = admin.fails(
        "patch",
        "rolebinding",
        "from-file",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"roleRef":{"name":"edit"}}',
    )
    assert "cannot change roleRef" in immutable
    assert immutable.startswith('The RoleBinding "from-file" is invalid: roleRef: ')

    dry = admin.ok("create", "namespace", f"{ns}-dry", "--dry-run=server")
    assert dry == f"namespace/{ns}-dry created (server dry run)\n"
    assert "not found" in admin.fails("get", "namespace", f"{ns}-dry")

    listed = admin.ok("auth", "can-i", "--list", "-n", ns)
    assert listed.splitlines()[0].split()[:2] == ["Resources", "Non-Resource"]


def test_bad_names_are_refused_like_kubernetes(admin: Kubectl) -> None:
    refused = admin.fails("create", "namespace", "My_NS")
    assert 'The Namespace "My_NS" is invalid' in refused
    assert "a lowercase RFC 1123 label must consist of" in refused
    assert "My_NS" not in admin.ok("get", "namespaces")
    refused = admin.fails(
        "create", "rolebinding", "x", "--clusterrole=view", "--user=a", "-n", "no-such-namespace"
    )
    assert 'namespaces "no-such-namespace" not found' in refused
