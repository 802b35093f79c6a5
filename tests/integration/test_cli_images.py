"""`ac get images` and `ac delete images` against a real server: every output format, the
permission model, tag-only deletion, and every error leaving the registry as it was."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.cli import Ac, make_ac
from tests.support.platform import Platform
from tests.support.registry_client import OCI_INDEX, Image, make_image
from tests.support.seed import Image as SeedImage
from tests.support.seed import Seeder, unique
from tests.support.server import RunningServer

PASSWORD = "reader-password-1"
FIELDS = [
    "namespace",
    "repository",
    "tag",
    "digest",
    "mediaType",
    "size",
    "created",
    "tagged",
    "platforms",
]
MiB = 1024 * 1024


def size_of(image: Image) -> int:
    """What the registry reports as an image's size: config and layers."""
    return sum(len(blob) for blob in image.blobs)


@dataclass
class World:
    team_a: str
    team_b: str
    secret: str
    empty: str
    reader: str  # may pull in team_a and team_b (and see empty)
    outsider: str  # bound nowhere
    release_1: Image  # my-app:latest and my-app:v1
    base: Image  # team_b's base:latest


@pytest.fixture(scope="module")
def world(acp_server: RunningServer, platform: Platform) -> World:
    """Namespaces and bindings made through the Kubernetes API, images pushed through the
    registry: what `ac get images` lists is what OCI clients pushed."""
    w = World(
        team_a=unique("team-a"),
        team_b=unique("team-b"),
        secret=unique("secret"),
        empty=unique("empty"),
        reader=unique("reader"),
        outsider=unique("outsider"),
        release_1=make_image(layer_size=5 * MiB),
        base=make_image(layer_size=600),
    )
    for ns in (w.team_a, w.team_b, w.secret, w.empty):
        platform.namespace(ns)
    for user in (w.reader, w.outsider):
        platform.user(user, PASSWORD)
    platform.bind(w.team_a, "system:image-puller", user=w.reader)
    platform.bind(w.team_b, "view", user=w.reader)
    platform.bind(w.empty, "system:image-puller", user=w.reader)
    platform.push(f"{w.team_a}/my-app", "latest", w.release_1)
    platform.push(f"{w.team_a}/my-app", "v1", w.release_1)
    platform.push(f"{w.team_a}/my-app", "v2", make_image(layer_size=6 * MiB))
    builder = [make_image(), make_image(architecture="arm64")]
    platform.push_index(f"{w.team_a}/tools/builder", "1.0", builder)
    platform.push(f"{w.team_b}/base", "latest", w.base)
    platform.push(f"{w.secret}/hidden", "latest", make_image())
    return w


@pytest.fixture
def reader(tmp_path: Path, acp_server: RunningServer, world: World) -> Ac:
    ac = make_ac(tmp_path)
    ac.login(acp_server, world.reader, PASSWORD)
    return ac


# --- ac get images: outputs ------------------------------------------------------------------


