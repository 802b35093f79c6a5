"""Throttling of failed password checks, per user name and per client address.

State lives in the database so every worker and replica sees the same counts. A blocked key
is refused before the password is checked, so a guesser learns nothing while blocked, and
the answer is the same whether or not the user exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from acp.db import tables
from acp.db.engine import Database, utc

f = tables.login_failures


@dataclass(frozen=True)
class ThrottlePolicy:
    user_limit: int = 5
    address_limit: int = 30
    window: timedelta = timedelta(minutes=15)
    first_block: timedelta = timedelta(seconds=30)
    longest_block: timedelta = timedelta(minutes=15)


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} seconds")
        self.retry_after = retry_after


class LoginThrottle:
    def __init__(self, db: Database, policy: ThrottlePolicy | None = None) -> None:
        self._db = db
        self.policy = policy or ThrottlePolicy()

    @staticmethod
    def keys(username: str, address: str) -> tuple[str, str]:
        return f"user:{username[:250]}", f"addr:{address}"

    def _limit(self, key: str) -> int:
        return self.policy.user_limit if key.startswith("user:") else self.policy.address_limit

    async def check(self, username: str, address: str) -> bool:
        """Raise Throttled while either key is blocked; True when the user name has
        recent failures on record (so a success should clear them)."""
        now = datetime.now(UTC)
        user_key = self.keys(username, address)[0]
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(f.c.key, f.c.blocked_until).where(
                        f.c.key.in_(self.keys(username, address))
                    )
                )
            ).all()
        waits = [
            (until - now).total_seconds()
            for _key, blocked in rows
            if blocked is not None and (until := utc(blocked)) > now
        ]
        if waits:
            raise Throttled(max(1, int(max(waits)) + 1))
        return any(key == user_key for key, _blocked in rows)

    async def failed(self, username: str, address: str) -> None:
        async with self._db.write() as conn:
            for key in self.keys(username, address):
                await self._record_failure(conn, key)

    async def succeeded(self, username: str) -> None:
        key = self.keys(username, "")[0]
        async with self._db.write() as conn:
            await conn.execute(f.delete().where(f.c.key == key))

    async def _record_failure(self, conn: AsyncConnection, key: str) -> None:
        now = datetime.now(UTC)
        row = (
            await conn.execute(
                sa.select(f.c.failures, f.c.window_start).where(f.c.key == key).with_for_update()
            )
        ).first()
        started = utc(row.window_start) if row is not None and row.window_start else None
        if row is None or started is None or started + self.policy.window < now:
            failures, window_start = 1, now
        else:
            failures, window_start = row.failures + 1, started
        blocked_until = None
        over = failures - self._limit(key)
        if over >= 0:
            block = min(self.policy.first_block * (2**over), self.policy.longest_block)
            blocked_until = now + block
        values = {
            "failures": failures,
            "window_start": window_start,
            "blocked_until": blocked_until,
        }
        if row is None:
            await conn.execute(f.insert().values(key=key, **values))
        else:
            await conn.execute(f.update().where(f.c.key == key).values(**values))
