"""Command-line values: image references, durations, subjects, resources, URLs."""

from __future__ import annotations

import pytest

from acp.cli.commands.auth import review_spec
from acp.cli.commands.create import parse_duration, subjects
from acp.cli.commands.images import ImageReference, parse_reference
from acp.cli.commands.session import default_session_name, platform_url
from acp.cli.errors import UsageError
from acp.cli.resources import find, group_of

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my-ns/my-app:v1", ImageReference("my-ns", "my-app", tag="v1")),
        ("my-ns/tools/builder:1.0", ImageReference("my-ns", "tools/builder", tag="1.0")),
        (f"my-ns/my-app@{DIGEST}", ImageReference("my-ns", "my-app", digest=DIGEST)),
        ("a/b_c.d__e-f:Tag_1.x-y", ImageReference("a", "b_c.d__e-f", tag="Tag_1.x-y")),
    ],
)
def test_references(value: str, expected: ImageReference) -> None:
    assert parse_reference(value) == expected
    assert str(parse_reference(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        "my-app:v1",
        "my-ns/my-app",
        "my-ns/my-app:",
        "My-NS/app:v1",
        "ns/App:v1",
        "ns/app:-v1",
        "ns/app:" + "x" * 129,
        "ns/app@sha256:abc",
        "ns/app@md5:" + "0" * 32,
        "/app:v1",
        "ns/:v1",
        "ns//app:v1",
        "host:5000/ns/app",
    ],
)
def test_malformed_references(value: str) -> None:
    with pytest.raises(UsageError, match="malformed"):
        parse_reference(value)


def test_reference_paths() -> None:
    assert (
        parse_reference("ns/a/b:v1").path
        == "/api/registry/v1/namespaces/ns/repositories/a/b/tags/v1"
    )
    assert parse_reference(f"ns/a@{DIGEST}").path.endswith(f"/repositories/a/manifests/{DIGEST}")


@pytest.mark.parametrize(
    ("value", "seconds"), [("90", 90), ("90s", 90), ("10m", 600), ("1h30m", 5400), ("2d", 172800)]
)
def test_durations(value: str, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "1x", "h", "-5m"])
def test_bad_durations(value: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(value)


def test_subjects() -> None:
    assert subjects(("alice",), ("team",), ("my-ns:builder",)) == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "team"},
        {"kind": "ServiceAccount", "name": "builder", "namespace": "my-ns"},
    ]


@pytest.mark.parametrize("value", ["builder", ":builder", "my-ns:", "a:b:c"])
def test_serviceaccount_subjects_need_namespace_and_name(value: str) -> None:
    with pytest.raises(UsageError, match="NAMESPACE:NAME"):
        subjects((), (), (value,))


@pytest.mark.parametrize(
    ("name", "plural"),
    [("ns", "namespaces"), ("namespace", "namespaces"), ("SA", "serviceaccounts"),
     ("rolebinding", "rolebindings"), ("rolebindings.rbac.authorization.k8s.io", "rolebindings"),
     ("clusterrole", "clusterroles")],
)  # fmt: skip
def test_resource_aliases(name: str, plural: str) -> None:
    found = find(name)
    assert found is not None
    assert found.plural == plural


def test_groups_for_can_i() -> None:
    assert group_of("images") == ("images", "image.acp.io")
    assert group_of("istag") == ("imagestreamtags", "image.acp.io")
    assert group_of("rolebindings") == ("rolebindings", "rbac.authorization.k8s.io")
    assert group_of("deployments.apps") == ("deployments", "apps")
    assert group_of("pods") == ("pods", "")


def test_review_spec() -> None:
    assert review_spec("update", "imagestreams/layers", "", "my-ns", "") == {
        "resourceAttributes": {
            "namespace": "my-ns",
            "verb": "update",
            "group": "image.acp.io",
            "resource": "imagestreams",
            "subresource": "layers",
        }
    }
    assert review_spec("get", "/healthz", "", "", "") == {
        "nonResourceAttributes": {"verb": "get", "path": "/healthz"}
    }


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("acp.example.com", "https://acp.example.com"),
        ("http://127.0.0.1:5000/", "http://127.0.0.1:5000"),
        ("https://acp.example.com:8443", "https://acp.example.com:8443"),
    ],
)
def test_platform_urls(typed: str, url: str) -> None:
    assert platform_url(typed) == url


def test_platform_url_refuses_other_schemes() -> None:
    with pytest.raises(UsageError):
        platform_url("ftp://acp.example.com")


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("http://[::1", "is not a valid URL"),
        ("http://x:abc", "is not a valid URL"),
        ("https://", "has no host name"),
        ("https:///path", "has no host name"),
    ],
)
def test_platform_url_refuses_malformed_urls(typed: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        platform_url(typed)


def test_default_session_names() -> None:
    assert default_session_name("https://acp.example.com") == "acp.example.com"
    assert default_session_name("http://127.0.0.1:5000") == "127.0.0.1-5000"
    assert default_session_name("http://[::1]:5000") == "1-5000"