def test_table_shows_every_namespace_the_user_may_pull_from(reader: Ac, world: World) -> None:
    out = reader.ok("get", "images").lines
    assert re.split(r"\s{3,}", out[0]) == [
        "NAMESPACE",
        "REPOSITORY",
        "TAG",
        "DIGEST",
        "SIZE",
        "AGE",
    ]
    rows = [re.split(r"\s{3,}", line) for line in out[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (world.team_a, "my-app", "latest"),
        (world.team_a, "my-app", "v1"),
        (world.team_a, "my-app", "v2"),
        (world.team_a, "tools/builder", "1.0"),
        (world.team_b, "base", "latest"),
    ]
    assert rows[0][3] == world.release_1.digest[: len("sha256:") + 12]
    assert rows[0][4] == "5.0 MiB"
    assert rows[4][4] == f"{size_of(world.base)} B"
    assert re.fullmatch(r"\d+s", rows[0][5])  # pushed seconds ago
    # Columns line up: every cell of a column starts at the same offset.
    starts = [line.index(world.team_a) for line in out[1:5]]
    assert len(set(starts)) == 1
    assert world.secret not in "\n".join(out)


def test_the_explicit_forms_table_and_all_namespaces_match(reader: Ac) -> None:
    def cells(*args: str) -> list[list[str]]:
        # Everything but AGE, which ticks between two runs.
        return [re.split(r"\s{3,}", line)[:-1] for line in reader.ok("get", "images", *args).lines]

    default = cells()
    assert cells("-o", "table") == default
    assert cells("-A") == default


def test_one_namespace_drops_the_namespace_column(reader: Ac, world: World) -> None:
    out = reader.ok("get", "images", "-n", world.team_b).lines
    assert re.split(r"\s{3,}", out[0]) == ["REPOSITORY", "TAG", "DIGEST", "SIZE", "AGE"]
    assert len(out) == 2
    assert out[1].startswith("base ")


def test_wide_adds_full_digest_platforms_media_type_and_pull_reference(
    reader: Ac, world: World, acp_server: RunningServer
) -> None:
    out = reader.ok("get", "images", "-n", world.team_a, "-o", "wide").lines
    assert re.split(r"\s{3,}", out[0]) == [
        "REPOSITORY", "TAG", "DIGEST", "SIZE", "AGE", "PLATFORMS", "MEDIA TYPE", "IMAGE",
    ]  # fmt: skip
    builder = next(re.split(r"\s{3,}", line) for line in out if line.startswith("tools/builder"))
    assert builder[5] == "linux/amd64,linux/arm64"
    assert builder[6] == OCI_INDEX
    assert builder[7] == f"{acp_server.host}/{world.team_a}/tools/builder:1.0"
    latest = next(re.split(r"\s{3,}", line) for line in out if line.startswith("my-app "))
    assert latest[2] == world.release_1.digest


def test_json_is_a_list_with_stable_field_names(
    reader: Ac, world: World, acp_server: RunningServer
) -> None:
    data = json.loads(reader.ok("get", "images", "-o", "json").out)
    assert data["apiVersion"] == "registry.acp.io/v1"
    assert data["kind"] == "List"
    assert data["metadata"] == {"cluster": "global", "registryHost": acp_server.host}
    assert [list(item) for item in data["items"]] == [FIELDS] * 5
    first = data["items"][0]
    assert first["namespace"] == world.team_a
    assert first["repository"] == "my-app"
    assert first["tag"] == "latest"
    assert first["digest"] == world.release_1.digest
    assert first["size"] == size_of(world.release_1)
    assert first["platforms"] == ["linux/amd64"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["created"])


def test_yaml_is_valid_and_matches_json(reader: Ac) -> None:
    as_yaml = yaml.safe_load(reader.ok("get", "images", "-o", "yaml").out)
    as_json = json.loads(reader.ok("get", "images", "-o", "json").out)
    assert as_yaml == as_json
    assert as_yaml["kind"] == "List"
    assert len(as_yaml["items"]) == 5


def test_name_output_prints_references_delete_accepts(reader: Ac, world: World) -> None:
    assert reader.ok("get", "images", "-n", world.team_a, "-o", "name").lines == [
        f"{world.team_a}/my-app:latest",
        f"{world.team_a}/my-app:v1",
        f"{world.team_a}/my-app:v2",
        f"{world.team_a}/tools/builder:1.0",
    ]


def test_an_empty_namespace_prints_nothing_and_says_so(reader: Ac, world: World) -> None:
    result = reader.ok("get", "images", "-n", world.empty)
    assert result.out == ""
    assert result.err.strip() == f"No images found in namespace {world.empty}."
    data = json.loads(reader.ok("get", "images", "-n", world.empty, "-o", "json").out)
    assert data["items"] == []
    assert reader.ok("get", "images", "-n", world.empty, "-o", "name").out == ""


def test_a_user_bound_nowhere_sees_nothing(
    tmp_path: Path, acp_server: RunningServer, world: World
) -> None:
    ac = make_ac(tmp_path)
    ac.login(acp_server, world.outsider, PASSWORD)
    result = ac.ok("get", "images")
    assert result.out == ""
    assert "No images found" in result.err


def test_many_namespaces_across_several_pages(
    tmp_path: Path, acp_server: RunningServer, platform: Platform, seeder: Seeder
) -> None:
    user = unique("many")
    platform.user(user, PASSWORD)
    namespaces = [unique(f"n{i:02d}") for i in range(30)]
    images = []
    for i, ns in enumerate(namespaces):
        platform.namespace(ns)
        if i % 3:  # bound in 20 of the 30
            platform.bind(ns, "system:image-puller", user=user)
        images += [SeedImage(ns, f"app{j}", f"t{k}") for j in range(4) for k in range(12)]
    # 1,440 tags, more than one page: written as rows, which pushing would take minutes for.
    seeder.images(images)
    ac = make_ac(tmp_path)
    ac.login(acp_server, user, PASSWORD)
    names = ac.ok("get", "images", "-o", "name").lines
    visible = sorted(ns for i, ns in enumerate(namespaces) if i % 3)
    assert len(names) == 20 * 48
    assert sorted({n.split("/")[0] for n in names}) == visible
    assert names == sorted(names, key=lambda n: (n.split("/")[0], n.rsplit(":", 1)[0], n))


# --- ac get images: errors -------------------------------------------------------------------


def test_no_permission_names_the_namespace_and_the_role(reader: Ac, world: World) -> None:
    result = reader.fails("get", "images", "-n", world.secret)
    assert result.code == 1
    assert world.secret in result.err
    assert "system:image-puller" in result.err
    # The same answer for a namespace that does not exist: nothing leaks.
    ghost = reader.fails("get", "images", "-n", "no-such-ns-here")
    assert ghost.err.replace("no-such-ns-here", "X") == result.err.replace(world.secret, "X")


def test_unknown_namespace(admin_ac: Ac) -> None:
    result = admin_ac.fails("get", "images", "-n", "no-such-namespace")
    assert "namespace 'no-such-namespace' does not exist" in result.err


def test_registry_url_without_a_scheme(reader: Ac) -> None:
    result = reader.fails("get", "images", "--registry-url=127.0.0.1:5000")
    assert result.code == 1
    assert "has no scheme" in result.err
    assert "https://127.0.0.1:5000" in result.err
    from_env = reader.fails("get", "images", env={"AC_REGISTRY_URL": "registry.example:5000"})
    assert "AC_REGISTRY_URL" in from_env.err
    assert "has no scheme" in from_env.err


def test_unreachable_registry_names_the_url(reader: Ac) -> None:
    url = "http://127.0.0.1:9"
    result = reader.fails("get", "images", f"--registry-url={url}")
    assert url in result.err
    assert "cannot reach" in result.err


def test_registry_url_resolution_order(reader: Ac, acp_server: RunningServer, world: World) -> None:
    dead = "http://127.0.0.1:9"
    # The flag wins over the environment, which wins over the session's advertised URL.
    assert reader.ok(
        "get", "images", "-n", world.team_b, f"--registry-url={acp_server.url}",
        env={"AC_REGISTRY_URL": dead},
    ).out  # fmt: skip
    assert dead in reader.fails("get", "images", env={"AC_REGISTRY_URL": dead}).err
    assert reader.ok("get", "images", "-n", world.team_b).out


def test_revoked_session_says_to_log_in_again(
    tmp_path: Path, acp_server: RunningServer, world: World
) -> None:
    ac = make_ac(tmp_path)
    ac.login(acp_server, world.reader, PASSWORD)
    token = yaml.safe_load(ac.kubeconfig.read_text())["users"][0]["user"]["token"]
    httpx.post(f"{acp_server.url}/api/v1/logout", headers={"Authorization": f"Bearer {token}"})
    result = ac.fails("get", "images")
    assert "expired or was revoked" in result.err
    assert "ac login" in result.err


# --- ac delete images ------------------------------------------------------------------------


@dataclass(frozen=True)
class Repo:
    namespace: str
    name: str
    digest: str  # of v1, latest and stable; v2 has its own

    @property
    def path(self) -> str:
        return f"{self.namespace}/{self.name}"


@pytest.fixture
def repo(platform: Platform, world: World) -> Repo:
    """A fresh repository in team_a: v1, latest and stable share a digest, v2 has its own."""
    name = unique("del")
    path = f"{world.team_a}/{name}"
    release = make_image()
    for tag in ("v1", "latest", "stable"):
        platform.push(path, tag, release)
    platform.push(path, "v2", make_image())
    return Repo(world.team_a, name, release.digest)


def test_delete_preview_changes_nothing_and_names_the_tags_that_stay(
    admin_ac: Ac, platform: Platform, repo: Repo
) -> None:
    ns, name = repo.namespace, repo.name
    digest = repo.digest
    result = admin_ac.ok("delete", "images", f"--repo={ns}/{name}:v1")
    assert result.out.strip() == (
        f"tag {ns}/{name}:v1 would be deleted (digest {digest}); "
        "other tags on that digest stay: latest, stable"
    )
    assert "--confirm" in result.err
    assert platform.tags(repo.path) == ["latest", "stable", "v1", "v2"]


def test_delete_confirm_removes_that_tag_only(admin_ac: Ac, platform: Platform, repo: Repo) -> None:
    ns, name = repo.namespace, repo.name
    digest = repo.digest
    result = admin_ac.ok("delete", "images", f"--repo={ns}/{name}:v1", "--confirm")
    assert result.out.startswith(f"tag {ns}/{name}:v1 deleted (digest {digest})")
    assert platform.tags(repo.path) == ["latest", "stable", "v2"]
    assert platform.manifest_exists(repo.path, digest)
    remaining = admin_ac.ok("get", "images", "-n", ns, "-o", "name").lines
    assert f"{ns}/{name}:latest" in remaining
    assert f"{ns}/{name}:v1" not in remaining


def test_delete_by_digest_removes_the_manifest_and_reports_its_tags(
    admin_ac: Ac, platform: Platform, repo: Repo
) -> None:
    ns, name = repo.namespace, repo.name
    digest = repo.digest
    preview = admin_ac.ok("delete", "images", f"--repo={ns}/{name}@{digest}")
    assert "would be deleted, with its tags: latest, stable, v1" in preview.out
    done = admin_ac.ok(
        "delete", "images", f"--repo={ns}/{name}@{digest}", "--confirm", "-o", "json"
    )
    [item] = json.loads(done.out)["items"]
    assert item["manifestDeleted"] is True
    assert item["deletedTags"] == ["latest", "stable", "v1"]
    assert platform.tags(repo.path) == ["v2"]
    assert not platform.manifest_exists(repo.path, digest)


def test_several_repos_in_one_command(admin_ac: Ac, platform: Platform, repo: Repo) -> None:
    ns, name = repo.namespace, repo.name
    admin_ac.ok("delete", "images", f"--repo={ns}/{name}:v1", f"--repo={ns}/{name}:v2", "--confirm")
    assert platform.tags(repo.path) == ["latest", "stable"]


@pytest.mark.parametrize(
    "value",
    [
        "my-app:v1",
        "ns/app",
        "NS/app:v1",
        "ns/App:v1",
        "ns/app:bad tag",
        "ns/app@sha256:123",
        "/app:v1",
    ],
)
def test_malformed_repo_is_refused_before_any_request(
    admin_ac: Ac, platform: Platform, repo: Repo, value: str
) -> None:
    ns, name = repo.namespace, repo.name
    result = admin_ac.fails(
        "delete", "images", f"--repo={ns}/{name}:v1", f"--repo={value}", "--confirm"
    )
    assert result.code == 2
    assert "malformed" in result.err
    assert "NS/NAME:TAG" in result.err
    assert platform.tags(repo.path) == ["latest", "stable", "v1", "v2"]


def test_one_missing_tag_means_nothing_is_deleted(
    admin_ac: Ac, platform: Platform, repo: Repo
) -> None:
    ns, name = repo.namespace, repo.name
    result = admin_ac.fails(
        "delete", "images", f"--repo={ns}/{name}:v1", f"--repo={ns}/{name}:nope", "--confirm"
    )
    assert f"{ns}/{name}:nope does not exist" in result.err
    assert platform.tags(repo.path) == ["latest", "stable", "v1", "v2"]


def test_delete_without_permission_names_namespace_and_role(
    reader: Ac, platform: Platform, repo: Repo
) -> None:
    ns, name = repo.namespace, repo.name
    result = reader.fails("delete", "images", f"--repo={ns}/{name}:v1", "--confirm")
    assert ns in result.err
    assert "system:image-deleter" in result.err
    assert platform.tags(repo.path) == ["latest", "stable", "v1", "v2"]


def test_delete_in_an_unknown_namespace(admin_ac: Ac) -> None:
    result = admin_ac.fails("delete", "images", "--repo=no-such-ns/app:v1", "--confirm")
    assert "namespace 'no-such-ns' does not exist" in result.err


def test_delete_with_registry_url_without_scheme(
    admin_ac: Ac, platform: Platform, repo: Repo
) -> None:
    ns, name = repo.namespace, repo.name
    admin_ac.fails(
        "delete", "images", f"--repo={ns}/{name}:v1", "--registry-url=localhost:5000", "--confirm"
    )
    assert platform.tags(repo.path) == ["latest", "stable", "v1", "v2"]
