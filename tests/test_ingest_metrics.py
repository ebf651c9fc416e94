"""The publish-to-commit lag histogram, observed a batch at a time, exposes what a
prometheus_client Histogram fed the same values one by one exposes, and the ingest
benchmark's scraper reads its quantiles from a real metrics endpoint."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest, start_http_server

from bench.ingest import lag_quantiles, scrape
from ingest.metrics import LAG_BUCKETS, BatchHistogram, IngestMetrics

NAME = "citysense_ingest_publish_to_commit_seconds"
# On bucket bounds (le is inclusive), between them, below the first, above the last.
LAGS = [0.0, 0.005, 0.006, 0.01, 0.25, 0.3, 0.3, 1.0, 1.2, 86400.0, 90000.0, 0.004]


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def _bucket(le: str) -> str:
    return f'{NAME}_bucket{{le="{le}"}}'


def test_exposition_has_the_buckets_count_and_sum_of_the_observed_lags() -> None:
    metrics = IngestMetrics()
    metrics.lag.observe_many(LAGS[:5])
    metrics.lag.observe_many([])
    metrics.lag.observe_many(LAGS[5:])
    text = generate_latest(metrics.registry).decode()
    got = _samples(text)
    assert f"# TYPE {NAME} histogram" in text
    assert got[_bucket("0.005")] == 3  # 0.0, 0.005 (inclusive), 0.004
    assert got[_bucket("0.01")] == 5
    assert got[_bucket("0.2")] == 5
    assert got[_bucket("0.3")] == 8
    assert got[_bucket("1.0")] == 9
    assert got[_bucket("1.5")] == 10
    assert got[_bucket("86400.0")] == 11
    assert got[_bucket("+Inf")] == len(LAGS)
    assert got[f"{NAME}_count"] == len(LAGS)
    assert got[f"{NAME}_sum"] == pytest.approx(sum(LAGS))
    assert f"{NAME}_created" in got
    les = [k for k in got if k.startswith(f"{NAME}_bucket")]
    assert les == [_bucket(le) for le in [*map(str, map(float, LAG_BUCKETS)), "+Inf"]]


def test_same_exposition_as_a_prometheus_histogram() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram(NAME, "help", LAG_BUCKETS, ours)
    one_by_one = Histogram(NAME, "help", buckets=LAG_BUCKETS, registry=theirs)
    values = [i * 0.0137 for i in range(500)] + LAGS
    for v in values:
        one_by_one.observe(v)
    batch.observe_many(values[:123])
    batch.observe_many(values[123:])
    a = _samples(generate_latest(ours).decode())
    b = _samples(generate_latest(theirs).decode())
    assert a.keys() == b.keys()
    for key in a:
        if key.endswith("_sum"):
            assert a[key] == pytest.approx(b[key])
        elif not key.endswith("_created"):
            assert a[key] == b[key], key


def test_buckets_must_be_sorted_and_an_explicit_inf_is_not_doubled() -> None:
    with pytest.raises(ValueError, match="sorted"):
        BatchHistogram("x_seconds", "help", (1.0, 0.5), CollectorRegistry())
    taken = CollectorRegistry()
    Histogram("z_seconds", "help", registry=taken)
    with pytest.raises(ValueError, match="Duplicated"):
        BatchHistogram("z_seconds", "help", (1.0,), taken)
    registry = CollectorRegistry()
    BatchHistogram("y_seconds", "help", (0.5, math.inf), registry).observe_many([0.1, 2.0])
    got = _samples(generate_latest(registry).decode())
    assert [k for k in got if "_bucket" in k] == [
        'y_seconds_bucket{le="0.5"}',
        'y_seconds_bucket{le="+Inf"}',
    ]
    assert got['y_seconds_bucket{le="0.5"}'] == 1
    assert got["y_seconds_count"] == 2


def test_the_benchmark_reads_lag_quantiles_from_a_metrics_endpoint() -> None:
    metrics = IngestMetrics()
    server, thread = start_http_server(0, "127.0.0.1", metrics.registry)
    try:
        port = server.server_port
        before = scrape(port)
        metrics.lag.observe_many([0.04] * 50 + [0.12] * 49 + [2.5])
        after = scrape(port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    p50, p99, total = lag_quantiles(before, after)
    assert total == 100
    assert p50 == pytest.approx(50.0)  # the 50th value is the last in 0.03..0.05
    assert 100.0 < p99 <= 150.0  # the 99th is the last in 0.1..0.15
