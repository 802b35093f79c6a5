"""Pytest fixtures that give tests a running ACP server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Platform
from tests.support.server import RunningServer, running_server
from tests.support.tls import self_signed

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
    """Like `acp_server`, serving HTTPS with a self-signed certificate (`server.tls_cert`).

    Needed by kubectl, which sends credentials to `https://` servers only.
    """
    tmp: Path = tmp_path_factory.mktemp("acp-tls")
    cert, key = self_signed(tmp)
    with running_server(tmp, database=request.param, tls_cert=cert, tls_key=key) as server:
        yield server
