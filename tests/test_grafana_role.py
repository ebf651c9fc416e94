"""Migration 0007's read-only role: idempotent on a shared server, and really read-only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import psycopg
import pytest

from core.storage.grafana_role import ROLE, grant_grafana_role, readable_tables
from core.storage.migrate import migrate
from tests.support.services import scratch_database


def test_role_reads_dashboard_tables_but_not_secrets(database_url: str) -> None:
    tables = set(readable_tables(database_url))
    assert {"devices", "latest_state", "alerts", "flood_levels"} <= tables
    assert {"readings_flood_gauge", "readings_streetlight", "readings_network_node"} <= tables
    assert {"rollup_flood_gauge_1h"} <= tables
    assert "api_keys" not in tables
    with psycopg.connect(database_url) as conn:
        conn.execute(f"SET ROLE {ROLE}")
        conn.execute("SELECT count(*) FROM devices").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM api_keys")
    with psycopg.connect(database_url) as conn:
        conn.execute(f"SET ROLE {ROLE}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM devices")


def test_regrant_is_idempotent_when_the_role_already_exists(database_url: str) -> None:
    before = readable_tables(database_url)
    grant_grafana_role(database_url)
    grant_grafana_role(database_url)
    assert readable_tables(database_url) == before


def test_databases_sharing_a_server_migrate_at_once(pg_server_url: str) -> None:
    with ExitStack() as stack:
        urls = [stack.enter_context(scratch_database(pg_server_url)) for _ in range(3)]
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda u: migrate(u, retention_days=30), urls))
        assert all(7 in r.applied for r in results)
        for url in urls:
            assert "devices" in readable_tables(url)


def test_grant_command_covers_a_kind_added_later(
    database_url: str, uid: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from citysense.cli import main

    table = f"readings_k{uid.lower()}"  # as a plugin kind's migration would add
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (device_id text, time timestamptz)".encode())
    assert table not in readable_tables(database_url)
    monkeypatch.setenv("CITYSENSE_DATABASE_URL", database_url)
    assert main(["dashboards", "grant"]) == 0
    assert table in capsys.readouterr().out
    assert table in readable_tables(database_url)
