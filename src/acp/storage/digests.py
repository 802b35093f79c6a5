"""Content digests (`algorithm:hex`) as the OCI image spec defines them, for the algorithms
this registry can verify: sha256 (the default) and sha512."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

# The general grammar, so that a well-formed digest of an unknown algorithm can be told
# apart from garbage.
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
ENCODED_LENGTH = {"sha256": 64, "sha512": 128}
ALGORITHMS = tuple(ENCODED_LENGTH)
DEFAULT_ALGORITHM = "sha256"
_HEX = re.compile(r"[a-f0-9]+")


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> Hasher: ...


class DigestError(ValueError):
    """Not a digest, or one of an algorithm this registry does not support."""


def parse(value: str) -> tuple[str, str]:
    """(algorithm, hex) of a supported, well-formed digest; DigestError otherwise."""
    if not DIGEST_RE.fullmatch(value):
        raise DigestError(f"{value[:150]!r} is not a digest (algorithm:hex)")
    algorithm, _, encoded = value.partition(":")
    if algorithm not in ENCODED_LENGTH:
        raise DigestError(f"digest algorithm {algorithm!r} is not supported (sha256, sha512)")
    if len(encoded) != ENCODED_LENGTH[algorithm] or not _HEX.fullmatch(encoded):
        raise DigestError(
            f"a {algorithm} digest has {ENCODED_LENGTH[algorithm]} lower-case hex digits"
        )
    return algorithm, encoded


def is_valid(value: str) -> bool:
    try:
        parse(value)
    except DigestError:
        return False
    return True


def looks_like_digest(value: str) -> bool:
    """True for anything shaped like `algorithm:encoded`, supported or not (tags never
    contain ':')."""
    return ":" in value


def new_hasher(algorithm: str) -> Hasher:
    if algorithm not in ENCODED_LENGTH:
        raise DigestError(f"digest algorithm {algorithm!r} is not supported (sha256, sha512)")
    return hashlib.new(algorithm)


def of_bytes(data: bytes, algorithm: str = DEFAULT_ALGORITHM) -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return f"{algorithm}:{hasher.hexdigest()}"
