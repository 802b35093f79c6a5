"""Pytest fixtures that give tests a running ACP server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from acp.server.tls import ensure_self_signed
from tests.support.platform import Platform
from tests.support.server import RunningServer, running_server

# Integration tests run once per database backend. ACP_TEST_DATABASES=sqlite narrows it
# for quick local runs; CI runs both.
DATABASES = os.environ.get("ACP_TEST_DATABASES", "sqlite,postgres").split(",")


@pytest.fixture(scope="module", params=DATABASES)
def acp_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One server per test module and database backend."""
    tmp: Path = tmp_path_factory.mktemp("acp")
    with running_server(tmp, database=request.param) as server:
        yield server


@pytest.fixture(scope="module")
def admin_token(acp_server: RunningServer) -> str:
    return acp_server.login()


@pytest.fixture(scope="module")
def platform(acp_server: RunningServer, admin_token: str) -> Iterator[Platform]:
    """Admin operations on `acp_server` through its real APIs (tests/support/platform.py)."""
    with Platform(acp_server, admin_token) as admin:
        yield admin


@pytest.fixture(scope="module", params=DATABASES)
def acp_tls_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """Like `acp_server`, serving HTTPS (`--tls-cert/--tls-key`) with a certificate from the
    server's own local CA (the one `--tls=self-signed` makes); `server.tls_ca` is the CA.

    Needed by kubectl, which sends credentials to `https://` servers only.
    """
    tmp: Path = tmp_path_factory.mktemp("acp-tls")
    files = ensure_self_signed(tmp / "tls", ["127.0.0.1", "localhost"])
    with running_server(
        tmp,
        database=request.param,
        tls_cert=files.server_cert,
        tls_key=files.server_key,
        tls_ca=files.ca_cert,
    ) as server:
        yield server
