"""Concurrent requests with the same credentials share one verification."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from acp.auth.identity import Identity, user_identity
from acp.auth.resolver import IdentityResolver, Unauthenticated
from acp.db.generations import Generations


def _resolver(tmp_path: Path) -> IdentityResolver:
    generations = Generations(tmp_path / "generations")
    return IdentityResolver(
        None,  # type: ignore[arg-type]
        generations,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        {"global": 1},
        "http://127.0.0.1:5000",
        timedelta(hours=1),
    )


async def test_one_verification_for_concurrent_requests(tmp_path: Path) -> None:
    resolver = _resolver(tmp_path)
    calls = 0

    async def verify(*_args: Any) -> Identity:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return user_identity("alice", "uid", [], "password")

    resolver._verify = verify  # type: ignore[method-assign]
    results = await asyncio.gather(*(resolver.resolve("Basic YWxpY2U6cHc=") for _ in range(20)))
    assert calls == 1
    assert {r.username for r in results} == {"alice"}


async def test_a_failure_reaches_every_waiter(tmp_path: Path) -> None:
    resolver = _resolver(tmp_path)

    async def verify(*_args: Any) -> Identity:
        await asyncio.sleep(0.05)
        raise Unauthenticated("invalid username or password")

    resolver._verify = verify  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(resolver.resolve("Basic YWxpY2U6d3Jvbmc=") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, Unauthenticated) for r in results)
    assert resolver._pending == {}


async def test_waiters_carry_on_when_the_first_request_is_cancelled(tmp_path: Path) -> None:
    resolver = _resolver(tmp_path)
    calls = 0

    async def verify(*_args: Any) -> Identity:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        return user_identity("bob", "uid", [], "password")

    resolver._verify = verify  # type: ignore[method-assign]
    first = asyncio.create_task(resolver.resolve("Basic Ym9iOnB3"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(resolver.resolve("Basic Ym9iOnB3"))
    await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second).username == "bob"
    # The verification itself was not cancelled with the first request: nothing is redone.
    assert calls == 1
    assert resolver._pending == {}
