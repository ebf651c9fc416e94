"""Migration 0014 on existing data: ids already differing only by case do not stop it."""

from __future__ import annotations

import psycopg

from core.storage.migrate import migrate
from tests.support.services import scratch_database

UNIQUE = (
    "SELECT i.indisunique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE c.relname = 'devices_id_upper_idx'"
)


def _back_to_before_0014(url: str, *ids: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX devices_id_upper_idx")
        conn.execute("DELETE FROM citysense_migrations WHERE version = 14")
        for i in ids:
            conn.execute(
                "INSERT INTO devices (id, kind, name, status)"
                " VALUES (%s, 'streetlight', '', 'planned')",
                (i,),
            )


def _unique(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(UNIQUE).fetchone()
    assert row is not None, "the index exists either way"
    return bool(row[0])


def test_ids_differing_only_by_case_get_a_plain_index_and_the_rest_a_unique_one(
    pg_server_url: str,
) -> None:
    with scratch_database(pg_server_url) as url:
        migrate(url, retention_days=30)
        assert _unique(url)
        _back_to_before_0014(url, "pju-dup-0001", "PJU-DUP-0001", "PJU-OK-0002")
        migrate(url, retention_days=30)
        assert not _unique(url), "the clash is reported, the migration still completes"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM devices WHERE id = 'pju-dup-0001'")
            conn.execute("DROP INDEX devices_id_upper_idx")
            conn.execute("DELETE FROM citysense_migrations WHERE version = 14")
        migrate(url, retention_days=30)
        assert _unique(url), "once the pair is settled the index is unique again"
