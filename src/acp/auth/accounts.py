"""Platform user accounts and sessions (persistence and rules; no HTTP here)."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.auth.passwords import hash_password, password_problem
from acp.db import tables
from acp.db.engine import touch, utc

# Recognisable by secret scanners: "acps_" + 43 url-safe characters.
SESSION_TOKEN_PREFIX = "acps_"
SESSION_TOKEN_RE = re.compile(r"acps_[A-Za-z0-9_-]{43}")
USERNAME_RE = re.compile(r"[a-z0-9]([-a-z0-9_.@]{0,61}[a-z0-9])?")
RESERVED_PREFIXES = ("system:", "system-")

u = tables.users
s = tables.sessions


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


class UserExists(AccountError):
    pass


class UserNotFound(AccountError):
    pass


@dataclass(frozen=True)
class User:
    id: int
    uid: str
    username: str
    password_hash: str
    disabled: bool
    groups: tuple[str, ...]
    created_at: datetime

    def public(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "uid": self.uid,
            "disabled": self.disabled,
            "groups": list(self.groups),
            "createdAt": self.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


@dataclass(frozen=True)
class Session:
    id: int
    user: User
    expires_at: datetime


def user_generation_key(username: str) -> str:
    return f"user:{username}"


def session_generation_key(token_hash: str) -> str:
    """Bumped when the session behind this token hash ends."""
    return f"session:{token_hash}"


def session_id_generation_key(session_id: int) -> str:
    """Bumped when session `session_id` ends (registry tokens name sessions by id)."""
    return f"session-id:{session_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_token() -> str:
    return SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)


def username_problem(username: str) -> str | None:
    if not USERNAME_RE.fullmatch(username):
        return (
            "a user name must be 1-63 lower-case letters, digits, '-', '_', '.' or '@', "
            "starting and ending with a letter or digit"
        )
    if username.startswith(RESERVED_PREFIXES):
        return "user names starting with 'system' are reserved"
    return None


def _user(row: Any) -> User:
    return User(
        id=row.id,
        uid=row.uid,
        username=row.username,
        password_hash=row.password_hash,
        disabled=bool(row.disabled),
        groups=tuple(row.groups or ()),
        created_at=utc(row.created_at),
    )


async def get_user(conn: AsyncConnection, username: str) -> User | None:
    row = (await conn.execute(sa.select(u).where(u.c.username == username))).first()
    return _user(row) if row else None


async def list_users(conn: AsyncConnection) -> list[User]:
    return [_user(row) for row in await conn.execute(sa.select(u).order_by(u.c.username))]


async def create_user(
    conn: AsyncConnection,
    username: str,
    password: str,
    groups: list[str] | None = None,
    *,
    password_hash: str | None = None,
) -> User:
    if problem := username_problem(username):
        raise AccountError(problem)
    if password_hash is None:
        if problem := password_problem(password):
            raise AccountError(problem)
        password_hash = await hash_password(password)
    if await get_user(conn, username) is not None:
        raise UserExists(f"user {username!r} already exists")
    now = datetime.now(UTC)
    await conn.execute(
        u.insert().values(
            uid=str(uuid.uuid4()),
            username=username,
            password_hash=password_hash,
            disabled=False,
            groups=list(groups or []),
            created_at=now,
            updated_at=now,
        )
    )
    touch(conn, user_generation_key(username))
    user = await get_user(conn, username)
    assert user is not None
    return user


async def update_user(
    conn: AsyncConnection,
    username: str,
    *,
    password: str | None = None,
    disabled: bool | None = None,
    groups: list[str] | None = None,
) -> User:
    user = await get_user(conn, username)
    if user is None:
        raise UserNotFound(f"user {username!r} not found")
    values: dict[str, Any] = {"updated_at": datetime.now(UTC)}
    if password is not None:
        if problem := password_problem(password):
            raise AccountError(problem)
        values["password_hash"] = await hash_password(password)
    if disabled is not None:
        values["disabled"] = disabled
    if groups is not None:
        values["groups"] = list(groups)
    await conn.execute(u.update().where(u.c.id == user.id).values(**values))
    if password is not None or disabled:
        # A new password or a disabled account ends every session of the user.
        await revoke_user_sessions(conn, user.id)
    touch(conn, user_generation_key(username))
    updated = await get_user(conn, username)
    assert updated is not None
    return updated


async def delete_user(conn: AsyncConnection, username: str) -> User:
    user = await get_user(conn, username)
    if user is None:
        raise UserNotFound(f"user {username!r} not found")
    await revoke_user_sessions(conn, user.id)
    await conn.execute(s.delete().where(s.c.user_id == user.id))
    await conn.execute(u.delete().where(u.c.id == user.id))
    touch(conn, user_generation_key(username))
    return user


async def create_session(
    conn: AsyncConnection, user: User, ttl: timedelta, client: str = ""
) -> tuple[str, Session]:
    token = new_session_token()
    now = datetime.now(UTC)
    result = await conn.execute(
        s.insert()
        .values(
            token_hash=hash_token(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + ttl,
            client=client[:255],
        )
        .returning(s.c.id)
    )
    return token, Session(int(result.scalar_one()), user, now + ttl)


async def find_session(conn: AsyncConnection, token: str) -> Session | None:
    """The live session behind `token`, or None if unknown, expired, revoked or disabled."""
    if not SESSION_TOKEN_RE.fullmatch(token):
        return None
    row = (
        await conn.execute(
            sa.select(s.c.id.label("session_id"), s.c.expires_at, s.c.revoked_at, u)
            .join(u, u.c.id == s.c.user_id)
            .where(s.c.token_hash == hash_token(token))
        )
    ).first()
    if row is None or row.revoked_at is not None or row.disabled:
        return None
    expires_at = utc(row.expires_at)
    if expires_at <= datetime.now(UTC):
        return None
    return Session(row.session_id, _user(row), expires_at)


async def session_is_live(conn: AsyncConnection, session_id: int) -> bool:
    row = (
        await conn.execute(
            sa.select(s.c.expires_at, s.c.revoked_at, u.c.disabled)
            .join(u, u.c.id == s.c.user_id)
            .where(s.c.id == session_id)
        )
    ).first()
    return (
        row is not None
        and row.revoked_at is None
        and not row.disabled
        and utc(row.expires_at) > datetime.now(UTC)
    )


async def revoke_session(conn: AsyncConnection, session_id: int) -> None:
    await _revoke(conn, s.c.id == session_id)


async def revoke_user_sessions(conn: AsyncConnection, user_id: int) -> None:
    await _revoke(conn, s.c.user_id == user_id)


async def _revoke(conn: AsyncConnection, condition: Any) -> None:
    live = (s.c.revoked_at.is_(None), condition)
    rows = (await conn.execute(sa.select(s.c.id, s.c.token_hash).where(*live))).all()
    if not rows:
        return
    await conn.execute(s.update().where(*live).values(revoked_at=datetime.now(UTC)))
    for session_id, token_hash in rows:
        touch(conn, session_generation_key(token_hash), session_id_generation_key(session_id))
