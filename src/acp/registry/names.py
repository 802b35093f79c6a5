"""Repository names, tags and references, as the OCI distribution spec and this platform
define them.

A repository name is `<namespace>/<name>`: the first path segment is the Kubernetes namespace
(whose RoleBindings decide access), the rest the image-stream name (which may contain `/`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from acp.storage import digests

# distribution-spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
# A Kubernetes namespace is a DNS label.
NAMESPACE_RE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
# Many clients limit "host:port/name" to 255 characters; the database column holds 255.
MAX_NAME_LENGTH = 255


class InvalidName(ValueError):
    """A repository name that breaks the grammar; the message says how."""


@dataclass(frozen=True)
class RepositoryName:
    """`path` = "my-ns/tools/app", `namespace` = "my-ns", `name` = "tools/app"."""

    path: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return self.path


def parse_repository(path: str) -> RepositoryName:
    if len(path) > MAX_NAME_LENGTH:
        raise InvalidName(f"repository names are at most {MAX_NAME_LENGTH} characters")
    if not NAME_RE.fullmatch(path):
        raise InvalidName(
            "invalid repository name: use lower-case letters and digits, separated by "
            "'.', '_', '__', '-' or '/'"
        )
    namespace, sep, name = path.partition("/")
    if not sep:
        raise InvalidName(
            "repository names have the form <namespace>/<name>; the namespace comes first"
        )
    if not NAMESPACE_RE.fullmatch(namespace):
        raise InvalidName(
            f"{namespace!r} cannot be a namespace: namespaces are at most 63 lower-case "
            "letters, digits and '-'"
        )
    return RepositoryName(path, namespace, name)


def is_tag(value: str) -> bool:
    return TAG_RE.fullmatch(value) is not None


def referrers_tag(digest: str) -> str:
    """The tag under which clients without the referrers API keep a digest's referrers
    (the spec's "referrers tag schema")."""
    algorithm, _, encoded = digest.partition(":")
    return re.sub(r"[^a-zA-Z0-9._-]", "-", f"{algorithm[:32]}-{encoded[:64]}")


@dataclass(frozen=True)
class Reference:
    """What follows `/manifests/`: a tag or a digest."""

    tag: str | None = None
    digest: str | None = None

    @property
    def value(self) -> str:
        return self.tag or self.digest or ""


class InvalidReference(ValueError):
    def __init__(self, message: str, *, is_digest: bool) -> None:
        super().__init__(message)
        self.is_digest = is_digest


def parse_reference(value: str) -> Reference:
    if digests.looks_like_digest(value):
        try:
            digests.parse(value)
        except digests.DigestError as exc:
            raise InvalidReference(str(exc), is_digest=True) from exc
        return Reference(digest=value)
    if not is_tag(value):
        raise InvalidReference(
            "invalid tag: up to 128 letters, digits, '_', '.' and '-', not starting with "
            "'.' or '-'",
            is_digest=False,
        )
    return Reference(tag=value)
