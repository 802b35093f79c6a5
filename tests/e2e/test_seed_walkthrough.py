"""The seed page (`docs/seed/common_cli_command.md`) from top to bottom: every command
exactly as printed, placeholders filled in, a real OCI client doing the pushes and pulls,
and every outcome checked.

Placeholders: <acp-url> = the server, <cluster-name> = global, <namespace> = my-ns,
<username> / <ACP-USERNAME> = alice, <serviceaccount-name> = builder,
<REGISTRY_CLIENT_HOSTPORT> and <REGISTRY_API_URL> = what the platform advertises.
The page's nerdctl lines run through `tests/support/nerdctl.py` (podman underneath), and
`remote.registry.io` is a local CNCF Distribution that already holds demo/my-app:latest.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support import nerdctl
from tests.support.cli import AC_BIN, Ac, make_ac
from tests.support.fixtures import require_binaries
from tests.support.peer import DistributionRegistry
from tests.support.server import RunningServer

pytestmark = pytest.mark.clients

# Lines of the page, verbatim (each is checked to be on it).
LOGIN_NERDCTL = "nerdctl login <REGISTRY_CLIENT_HOSTPORT> -u <ACP-USERNAME> -p <ACP-PASSWORD>"
LOGIN_NERDCTL_INSECURE = "nerdctl --insecure-registry login <REGISTRY_CLIENT_HOSTPORT> -u <ACP-USERNAME> -p <ACP-PASSWORD>"  # noqa: E501
DELETE_PREVIEW = "ac delete images --repo=my-ns/my-app:v1 --registry-url=<REGISTRY_API_URL>"
DELETE_CONFIRM = f"{DELETE_PREVIEW} --confirm"
DELETE_EXAMPLE = (
    "ac delete images \\\n  --repo=my-ns/my-app:v1 \\\n  --registry-url=<REGISTRY_API_URL> "
    "\\\n  --confirm"
)

ALICE, ALICE_PASSWORD = "alice", "alice-walkthrough-1"
# The page as kept in this repository; beside a checkout of the shared design documents the
# test also checks that the copy is the page itself.
SEED = Path(__file__).resolve().parents[2] / "docs" / "seed" / "common_cli_command.md"
SHARED_SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "common_cli_command.md"


@dataclass
class Env:
    server: RunningServer
    admin: Ac  # the reader of the page, who administers my-ns
    host: str  # <REGISTRY_CLIENT_HOSTPORT>
    api_url: str  # <REGISTRY_API_URL>
    work: Path  # the OCI client's storage
    path: str  # PATH with the nerdctl command first
    remote: str  # host:port of the stand-in for remote.registry.io


def _sh(env: Env, line: str) -> subprocess.CompletedProcess[str]:
    """Run a page line through a shell, as the reader would paste it."""
    return subprocess.run(
        ["bash", "-c", line],
        env={**env.admin.env, "PATH": env.path},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        start_new_session=True,
    )


def ok(env: Env, line: str) -> str:
    done = _sh(env, line)
    assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def pulled(env: Env, reference: str, digest: str) -> bool:
    """Whether the OCI client's storage holds `reference` as the manifest `digest`."""
    out = nerdctl.podman(
        env.work, "image", "inspect", "--format", "{{json .RepoDigests}}", reference
    )
    repository = reference.rsplit(":", 1)[0]
    return f"{repository}@{digest}" in json.loads(out)


def test_the_kept_copy_is_the_seed_page() -> None:
    if not SHARED_SEED.is_file():
        pytest.skip(f"the shared design documents are not beside this checkout ({SHARED_SEED})")
    assert SEED.read_text() == SHARED_SEED.read_text(), f"update {SEED} from {SHARED_SEED}"


@pytest.fixture(scope="module")
def remote_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """CNCF Distribution standing in for remote.registry.io."""
    remote = DistributionRegistry(tmp_path_factory.mktemp("remote"))
    try:
        yield remote.start().host
    finally:
        remote.cleanup()


@pytest.fixture(scope="module")
def env(
    acp_server: RunningServer,
    admin_token: str,
    remote_registry: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    require_binaries("podman", "docker-registry")
    tmp = tmp_path_factory.mktemp("walkthrough")
    admin = make_ac(tmp)
    with acp_server.client(admin_token) as client:
        cluster = client.get("/api/v1/clusters").json()["items"][0]
    host, api_url = cluster["registryHost"], cluster["registryApiUrl"]
    work = tmp / "oci"
    bin_dir = tmp / "bin"
    nerdctl.install(bin_dir, work, [host, remote_registry], {"remote.registry.io": remote_registry})
    (bin_dir / "ac").symlink_to(AC_BIN)  # `ac` as installed, first on PATH like nerdctl
    # A local image `my-app:latest`: busybox, as the page's reader would have built.
    rootfs = tmp / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    (rootfs / "bin" / "sh").symlink_to("busybox")
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tmp / "rootfs.tar"), "."], check=True)
    nerdctl.podman(work, "import", str(tmp / "rootfs.tar"), "my-app:latest")
    path = f"{bin_dir}:{admin.env['PATH']}"
    try:
        yield Env(acp_server, admin, host, api_url, work, path, remote_registry)
    finally:
        nerdctl.remove(work)


