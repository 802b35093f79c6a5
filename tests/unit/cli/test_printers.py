"""Tables, sizes, ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from acp.cli import printers


def test_table_aligns_columns_like_kubectl() -> None:
    text = printers.table(
        ["NAME", "ROLE", "AGE"], [["a", "ClusterRole/view", "5m"], ["long-name", "x", "1d"]]
    )
    assert text.splitlines() == [
        "NAME        ROLE               AGE",
        "a           ClusterRole/view   5m",
        "long-name   x                  1d",
    ]


def test_table_does_not_pad_the_last_column() -> None:
    assert printers.table(["A", "B"], [["x", ""]]).splitlines()[1] == "x"


def test_pairs() -> None:
    assert printers.pairs([("Cluster", "global"), ("Registry host", "h:5000")]) == (
        "Cluster:        global\nRegistry host:  h:5000"
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (5 * 1024 * 1024, "5.0 MiB"),
        (3 << 40, "3.0 TiB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert printers.human_size(size) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=5), "5s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=3), "3h"),
        (timedelta(days=3), "3d"),
        (timedelta(days=800), "2y"),
        (timedelta(seconds=-30), "0s"),
    ],
)
def test_age(delta: timedelta, text: str) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    stamp = (now - delta).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert printers.age(stamp, now) == text


def test_age_of_garbage() -> None:
    assert printers.age("yesterday") == "<unknown>"


def test_short_digest() -> None:
    assert printers.short_digest("sha256:" + "ab" * 32) == "sha256:abababababab"


def test_yaml_keeps_field_order() -> None:
    assert printers.to_yaml({"b": 1, "a": [1]}) == "b: 1\na:\n- 1\n"
