"""Panel SQL, derived from the kind declarations, written for Grafana's PostgreSQL data source.

These strings are Grafana queries (with ``$__`` macros and ``$variables``), not runtime SQL of
Citysense: Grafana sends them to the database with the read-only ``citysense_grafana`` role.
Long ranges read the hourly rollups (``rollup_<kind>_1h``): each series query is a UNION of a
raw branch and a rollup branch whose constant guard on ``$__interval`` lets PostgreSQL skip the
branch that does not apply, so a 30-day panel never scans raw rows.
"""

from __future__ import annotations

from core.kinds import DeviceKind, FieldType, KindRegistry

OFFLINE_FACTOR = 3
"""A device is offline when silent for longer than this many of its reporting intervals."""

ROLLUP_FROM = "1 hour"
"""From this Grafana interval on, series come from the hourly rollups."""

DISTRICT = "coalesce(d.district, '-')"
"""Devices without a district still appear under '-' in the district variable."""

STATES = ("ok", "warning", "failed", "offline", "no_data")
FLOOD_LEVELS = ("NORMAL", "WASPADA", "SIAGA", "AWAS")


def _offline_after(kinds: KindRegistry) -> str:
    whens = " ".join(
        f"WHEN '{k.name}' THEN interval '{k.interval_s * OFFLINE_FACTOR} seconds'"
        for k in kinds.values()
    )
    return f"CASE d.kind {whens} ELSE interval '1 day' END"


def _flags(kinds: KindRegistry, *, failure: bool) -> list[str]:
    """Boolean fields: ``*_failure`` mean the device failed, the other flags need a look."""
    names = sorted(
        {
            f.name
            for k in kinds.values()
            for f in k.fields
            if f.type is FieldType.BOOL and f.name.endswith("_failure") == failure
        }
    )
    return [f"coalesce((ls.\"values\"->>'{n}')::boolean, false)" for n in names]


def device_state_sql(kinds: KindRegistry) -> str:
    """One row per registered device with its state code (one of :data:`STATES`)."""
    failed = " OR ".join(_flags(kinds, failure=True)) or "false"
    warned = " OR ".join(_flags(kinds, failure=False)) or "false"
    return (
        "SELECT d.id AS device_id, d.kind, coalesce(nullif(d.name, ''), d.id) AS name, "
        f"{DISTRICT} AS district, d.latitude, d.longitude, ls.time AS last_time, "
        "CASE WHEN ls.device_id IS NULL THEN 'no_data' "
        f"WHEN ls.received_at < now() - {_offline_after(kinds)} THEN 'offline' "
        f"WHEN {failed} THEN 'failed' "
        f"WHEN fl.level IN ('WASPADA', 'SIAGA', 'AWAS') OR {warned} THEN 'warning' "
        "ELSE 'ok' END AS state "
        "FROM devices d "
        "LEFT JOIN latest_state ls ON ls.device_id = d.id "
        "LEFT JOIN flood_levels fl ON fl.device_id = d.id "
        "WHERE d.status <> 'decommissioned'"
    )


def _raw_and_rollup(kind: DeviceKind, field: str) -> str:
    """Rows (t, device_id, s, n, lo, hi) from raw readings or the hourly rollup, by interval.

    Means are sum(s)/sum(n), totals sum(s), counter growth max(hi) - min(lo): the same columns
    answer each aggregate exactly from either source.
    """
    c = f'r."{field}"'
    raw = (
        f"SELECT r.time AS t, r.device_id, {c}::float8 AS s, ({c} IS NOT NULL)::int AS n, "
        f"{c}::float8 AS lo, {c}::float8 AS hi "
        f"FROM {kind.table} r WHERE $__timeFilter(r.time) "
        f"AND '$__interval'::interval < interval '{ROLLUP_FROM}'"
    )
    rollup = (
        f'SELECT b.bucket AS t, b.device_id, b."{field}_sum" AS s, b."{field}_n" AS n, '
        f'b."{field}_min" AS lo, b."{field}_max" AS hi '
        f"FROM rollup_{kind.name}_1h b WHERE $__timeFilter(b.bucket) "
        f"AND '$__interval'::interval >= interval '{ROLLUP_FROM}'"
    )
    return f"({raw} UNION ALL {rollup})"


def series_sql(
    kind: DeviceKind,
    field: str,
    *,
    agg: str = "avg",
    by: str = "name",
    where: str = "",
) -> str:
    """A time series of one numeric field per device (``by='name'``) or per district.

    ``agg``: ``avg`` (mean of readings), ``sum`` (e.g. rain per bucket) or ``delta`` (growth of
    a cumulative counter such as energy, summed over devices).
    """
    if kind.field(field) is None:
        raise ValueError(f"kind {kind.name!r} has no field {field!r}")
    if agg not in ("avg", "sum", "delta") or by not in ("name", "district"):
        raise ValueError(f"unsupported series: agg={agg!r}, by={by!r}")
    metric = "coalesce(nullif(d.name, ''), d.id)" if by == "name" else DISTRICT
    filters = f"{DISTRICT} IN ($district)" + (f" AND {where}" if where else "")
    src = _raw_and_rollup(kind, field)
    if agg == "delta":
        return (
            "SELECT time, metric, sum(value) AS value FROM ("
            "SELECT $__timeGroupAlias(x.t, $__interval), x.metric, max(x.hi) - min(x.lo) AS value "
            f"FROM (SELECT s.*, {metric} AS metric FROM {src} s "
            f"JOIN devices d ON d.id = s.device_id WHERE {filters}) x "
            "GROUP BY 1, x.metric, x.device_id) per_device "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )
    value = "sum(s.s)" if agg == "sum" else "sum(s.s) / nullif(sum(s.n), 0)"
    return (
        f"SELECT $__timeGroupAlias(s.t, $__interval), {metric} AS metric, {value} AS value "
        f"FROM {src} s JOIN devices d ON d.id = s.device_id "
        f"WHERE {filters} GROUP BY 1, 2 ORDER BY 1, 2"
    )


def device_series_sql(kind: DeviceKind, field: str) -> str:
    """One field of the ``$device`` variable's device, mean per bucket (raw or rollup)."""
    src = _raw_and_rollup(kind, field)
    return (
        f"SELECT $__timeGroupAlias(s.t, $__interval), sum(s.s) / nullif(sum(s.n), 0) "
        f"AS \"{field}\" FROM {src} s WHERE s.device_id = '$device' GROUP BY 1 ORDER BY 1"
    )


def rate_of_rise_sql(kind: DeviceKind, field: str) -> str:
    """Change of a level per hour, per device, between consecutive buckets."""
    inner = series_sql(kind, field)
    return (
        "SELECT time, metric, (value - lag(value) OVER w) * 3600000.0 / $__interval_ms AS value "
        f"FROM ({inner}) q WINDOW w AS (PARTITION BY metric ORDER BY time) ORDER BY 1, 2"
    )


def report_counts_sql(kind: DeviceKind, field: str) -> str:
    """Readings per device in the range that carried ``field`` (raw or rollup, by interval)."""
    return (
        f"SELECT s.device_id, sum(s.n)::float8 AS n FROM {_raw_and_rollup(kind, field)} s "
        "GROUP BY 1"
    )
