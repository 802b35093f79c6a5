"""`ac get images` and `ac delete images` against a real server: every output format, the
permission model, tag-only deletion, and every error leaving the registry as it was."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.cli import Ac, make_ac
from tests.support.seed import OCI_INDEX, Image, Seeder, digest_of, unique
from tests.support.server import RunningServer

PASSWORD = "reader-password-1"
FIELDS = ["namespace", "repository", "tag", "digest", "mediaType", "size", "created", "platforms"]


@dataclass
class World:
    team_a: str
    team_b: str
    secret: str
    empty: str
    reader: str  # may pull in team_a and team_b (and see empty)
    outsider: str  # bound nowhere
    shared_digest: str


@pytest.fixture(scope="module")
def world(acp_server: RunningServer, admin_token: str, seeder: Seeder) -> World:
    w = World(
        team_a=unique("team-a"),
        team_b=unique("team-b"),
        secret=unique("secret"),
        empty=unique("empty"),
        reader=unique("reader"),
        outsider=unique("outsider"),
        shared_digest="",
    )
    for ns in (w.team_a, w.team_b, w.secret, w.empty):
        seeder.namespace(ns)
    for user in (w.reader, w.outsider):
        acp_server.create_user(user, PASSWORD, admin_token)
    seeder.bind(w.team_a, "system:image-puller", user=w.reader)
    seeder.bind(w.team_b, "view", user=w.reader)
    seeder.bind(w.empty, "system:image-puller", user=w.reader)
    shared = Image(w.team_a, "my-app", "latest", content="release-1", size=5 * 1024 * 1024)
    w.shared_digest = digest_of(shared)
    seeder.images(
        [
            shared,
            Image(w.team_a, "my-app", "v1", content="release-1", size=5 * 1024 * 1024),
            Image(w.team_a, "my-app", "v2", content="release-2", size=6 * 1024 * 1024),
            Image(
                w.team_a,
                "tools/builder",
                "1.0",
                media_type=OCI_INDEX,
                platforms=("linux/amd64", "linux/arm64"),
                size=42,
            ),
            Image(w.team_b, "base", "latest", size=900),
            Image(w.secret, "hidden", "latest"),
        ]
    )
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
    assert rows[0][3] == world.shared_digest[: len("sha256:") + 12]
    assert rows[0][4] == "5.0 MiB"
    assert rows[4][4] == "900 B"
    assert rows[0][5] == "3h"
    # Columns line up: every cell of a column starts at the same offset.
    starts = [line.index(world.team_a) for line in out[1:5]]
    assert len(set(starts)) == 1
    assert world.secret not in "\n".join(out)


def test_the_explicit_forms_table_and_all_namespaces_match(reader: Ac) -> None:
    default = reader.ok("get", "images").out
    assert reader.ok("get", "images", "-o", "table").out == default
    assert reader.ok("get", "images", "-A").out == default


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
    assert latest[2] == world.shared_digest


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
    assert first["digest"] == world.shared_digest
    assert first["size"] == 5 * 1024 * 1024
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
    tmp_path: Path, acp_server: RunningServer, admin_token: str, seeder: Seeder
) -> None:
    user = unique("many")
    acp_server.create_user(user, PASSWORD, admin_token)
    namespaces = [unique(f"n{i:02d}") for i in range(30)]
    images = []
    for i, ns in enumerate(namespaces):
        seeder.namespace(ns)
        if i % 3:  # bound in 20 of the 30
            seeder.bind(ns, "system:image-puller", user=user)
        images += [Image(ns, f"app{j}", f"t{k}") for j in range(4) for k in range(12)]
    seeder.images(images)  # 1,440 tags: more than one page
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


@pytest.fixture
def repo(seeder: Seeder, world: World) -> Iterator[tuple[str, str]]:
    """A fresh repository in team_a: v1 and latest share a digest, v2 has its own."""
    name = unique("del")
    seeder.images(
        [
            Image(world.team_a, name, "v1", content=f"{name}-1"),
            Image(world.team_a, name, "latest", content=f"{name}-1"),
            Image(world.team_a, name, "stable", content=f"{name}-1"),
            Image(world.team_a, name, "v2", content=f"{name}-2"),
        ]
    )
    return world.team_a, name


def test_delete_preview_changes_nothing_and_names_the_tags_that_stay(
    admin_ac: Ac, seeder: Seeder, repo: tuple[str, str]
) -> None:
    ns, name = repo
    digest = digest_of(Image(ns, name, "v1", content=f"{name}-1"))
    result = admin_ac.ok("delete", "images", f"--repo={ns}/{name}:v1")
    assert result.out.strip() == (
        f"tag {ns}/{name}:v1 would be deleted (digest {digest}); "
        "other tags on that digest stay: latest, stable"
    )
    assert "--confirm" in result.err
    assert seeder.tag_names(ns, name) == ["latest", "stable", "v1", "v2"]


def test_delete_confirm_removes_that_tag_only(
    admin_ac: Ac, seeder: Seeder, repo: tuple[str, str]
) -> None:
    ns, name = repo
    digest = digest_of(Image(ns, name, "v1", content=f"{name}-1"))
    result = admin_ac.ok("delete", "images", f"--repo={ns}/{name}:v1", "--confirm")
    assert result.out.startswith(f"tag {ns}/{name}:v1 deleted (digest {digest})")
    assert seeder.tag_names(ns, name) == ["latest", "stable", "v2"]
    assert digest in seeder.manifest_digests(ns, name)
    remaining = admin_ac.ok("get", "images", "-n", ns, "-o", "name").lines
    assert f"{ns}/{name}:latest" in remaining
    assert f"{ns}/{name}:v1" not in remaining


def test_delete_by_digest_removes_the_manifest_and_reports_its_tags(
    admin_ac: Ac, seeder: Seeder, repo: tuple[str, str]
) -> None:
    ns, name = repo
    digest = digest_of(Image(ns, name, "v1", content=f"{name}-1"))
    preview = admin_ac.ok("delete", "images", f"--repo={ns}/{name}@{digest}")
    assert "would be deleted, with its tags: latest, stable, v1" in preview.out
    done = admin_ac.ok(
        "delete", "images", f"--repo={ns}/{name}@{digest}", "--confirm", "-o", "json"
    )
    [item] = json.loads(done.out)["items"]
    assert item["manifestDeleted"] is True
    assert item["deletedTags"] == ["latest", "stable", "v1"]
    assert seeder.tag_names(ns, name) == ["v2"]
    assert digest not in seeder.manifest_digests(ns, name)


def test_several_repos_in_one_command(admin_ac: Ac, seeder: Seeder, repo: tuple[str, str]) -> None:
    ns, name = repo
    admin_ac.ok("delete", "images", f"--repo={ns}/{name}:v1", f"--repo={ns}/{name}:v2", "--confirm")
    assert seeder.tag_names(ns, name) == ["latest", "stable"]


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
    admin_ac: Ac, seeder: Seeder, repo: tuple[str, str], value: str
) -> None:
    ns, name = repo
    result = admin_ac.fails(
        "delete", "images", f"--repo={ns}/{name}:v1", f"--repo={value}", "--confirm"
    )
    assert result.code == 2
    assert "malformed" in result.err
    assert "NS/NAME:TAG" in result.err
    assert seeder.tag_names(ns, name) == ["latest", "stable", "v1", "v2"]


def test_one_missing_tag_means_nothing_is_deleted(
    admin_ac: Ac, seeder: Seeder, repo: tuple[str, str]
) -> None:
    ns, name = repo
    result = admin_ac.fails(
        "delete", "images", f"--repo={ns}/{name}:v1", f"--repo={ns}/{name}:nope", "--confirm"
    )
    assert f"{ns}/{name}:nope does not exist" in result.err
    assert seeder.tag_names(ns, name) == ["latest", "stable", "v1", "v2"]


def test_delete_without_permission_names_namespace_and_role(
    reader: Ac, seeder: Seeder, repo: tuple[str, str]
) -> None:
    ns, name = repo
    result = reader.fails("delete", "images", f"--repo={ns}/{name}:v1", "--confirm")
    assert ns in result.err
    assert "system:image-deleter" in result.err
    assert seeder.tag_names(ns, name) == ["latest", "stable", "v1", "v2"]


def test_delete_in_an_unknown_namespace(admin_ac: Ac) -> None:
    result = admin_ac.fails("delete", "images", "--repo=no-such-ns/app:v1", "--confirm")
    assert "namespace 'no-such-ns' does not exist" in result.err


def test_delete_with_registry_url_without_scheme(
    admin_ac: Ac, seeder: Seeder, repo: tuple[str, str]
) -> None:
    ns, name = repo
    admin_ac.fails(
        "delete", "images", f"--repo={ns}/{name}:v1", "--registry-url=localhost:5000", "--confirm"
    )
    assert seeder.tag_names(ns, name) == ["latest", "stable", "v1", "v2"]