def test_the_seed_page_as_printed(env: Env, acp_server: RunningServer, admin_token: str) -> None:
    seed_text = SEED.read_text()
    host, api, url = env.host, env.api_url, acp_server.url

    def page(line: str) -> str:
        """The page's line with its placeholders filled; it must be on the page."""
        filled = line
        for placeholder, value in {
            "<acp-url>": url,
            "<cluster-name>": "global",
            "<REGISTRY_CLIENT_HOSTPORT>": host,
            "<REGISTRY_API_URL>": api,
            "<ACP-USERNAME>": ALICE,
            "<ACP-PASSWORD>": ALICE_PASSWORD,
        }.items():
            filled = filled.replace(placeholder, value)
        return filled

    def on_page(line: str) -> str:
        assert line in seed_text, f"not on the seed page: {line}"
        return line

    # Before you begin: the namespaces, the account, and an image in each namespace the
    # page pulls from.
    acp_server.create_user(ALICE, ALICE_PASSWORD, admin_token)
    env.admin.login(acp_server)
    for ns in ("my-ns", "shared-ns"):
        env.admin.ok("create", "namespace", ns)
    admin_auth = f"-u admin -p {shlex.quote(acp_server.admin_password)}"
    ok(env, f"nerdctl login {host} {admin_auth}")
    for ref in (f"{host}/my-ns/my-app:latest", f"{host}/shared-ns/base-image:latest"):
        ok(env, f"nerdctl tag my-app:latest {ref} && nerdctl push {ref}")
    ok(env, f"nerdctl tag my-app:latest {env.remote}/demo/my-app:latest")
    ok(env, f"nerdctl push {env.remote}/demo/my-app:latest")
    env.admin.ok("create", "rolebinding", "alice-shared", "--clusterrole=system:image-puller",
                 f"--user={ALICE}", "-n", "shared-ns")  # fmt: skip
    env.admin.ok("logout")

    # Authenticate to ACP (interactively: the prompts read the user name and password).
    login = page(on_page("ac login <acp-url>"))
    done = _sh(env, f"printf 'admin\\n%s\\n' {shlex.quote(acp_server.admin_password)} | {login}")
    assert done.returncode == 0, done.stderr
    assert "Logged in" in done.stdout
    assert "global" in ok(env, on_page("ac config get-clusters"))
    ok(env, page(on_page("ac config use-cluster <cluster-name>")))
    assert yaml.safe_load(env.admin.kubeconfig.read_text())["current-context"].endswith("/global")

    # Grant namespace permissions to a user and to a ServiceAccount.
    env.admin.ok("create", "serviceaccount", "builder", "-n", "my-ns")
    grants = {
        "alice-pull": "ac create rolebinding <binding-name> --clusterrole=system:image-puller "
        "--user=<username> -n <namespace>",
        "alice-push": "ac create rolebinding <binding-name> --clusterrole=system:image-pusher "
        "--user=<username> -n <namespace>",
        "builder-pull": "ac create rolebinding <binding-name> --clusterrole=system:image-puller "
        "--serviceaccount=<namespace>:<serviceaccount-name> -n <namespace>",
        "builder-push": "ac create rolebinding <binding-name> --clusterrole=system:image-pusher "
        "--serviceaccount=<namespace>:<serviceaccount-name> -n <namespace>",
    }
    for binding, line in grants.items():
        filled = (
            on_page(line)
            .replace("<binding-name>", binding)
            .replace("<username>", ALICE)
            .replace("<serviceaccount-name>", "builder")
            .replace("<namespace>", "my-ns")
        )
        assert f"rolebinding.rbac.authorization.k8s.io/{binding} created" in ok(env, filled)
    bindings = json.loads(env.admin.ok("get", "rolebindings", "-n", "my-ns", "-o", "json").out)
    assert {b["metadata"]["name"] for b in bindings["items"]} >= set(grants)

    # Authenticate an OCI client, with alice's account, both ways the page shows.
    assert "Login Succeeded" in ok(env, page(on_page(LOGIN_NERDCTL)))
    assert "Login Succeeded" in ok(env, page(on_page(LOGIN_NERDCTL_INSECURE)))

    # List images.
    listed = ok(env, page(on_page("ac get images --registry-url=<REGISTRY_API_URL>")))
    assert "my-app" in listed
    assert "base-image" in listed
    one_ns = ok(env, page(on_page("ac get images -n my-ns --registry-url=<REGISTRY_API_URL>")))
    assert "my-app" in one_ns
    assert "base-image" not in one_ns
    as_yaml = yaml.safe_load(
        ok(env, page(on_page("ac get images -o yaml --registry-url=<REGISTRY_API_URL>")))
    )
    assert {(i["namespace"], i["repository"], i["tag"]) for i in as_yaml["items"]} >= {
        ("my-ns", "my-app", "latest"),
        ("shared-ns", "base-image", "latest"),
    }

    # Pull images (as alice, logged in above): what arrives is what the registry lists.
    listed_digests = {(i["namespace"], i["repository"]): i["digest"] for i in as_yaml["items"]}
    ok(env, page(on_page("nerdctl pull <REGISTRY_CLIENT_HOSTPORT>/my-ns/my-app:latest")))
    ok(env, page(on_page("nerdctl pull <REGISTRY_CLIENT_HOSTPORT>/shared-ns/base-image:latest")))
    assert pulled(env, f"{host}/my-ns/my-app:latest", listed_digests["my-ns", "my-app"])
    assert pulled(
        env, f"{host}/shared-ns/base-image:latest", listed_digests["shared-ns", "base-image"]
    )

    # Push images.
    ok(env, page(on_page("nerdctl tag my-app:latest <REGISTRY_CLIENT_HOSTPORT>/my-ns/my-app:v1")))
    ok(env, page(on_page("nerdctl push <REGISTRY_CLIENT_HOSTPORT>/my-ns/my-app:v1")))
    ok(env, on_page("nerdctl pull remote.registry.io/demo/my-app:latest"))
    ok(env, page(on_page(
        "nerdctl tag remote.registry.io/demo/my-app:latest "
        "<REGISTRY_CLIENT_HOSTPORT>/my-ns/my-app:latest")))  # fmt: skip
    ok(env, page(on_page("nerdctl push <REGISTRY_CLIENT_HOSTPORT>/my-ns/my-app:latest")))
    tags = json.loads(env.admin.ok("get", "images", "-n", "my-ns", "-o", "json").out)["items"]
    by_tag = {i["tag"]: i["digest"] for i in tags if i["repository"] == "my-app"}
    assert set(by_tag) == {"latest", "v1"}
    # The image came back from remote.registry.io unchanged, so both tags share one digest:
    # the situation the page's note about sibling tags is about.
    assert by_tag["v1"] == by_tag["latest"]

    # Delete images: a preview, then the deletion of v1 only.
    preview = ok(env, page(on_page(DELETE_PREVIEW)))
    assert preview.strip() == (
        f"tag my-ns/my-app:v1 would be deleted (digest {by_tag['v1']}); "
        "other tags on that digest stay: latest"
    )
    assert "my-ns/my-app:v1" in env.admin.ok("get", "images", "-n", "my-ns", "-o", "name").lines
    ok(env, page(on_page(DELETE_CONFIRM)))
    names = env.admin.ok("get", "images", "-n", "my-ns", "-o", "name").lines
    assert "my-ns/my-app:v1" not in names
    gone = _sh(env, page("nerdctl pull <REGISTRY_CLIENT_HOSTPORT>/my-ns/my-app:v1"))
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr
    # The page's known flaw is fixed: the sibling tag on the same digest stays pullable.
    assert "my-ns/my-app:latest" in names
    ok(env, page("nerdctl pull <REGISTRY_CLIENT_HOSTPORT>/my-ns/my-app:latest"))
    assert pulled(env, f"{host}/my-ns/my-app:latest", by_tag["latest"])

    # The multi-line example, pasted as printed (after pushing v1 again).
    ok(env, page("nerdctl push <REGISTRY_CLIENT_HOSTPORT>/my-ns/my-app:v1"))
    example = on_page(DELETE_EXAMPLE)
    assert "deleted" in ok(env, page(example))
    assert "my-ns/my-app:v1" not in env.admin.ok("get", "images", "-n", "my-ns", "-o", "name").out

    # The ServiceAccount's grants work with its token, from any OCI client.
    token = env.admin.ok("create", "token", "builder", "-n", "my-ns").out.strip()
    ok(env, f"nerdctl login {host} -u builder -p {token}")
    ok(
        env,
        f"nerdctl tag my-app:latest {host}/my-ns/from-ci:1 && nerdctl push {host}/my-ns/from-ci:1",
    )
    assert "my-ns/from-ci:1" in env.admin.ok("get", "images", "-n", "my-ns", "-o", "name").lines
