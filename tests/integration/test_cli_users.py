"""`ac create user`, `ac get users`, `ac delete user` (platform administrators)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import Ac, make_ac
from tests.support.seed import unique
from tests.support.server import RunningServer


def test_create_log_in_and_delete_a_user(
    admin_ac: Ac, acp_server: RunningServer, tmp_path: Path
) -> None:
    name = unique("alice")
    assert (
        admin_ac.ok("create", "user", name, "--password=alice-password-1").out
        == f"user/{name} created\n"
    )
    listed = json.loads(admin_ac.ok("get", "users", "-o", "json").out)
    assert name in [u["username"] for u in listed["items"]]
    assert admin_ac.ok("get", "user", name, "-o", "name").out == f"user/{name}\n"
    alice = make_ac(tmp_path)
    alice.login(acp_server, name, "alice-password-1")
    assert admin_ac.ok("delete", "user", name).out == f'user "{name}" deleted\n'
    assert "ac login" in alice.fails("get", "images").err


def test_password_from_stdin(admin_ac: Ac, acp_server: RunningServer, tmp_path: Path) -> None:
    name = unique("bob")
    admin_ac.ok(
        "create", "user", name, "--password-stdin", "--group=builders", input="bob-password-12\n"
    )
    bob = make_ac(tmp_path)
    bob.login(acp_server, name, "bob-password-12")
    assert "builders" in bob.ok("auth", "whoami").out


def test_errors(admin_ac: Ac, acp_server: RunningServer, tmp_path: Path) -> None:
    name = unique("carol")
    admin_ac.ok("create", "user", name, "--password=carol-password-1")
    exists = admin_ac.fails("create", "user", name, "--password=carol-password-1")
    assert "exists" in exists.err
    both = admin_ac.fails("create", "user", unique("x"), "--password=p", "--password-stdin")
    assert both.code == 2
    carol = make_ac(tmp_path)
    carol.login(acp_server, name, "carol-password-1")
    refused = carol.fails("create", "user", unique("dave"), "--password=dave-password-1")
    assert "cluster-admin" in refused.err
    assert carol.fails("delete", "user", "admin").code == 1
    missing = admin_ac.fails("delete", "user", unique("ghost"))
    assert "not found" in missing.err
    admin_ac.ok("delete", "user", unique("ghost"), "--ignore-not-found")
