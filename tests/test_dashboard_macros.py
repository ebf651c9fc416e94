"""Grafana macro and variable expansion, as the PostgreSQL data source performs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards.macros import MacroError, QueryContext, format_duration, parse_duration

START = datetime(2026, 11, 28, 0, 0, 0, tzinfo=UTC)
END = datetime(2026, 11, 28, 6, 30, 15, 250000, tzinfo=UTC)
CTX = QueryContext(START, END, timedelta(minutes=5), {"device": "AWLR-1", "district": ["A", "B'C"]})


def test_time_filter_and_bounds_are_rfc3339_utc() -> None:
    assert CTX.expand("WHERE $__timeFilter(r.time)") == (
        "WHERE r.time BETWEEN '2026-11-28T00:00:00Z' AND '2026-11-28T06:30:15.25Z'"
    )
    assert CTX.expand("$__timeFrom() $__timeTo()") == (
        "'2026-11-28T00:00:00Z' '2026-11-28T06:30:15.25Z'"
    )
    jakarta = QueryContext(START.astimezone(tz=None), END)
    assert jakarta.expand("$__timeFrom()") == "'2026-11-28T00:00:00Z'"


def test_time_group_plain_postgresql_and_timescaledb() -> None:
    assert CTX.expand("$__timeGroupAlias(t, $__interval)") == (
        'floor(extract(epoch from t)/300)*300 AS "time"'
    )
    assert CTX.expand("$__timeGroup(t, '1h')") == "floor(extract(epoch from t)/3600)*3600"
    assert CTX.expand("$__timeGroup(t, 1h, NULL)") == "floor(extract(epoch from t)/3600)*3600"
    ts = QueryContext(START, END, timedelta(minutes=1), timescaledb=True)
    assert ts.expand("$__timeGroupAlias(t, $__interval)") == ("time_bucket('60s',t) AS \"time\"")


def test_interval_variables() -> None:
    assert CTX.expand("'$__interval'::interval, $__interval_ms") == "'5m'::interval, 300000"
    assert format_duration(timedelta(hours=1)) == "1h"
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(milliseconds=1500)) == "1500ms"
    assert parse_duration("'30s'") == timedelta(seconds=30)
    assert parse_duration("1d") == timedelta(days=1)


def test_template_variables_single_and_multi_value() -> None:
    # Single values go in raw (queries quote them); multi-values are quoted and joined.
    assert CTX.expand("id = '$device' AND x IN ($district)") == (
        "id = 'AWLR-1' AND x IN ('A','B''C')"
    )
    assert CTX.expand("${device} [[device]] ${district:csv}") == "AWLR-1 AWLR-1 A,B'C"
    assert CTX.expand("${device:sqlstring}") == "'AWLR-1'"
    assert CTX.expand("$unknown stays") == "$unknown stays"


def test_time_macros_and_epoch() -> None:
    assert CTX.expand("$__time(t)") == 't AS "time"'
    assert CTX.expand("$__timeEpoch(t)") == 'extract(epoch from t) AS "time"'
    assert CTX.expand("$__unixEpochFilter(e)") == (
        f"e >= {int(START.timestamp())} AND e <= {int(END.timestamp())}"
    )


@pytest.mark.parametrize(
    "sql",
    ["$__nope(x)", "$__timeFilter()", "$__timeGroup(t)", "$__timeGroup(t, soon)", "$__timeFrom"],
)
def test_what_grafana_would_refuse_is_refused(sql: str) -> None:
    with pytest.raises(MacroError):
        CTX.expand(sql)


def test_naive_times_are_refused() -> None:
    with pytest.raises(MacroError):
        QueryContext(datetime(2026, 1, 1), END).expand("$__timeFrom()")
