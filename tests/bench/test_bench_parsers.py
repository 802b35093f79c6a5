"""Parsing of load-generator output and rendering of the results table."""

from __future__ import annotations

import pytest

from bench import loadgen, report

WRK = """Running 2s test @ http://127.0.0.1:5999/v2/bench/a/manifests/v1
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    31.14ms   21.40ms 140.75ms   67.32%
    Req/Sec   531.95     68.96   690.00     75.00%
  Latency Distribution
     50%   28.50ms
     75%   40.00ms
     90%   60.10ms
     99%    1.20s
  1060 requests in 2.00s, 665.61KB read
Requests/sec:    529.63
Transfer/sec:    332.57KB
"""

AB = """Complete requests:      1168
Failed requests:        0
Keep-Alive requests:    1168
Requests per second:    583.45 [#/sec] (mean)
Percentage of the requests served within a certain time (ms)
  50%     26
  90%     41
  99%     80
"""


def test_wrk_output() -> None:
    result = loadgen.parse_wrk(WRK)
    assert result.requests_per_s == pytest.approx(529.63)
    assert result.requests == 1060
    assert result.latency_ms == {"p50": 28.5, "p90": 60.1, "p99": 1200.0}


def test_wrk_error_responses_invalidate_the_run() -> None:
    bad = WRK.replace("Requests/sec", "  Non-2xx or 3xx responses: 7\nRequests/sec")
    with pytest.raises(loadgen.LoadError, match="7 of 1060"):
        loadgen.parse_wrk(bad)


def test_ab_output() -> None:
    result = loadgen.parse_ab(AB)
    assert result.requests_per_s == pytest.approx(583.45)
    assert result.latency_ms["p99"] == 80


def test_ab_without_keepalive_is_rejected() -> None:
    with pytest.raises(loadgen.LoadError, match="keep-alive"):
        loadgen.parse_ab(AB.replace("Keep-Alive requests:    1168", "Keep-Alive requests:    0"))


def test_table_has_medians_ratios_and_limit_fractions() -> None:
    results = report.Results()
    for target, values in (("ours", [900, 1000, 1100]), ("distribution", [150, 160, 140])):
        for v in values:
            results.add(
                key="upload",
                title="blob upload",
                unit="MiB/s",
                better="higher",
                target=target,
                auth="basic",
                value=v,
                limit="upload",
            )
    data = report.to_json(
        results, limits={"upload_limit_mib_s": 1250.0, "download_limit_mib_s": 3000.0}
    )
    [row] = report.table_rows(data)
    assert row[3] == "1,000 (80%)"
    assert row[4] == "150 (12%)"
    assert row[6] == "6.67"
