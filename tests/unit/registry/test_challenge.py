"""The `WWW-Authenticate` challenge: which Host headers may name the token realm, and how
parameter values are quoted."""

from __future__ import annotations

import pytest

from acp.registry import challenge
from acp.registry.handlers.common import valid_host_header


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:5000",
        "127.0.0.1:5711",
        "registry.example.com",
        "registry.example.com.:443",
        "my_registry:80",
        "[::1]",
        "[2001:db8::1]:5000",
    ],
)
def test_plain_hosts_name_the_realm(host: str) -> None:
    assert valid_host_header(host)


@pytest.mark.parametrize(
    "host",
    [
        "",
        'evil.example",error="x',
        "evil.example/path",
        "user@evil.example",
        "a b",
        "x:abc",
        "x:",
        "x:123456",
        "x:99999",
        "x:1:2",
        "-lead.example",
        "a..b",
        "[::1",
        "[::1]x",
        "[not-ipv6]:80",
        "[fe80::1%eth0]",
        "x:\uff11\uff12",
    ],
)
def test_anything_else_does_not(host: str) -> None:
    assert not valid_host_header(host)


def test_challenge_values_are_quoted() -> None:
    header = challenge.bearer(
        'http://a",error="x/auth/token', "svc\\", "repository:a/b:pull", "insufficient_scope"
    )
    assert header == (
        'Bearer realm="http://a\\",error=\\"x/auth/token",service="svc\\\\",'
        'scope="repository:a/b:pull",error="insufficient_scope"'
    )
    assert "\r" not in challenge.bearer("http://a\r\nX-Injected: 1", "s")
