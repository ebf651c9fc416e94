"""TimescaleDB-only SQL. Everything that needs the extension is in this module and nowhere else.

Applied by the migrator only when the database is on the ``timescaledb`` storage path; the
plain-PostgreSQL path gets the same tables, columns, indexes and queries, with retention done
by :func:`core.storage.maintenance.prune` instead of a policy. Every statement is idempotent,
so it is safe to run on each migrate (and by hand against a TimescaleDB server): existing
policy jobs are kept (same id, same history) and only their window is changed when the
retention setting changed.
"""

from __future__ import annotations

CHUNK_INTERVAL = "1 day"
COMPRESS_AFTER = "7 days"

DETECT = "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
AVAILABLE = "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
CREATE_EXTENSION = "CREATE EXTENSION IF NOT EXISTS timescaledb"
# The loader's settings exist only when it was preloaded (readable by any user, unlike
# shared_preload_libraries itself)
PRELOADED = "SELECT current_setting('timescaledb.disable_load', true) IS NOT NULL"
# 'timescale' (community licence: compression, continuous aggregates) or 'apache' (neither);
# NULL until the extension is loaded in the session, unless postgresql.conf sets it
LICENSE = "SELECT current_setting('timescaledb.license', true)"

MINIMUM_VERSION = (2, 13, 0)
"""``create_hypertable(.., by_range(..))`` and the jobs catalogue used here need 2.13."""


class SetupError(RuntimeError):
    """The server's TimescaleDB cannot serve Citysense as it is; the message says what to do."""


NOT_PRELOADED = (
    "TimescaleDB is installed on this PostgreSQL server but not preloaded: add"
    " shared_preload_libraries = 'timescaledb' to postgresql.conf and restart PostgreSQL,"
    " then migrate again (or set CITYSENSE_STORAGE=postgresql to use plain PostgreSQL)"
)
APACHE_ONLY = (
    "TimescaleDB on this server is the Apache-2 build (timescaledb.license = 'apache'),"
    " which lacks compression and continuous aggregates: using the plain PostgreSQL path"
    " (set timescaledb.license = 'timescale' with the community build for the TimescaleDB path)"
)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("-", 1)[0].split(".")[:3] if p.isdigit())


def check_version(version: str) -> None:
    """Refuse a TimescaleDB older than :data:`MINIMUM_VERSION`, saying how to update."""
    if version_tuple(version) < MINIMUM_VERSION:
        need = ".".join(map(str, MINIMUM_VERSION))
        raise SetupError(
            f"TimescaleDB {version} in this database is older than the {need} Citysense needs:"
            " install a newer TimescaleDB package or image, then run"
            " ALTER EXTENSION timescaledb UPDATE (first thing in a new session) and migrate again"
        )


def hypertable_statements(table: str, retention_days: int) -> list[str]:
    """Hypertable, compression (segmented by device) and retention for one readings table."""
    return [
        f"SELECT create_hypertable('{table}', by_range('time', INTERVAL '{CHUNK_INTERVAL}'),"
        " if_not_exists => true, migrate_data => true, create_default_indexes => false)",
        "DO $$ BEGIN IF NOT (SELECT compression_enabled FROM timescaledb_information.hypertables"
        f" WHERE hypertable_schema = current_schema() AND hypertable_name = '{table}') THEN"
        f" ALTER TABLE {table} SET (timescaledb.compress,"
        " timescaledb.compress_segmentby = 'device_id',"
        " timescaledb.compress_orderby = 'time DESC'); END IF; END $$",
        f"SELECT add_compression_policy('{table}', INTERVAL '{COMPRESS_AFTER}',"
        " if_not_exists => true)",
        f"SELECT add_retention_policy('{table}', INTERVAL '{int(retention_days)} days')"
        f" WHERE NOT {_has_job('policy_retention', table)}",
        _set_job_interval("policy_retention", table, "drop_after", retention_days),
    ]


def _has_job(proc: str, relation: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM timescaledb_information.jobs j"
        f" WHERE j.proc_name = '{proc}' AND j.hypertable_schema = current_schema()"
        f" AND j.hypertable_name = '{relation}')"
    )


def _set_job_interval(proc: str, relation: str, key: str, days: int) -> str:
    """Change one interval of an existing policy job in place (``alter_job`` keeps its id and
    run history) when it differs from ``days``; a no-op otherwise."""
    return (
        f"SELECT alter_job(j.job_id, config => jsonb_set(j.config, '{{{key}}}',"
        f" to_jsonb('{int(days)} days'::text))) FROM timescaledb_information.jobs j"
        f" WHERE j.proc_name = '{proc}' AND j.hypertable_schema = current_schema()"
        f" AND j.hypertable_name = '{relation}'"
        f" AND (j.config->>'{key}')::interval IS DISTINCT FROM INTERVAL '{int(days)} days'"
    )


# A continuous aggregate whose definition lacks this predates NULL-skipping ``last``: it is
# dropped and created again by the migrator (see core.storage.migrate).
LAST_SKIPS_NULLS = "FILTER (WHERE"

OUTDATED_AGGREGATES = (
    "SELECT view_name FROM timescaledb_information.continuous_aggregates"
    " WHERE view_schema = current_schema() AND view_name LIKE 'rollup\\_%\\_1h'"
    f" AND strpos(view_definition, '{LAST_SKIPS_NULLS}') = 0"
)


# ---- hourly rollups as continuous aggregates (issue 6) ------------------------------------


def continuous_aggregate_statements(
    readings_table: str, rollup_table: str, numeric_fields: list[str], retention_days: int
) -> list[str]:
    """Replace the plain hourly rollup table with a real-time continuous aggregate.

    Same name and columns as ``core.storage.rollups.rollup_table_sql``, so every query runs
    unchanged; ``materialized_only = false`` adds not-yet-materialised rows (late data too).
    The plain refresher sees a view, not a table, and leaves it to the policy.
    """
    cols = []
    for f in numeric_fields:
        c = f'"{f}"'
        cols += [
            f'count({c}) AS "{f}_n"',
            f'sum({c})::float8 AS "{f}_sum"',
            f'min({c})::float8 AS "{f}_min"',
            f'max({c})::float8 AS "{f}_max"',
            # NULL-skipping, as the plain rollup: a newest reading without the field must
            # not hide the hour's last value of it
            f'(last({c}, time) FILTER (WHERE {c} IS NOT NULL))::float8 AS "{f}_last"',
        ]
    select = ", ".join(
        [
            "device_id",
            "time_bucket(INTERVAL '1 hour', time) AS bucket",
            "count(*) AS n",
            "max(time) AS last_time",
            *cols,
        ]
    )
    return [
        f"DROP TABLE IF EXISTS {rollup_table}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {rollup_table}"
        " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS"
        f" SELECT {select} FROM {readings_table}"
        " GROUP BY device_id, time_bucket(INTERVAL '1 hour', time) WITH NO DATA",
        *aggregate_policy_statements(rollup_table, retention_days),
    ]


def aggregate_policy_statements(rollup_table: str, retention_days: int) -> list[str]:
    """The refresh policy, its window following the retention setting (job kept)."""
    return [
        f"SELECT add_continuous_aggregate_policy('{rollup_table}',"
        f" start_offset => INTERVAL '{int(retention_days)} days',"
        " end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '5 minutes')"
        f" WHERE NOT {_has_job('policy_refresh_continuous_aggregate', rollup_table)}",
        _set_job_interval(
            "policy_refresh_continuous_aggregate", rollup_table, "start_offset", retention_days
        ),
    ]
