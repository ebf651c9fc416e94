"""The committed migration and the TimescaleDB continuous aggregate match the generator."""

from __future__ import annotations

import re
from importlib import resources

from core.kinds import BUILTIN_KINDS
from core.storage import timescale
from core.storage.rollups import numeric_fields, rollup_table, rollup_table_sql


def test_migration_0006_holds_the_generated_rollup_tables() -> None:
    sql = resources.files("core.storage.migrations").joinpath("0006_operations.sql").read_text()
    for kind in BUILTIN_KINDS:
        assert rollup_table_sql(kind) in sql, f"regenerate rollup_table_sql({kind.name})"


def test_continuous_aggregate_has_the_plain_rollup_columns() -> None:
    for kind in BUILTIN_KINDS:
        plain = re.findall(
            r'^\s+"?([a-z_]+)"? (?:text|timestamptz|bigint|double)', rollup_table_sql(kind), re.M
        )
        stmts = timescale.continuous_aggregate_statements(
            kind.table, rollup_table(kind), [f.name for f in numeric_fields(kind)], 730
        )
        view = next(s for s in stmts if s.startswith("CREATE MATERIALIZED VIEW"))
        aliases = ["device_id", *re.findall(r' AS "?([a-z_]+)"?(?=,| FROM)', view)]
        assert aliases == plain
