"""Repository names, tags, references and scopes: the grammars."""

from __future__ import annotations

import pytest

from acp.auth.token_endpoint import parse_scopes
from acp.registry.names import (
    InvalidName,
    InvalidReference,
    parse_reference,
    parse_repository,
    referrers_tag,
)
from acp.storage import digests

SHA256 = "sha256:" + "a" * 64
SHA512 = "sha512:" + "b" * 128


@pytest.mark.parametrize(
    ("path", "namespace", "name"),
    [
        ("ns/app", "ns", "app"),
        ("my-ns/tools/app", "my-ns", "tools/app"),
        ("ns/a.b_c__d---e", "ns", "a.b_c__d---e"),
        ("n0/x", "n0", "x"),
    ],
)
def test_valid_repository_names(path: str, namespace: str, name: str) -> None:
    parsed = parse_repository(path)
    assert (parsed.path, parsed.namespace, parsed.name) == (path, namespace, name)


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "ns/../x",
        "My-NS/app",
        "ns/App",
        "ns//app",
        "/ns/app",
        "ns/app/",
        "ns/-app",
        "ns/app_",
        "ns/a...b",
        "app",  # no namespace
        "my_ns/app",  # valid OCI component, but not a namespace
        "-ns/app",
        "a" * 64 + "/app",
        "ns/" + "a" * 300,
        "",
    ],
)
def test_invalid_repository_names(path: str) -> None:
    with pytest.raises(InvalidName):
        parse_repository(path)


def test_name_length_limit_is_255() -> None:
    parse_repository("ns/" + "a" * 252)
    with pytest.raises(InvalidName, match="255"):
        parse_repository("ns/" + "a" * 253)


def test_references() -> None:
    assert parse_reference("v1.0").tag == "v1.0"
    assert parse_reference("_latest").tag == "_latest"
    assert parse_reference("a" * 128).tag == "a" * 128
    assert parse_reference(SHA256).digest == SHA256
    assert parse_reference(SHA512).digest == SHA512
    for bad_tag in (".hidden", "-x", "a" * 129, "a/b", "tag!"):
        with pytest.raises(InvalidReference) as info:
            parse_reference(bad_tag)
        assert not info.value.is_digest
    for bad_digest in ("sha256:abc", "md5:" + "a" * 32, "sha256:" + "A" * 64, "sha256:"):
        with pytest.raises(InvalidReference) as info:
            parse_reference(bad_digest)
        assert info.value.is_digest


def test_digests() -> None:
    assert digests.parse(SHA256) == ("sha256", "a" * 64)
    assert digests.of_bytes(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert digests.of_bytes(b"x", "sha512").startswith("sha512:")
    assert not digests.is_valid("sha256:" + "a" * 63)


def test_referrers_tag_schema() -> None:
    assert referrers_tag(SHA256) == "sha256-" + "a" * 64
    assert referrers_tag(SHA512) == "sha512-" + "b" * 64
    odd = (
        "test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall"
        "+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOf"
        "CharactersToExcerciseEncodedTruncation"
    )
    assert referrers_tag(odd) == (
        "test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacement"
        "AndLotsAndLot"
    )


def test_scope_parsing() -> None:
    scopes = parse_scopes(
        [
            "repository:ns/app:pull,push",
            "repository:ns/app:delete repository(plugin):ns/other:pull",
            "registry:catalog:*",
            "repository:localhost:5000/ns/app:pull",
            "garbage",
            "repository:ns/x:",
        ]
    )
    assert scopes == {
        ("repository", "ns/app"): {"pull", "push", "delete"},
        ("repository", "ns/other"): {"pull"},
        ("registry", "catalog"): {"*"},
        ("repository", "localhost:5000/ns/app"): {"pull"},
    }
