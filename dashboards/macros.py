"""Expand Grafana's SQL macros and template variables the way its PostgreSQL data source does.

Grafana rewrites a panel's ``rawSql`` before sending it to the database: template variables
first (``$var``, ``${var}``, ``[[var]]``, and the globals ``$__interval``/``$__interval_ms``),
then the ``$__name(args)`` macros. Tests use this to run every panel's SQL for real. The
expansions follow Grafana's ``pkg/tsdb/grafana-postgresql-datasource/macros.go``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

VarValue = str | Sequence[str]

_MACRO = re.compile(r"\$__(\w+)\(([^()]*)\)")
_VAR = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)")
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class MacroError(ValueError):
    """A macro Grafana would also refuse (unknown name, wrong arguments)."""


def parse_duration(text: str) -> timedelta:
    """Grafana's interval notation (``30s``, ``5m``, ``1h``, ``1d``) as a timedelta."""
    m = _DURATION.match(text.strip().strip("'\""))
    if not m:
        raise MacroError(f"not a Grafana interval: {text!r}")
    return timedelta(seconds=int(m.group(1)) * _UNIT_S[m.group(2)])


def format_duration(d: timedelta) -> str:
    """Format an interval as Grafana writes ``$__interval`` (largest whole unit)."""
    ms = round(d.total_seconds() * 1000)
    for unit in ("d", "h", "m", "s"):
        size = int(_UNIT_S[unit] * 1000)
        if ms % size == 0 and ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _rfc3339(t: datetime) -> str:
    """Go's RFC3339Nano in UTC, as Grafana formats time range bounds."""
    if t.tzinfo is None:
        raise MacroError("time range bounds must be timezone-aware")
    fraction = f".{t.microsecond:06d}".rstrip("0") if t.microsecond else ""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class QueryContext:
    """What Grafana knows when it runs a panel: time range, interval, variable values."""

    start: datetime
    end: datetime
    interval: timedelta = timedelta(minutes=1)
    variables: Mapping[str, VarValue] = field(default_factory=dict)
    timescaledb: bool = False

    def expand(self, sql: str) -> str:
        return expand(sql, self)


def _var(ctx: QueryContext, name: str, fmt: str | None) -> str | None:
    if name == "__interval":
        return format_duration(ctx.interval)
    if name == "__interval_ms":
        return str(round(ctx.interval.total_seconds() * 1000))
    if name not in ctx.variables:
        return None
    value = ctx.variables[name]
    if isinstance(value, str):
        return _quote(value) if fmt == "sqlstring" else value
    # Multi-value and "All" variables: Grafana's SQL data sources quote and join them.
    if fmt == "csv":
        return ",".join(value)
    return ",".join(_quote(v) for v in value)


def _substitute_variables(sql: str, ctx: QueryContext) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3) or m.group(4)
        got = _var(ctx, name, m.group(2))
        return m.group(0) if got is None else got

    return _VAR.sub(repl, sql)


def _args(raw: str) -> list[str]:
    return [a.strip() for a in raw.split(",")] if raw.strip() else []


def _macro(ctx: QueryContext, name: str, args: list[str]) -> str:
    start, end = _rfc3339(ctx.start), _rfc3339(ctx.end)
    if name == "time":
        _need(name, args, 1)
        return f'{args[0]} AS "time"'
    if name == "timeEpoch":
        _need(name, args, 1)
        return f'extract(epoch from {args[0]}) AS "time"'
    if name == "timeFilter":
        _need(name, args, 1)
        return f"{args[0]} BETWEEN '{start}' AND '{end}'"
    if name == "timeFrom":
        return f"'{start}'"
    if name == "timeTo":
        return f"'{end}'"
    if name in ("timeGroup", "timeGroupAlias"):
        if len(args) < 2:
            raise MacroError(f"${name} needs a column and an interval, got {args}")
        seconds = parse_duration(args[1]).total_seconds()
        if ctx.timescaledb:
            group = f"time_bucket('{seconds:.0f}s',{args[0]})"
        else:
            group = f"floor(extract(epoch from {args[0]})/{seconds:g})*{seconds:g}"
        return group + (' AS "time"' if name == "timeGroupAlias" else "")
    if name == "unixEpochFilter":
        _need(name, args, 1)
        lo, hi = int(ctx.start.timestamp()), int(ctx.end.timestamp())
        return f"{args[0]} >= {lo} AND {args[0]} <= {hi}"
    raise MacroError(f"unknown macro $__{name}")


def _need(name: str, args: list[str], n: int) -> None:
    if len(args) != n:
        raise MacroError(f"$__{name} needs {n} argument(s), got {len(args)}")


def expand(sql: str, ctx: QueryContext) -> str:
    """``sql`` as Grafana would send it to PostgreSQL for this time range and these variables."""
    sql = _substitute_variables(sql, ctx)
    out = _MACRO.sub(lambda m: _macro(ctx, m.group(1), _args(m.group(2))), sql)
    leftover = re.search(r"\$__\w+", out)
    if leftover:
        raise MacroError(f"unexpanded macro {leftover.group(0)} in: {out}")
    return out
