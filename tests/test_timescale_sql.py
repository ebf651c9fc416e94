"""The continuous aggregates that replace the hourly rollup tables on the TimescaleDB path.

They expose exactly the plain tables' columns (every query runs unchanged on both paths), and
migrate finds every rollup: still a plain table on the plain path, a continuous aggregate on
the TimescaleDB path (``make test-timescale``).
"""

from __future__ import annotations

import re

import psycopg

from core.kinds import BUILTIN_KINDS
from core.storage import timescale
from core.storage.migrate import aggregate_rollups, plain_rollups
from core.storage.rollups import numeric_fields


def _columns(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
        " ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def test_every_builtin_rollup_is_found_with_its_numeric_fields(
    database_url: str, storage_path: str
) -> None:
    with psycopg.connect(database_url) as conn:
        plain, aggregates = plain_rollups(conn), aggregate_rollups(conn)
    if storage_path == "timescaledb":
        assert plain == []
        found = {rollup: (readings, fields) for readings, rollup, fields in aggregates}
    else:
        assert aggregates == []
        found = {rollup: (readings, fields) for readings, rollup, fields in plain}
    for kind in BUILTIN_KINDS:
        readings, fields = found[f"rollup_{kind.name}_1h"]
        assert readings == kind.table
        assert fields == [f.name for f in numeric_fields(kind)]


def test_continuous_aggregates_have_the_plain_rollup_columns(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rollups = plain_rollups(conn) or aggregate_rollups(conn)  # whichever path this is
        assert len(rollups) == len(BUILTIN_KINDS)
        for readings, rollup, fields in rollups:
            stmts = timescale.continuous_aggregate_statements(readings, rollup, fields, 730)
            create = next(s for s in stmts if s.startswith("CREATE MATERIALIZED VIEW"))
            select = create.split(" SELECT ", 1)[1].split(f" FROM {readings}", 1)[0]
            names = [
                m.group(1) or m.group(2)
                for m in re.finditer(r'AS "?(\w+)"?(?:,|$)|^(device_id)', select)
            ]
            assert names == _columns(conn, rollup), rollup
            assert stmts[0] == f"DROP TABLE IF EXISTS {rollup}"
