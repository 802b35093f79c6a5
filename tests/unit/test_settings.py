"""Settings parsing: listen addresses, clusters, database URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from acp.server.settings import Settings, SettingsError, build_clusters, parse_hostport


def test_parse_hostport() -> None:
    assert parse_hostport("127.0.0.1:5000", what="x") == ("127.0.0.1", 5000)
    assert parse_hostport("[::1]:5000", what="x") == ("::1", 5000)
    for bad in ("5000", "host:", ":5000", "host:0", "host:70000", "host:http"):
        with pytest.raises(SettingsError):
            parse_hostport(bad, what="x")


def test_global_is_always_on_the_main_listener() -> None:
    clusters = build_clusters("127.0.0.1", 5000, [])
    assert [(c.name, c.port, c.on_main_listener) for c in clusters] == [("global", 5000, True)]
    assert build_clusters("127.0.0.1", 5000, ["global"]) == clusters


def test_extra_clusters_get_their_own_address() -> None:
    clusters = build_clusters("127.0.0.1", 5000, ["dev=127.0.0.1:6000", "qa"])
    assert [(c.name, c.host, c.port) for c in clusters[1:]] == [
        ("dev", "127.0.0.1", 6000),
        ("qa", "127.0.0.1", 5002),
    ]


@pytest.mark.parametrize(
    "specs",
    [["Dev"], ["dev", "dev"], ["dev=127.0.0.1:5000"], ["a_b"], ["dev=nowhere"]],
)
def test_bad_cluster_specs_are_refused(specs: list[str]) -> None:
    with pytest.raises(SettingsError):
        build_clusters("127.0.0.1", 5000, specs)


def test_database_urls() -> None:
    data = Path("/srv/acp")
    assert Settings(data_dir=data).effective_database_url == "sqlite+aiosqlite:////srv/acp/acp.db"
    pg = Settings(database_url="postgresql://u@h/db").effective_database_url
    assert pg == "postgresql+asyncpg://u@h/db"
    assert Settings(database_url="/tmp/x.db").effective_database_url == (
        "sqlite+aiosqlite:////tmp/x.db"
    )


def test_unsupported_storage_is_refused() -> None:
    with pytest.raises(SettingsError):
        _ = Settings(storage="s3://bucket/prefix").blob_dir
