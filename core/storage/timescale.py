"""TimescaleDB-only SQL. Everything that needs the extension is in this module and nowhere else.

Applied by the migrator only when the database is on the ``timescaledb`` storage path; the
plain-PostgreSQL path gets the same tables, columns, indexes and queries, with retention done
by :func:`core.storage.maintenance.prune` instead of a policy. Every statement is idempotent,
so it is safe to run on each migrate (and by hand against a TimescaleDB server).
"""

from __future__ import annotations

CHUNK_INTERVAL = "1 day"
COMPRESS_AFTER = "7 days"

DETECT = "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
AVAILABLE = "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
CREATE_EXTENSION = "CREATE EXTENSION IF NOT EXISTS timescaledb"


def hypertable_statements(table: str, retention_days: int) -> list[str]:
    """Hypertable, compression (segmented by device) and retention for one readings table."""
    return [
        f"SELECT create_hypertable('{table}', by_range('time', INTERVAL '{CHUNK_INTERVAL}'),"
        " if_not_exists => true, migrate_data => true, create_default_indexes => false)",
        f"ALTER TABLE {table} SET (timescaledb.compress,"
        " timescaledb.compress_segmentby = 'device_id',"
        " timescaledb.compress_orderby = 'time DESC')",
        f"SELECT add_compression_policy('{table}', INTERVAL '{COMPRESS_AFTER}',"
        " if_not_exists => true)",
        f"SELECT remove_retention_policy('{table}', if_exists => true)",
        f"SELECT add_retention_policy('{table}', INTERVAL '{int(retention_days)} days')",
    ]
