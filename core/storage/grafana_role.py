"""The read-only ``citysense_grafana`` role: re-apply migration 0007 (it is idempotent).

Grants are per table, so a kind added after the migration ran needs them again; running the
migration's own SQL keeps one definition of what Grafana may read.
"""

from __future__ import annotations

import psycopg

from core.storage.migrate import bundled_migrations

ROLE = "citysense_grafana"


def grant_grafana_role(dsn: str) -> None:
    (sql,) = [m.sql for m in bundled_migrations() if m.version == 7]
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        conn.execute(sql.encode())


def readable_tables(dsn: str) -> list[str]:
    """Tables the role may SELECT in this database (what Grafana can show)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p') "
            "AND has_table_privilege(%s, c.oid, 'SELECT') ORDER BY 1",
            (ROLE,),
        ).fetchall()
    return [str(r[0]) for r in rows]
