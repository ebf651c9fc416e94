"""Creating the Citysense database on a fresh server (for ``citysense up``'s embedded cluster)."""

from __future__ import annotations

import psycopg


def ensure_database(server_url: str, name: str) -> bool:
    """Create database ``name`` unless it exists; True when it was created."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is not None:
            return False
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        return True
