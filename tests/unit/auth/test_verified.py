"""The host-wide table of recently verified passwords."""

from __future__ import annotations

import os

import pytest

from acp.auth.verified import VerifiedPasswords


def test_a_hit_needs_the_same_password_generation_and_time() -> None:
    table = VerifiedPasswords()
    assert not table.check("alice", "pw-1", 3)
    table.remember("alice", "pw-1", 3, seconds=60)
    assert table.check("alice", "pw-1", 3)
    assert not table.check("alice", "pw-2", 3)  # another password
    assert not table.check("alice", "pw-1", 4)  # the user changed since
    assert not table.check("bob", "pw-1", 3)
    table.remember("alice", "pw-1", 4, seconds=-1)
    assert not table.check("alice", "pw-1", 4)  # expired


def test_another_table_knows_nothing() -> None:
    """The key is per table: nothing verified elsewhere (or on disk) carries over."""
    first, second = VerifiedPasswords(), VerifiedPasswords()
    first.remember("alice", "pw", 0, seconds=60)
    assert not second.check("alice", "pw", 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_workers_share_the_table() -> None:
    table = VerifiedPasswords()
    pid = os.fork()
    if pid == 0:  # the "other worker"
        table.remember("alice", "pw", 7, seconds=60)
        os._exit(0)
    os.waitpid(pid, 0)
    assert table.check("alice", "pw", 7)
