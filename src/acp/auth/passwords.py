"""Password hashing with Argon2id (memory-hard), run off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106 "second recommended option" scaled to a server that verifies many logins:
# 3 passes over 64 MiB.
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=2)

# Verifying against this hash when a user does not exist keeps the response time of a
# failed login the same whether or not the user exists.
_DUMMY_HASH = _hasher.hash("this password is never used")

MIN_PASSWORD_LENGTH = 8


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; `password_hash=None` burns the same time and fails."""
    return await asyncio.to_thread(_verify, password_hash, password)


def password_problem(password: str) -> str | None:
    """A sentence saying why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "the password must have at most 1024 characters"
    return None
