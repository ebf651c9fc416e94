"""The Grafana data source every dashboard uses: PostgreSQL/TimescaleDB, read-only role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from core.storage.grafana_role import ROLE
from dashboards.query import DATASOURCE_TYPE, DATASOURCE_UID

NAME = "Citysense"


@dataclass(frozen=True, slots=True)
class DatabaseAddress:
    """Where Grafana (not Citysense) reaches the database."""

    host: str
    port: int
    database: str
    user: str = ROLE
    sslmode: str = "disable"

    @classmethod
    def from_url(cls, url: str, *, host: str | None = None) -> DatabaseAddress:
        parts = urlsplit(url)
        return cls(
            host=host or parts.hostname or "localhost",
            port=parts.port or 5432,
            database=parts.path.lstrip("/") or "citysense",
        )


def datasource_json(db: DatabaseAddress, *, timescaledb: bool = False) -> dict[str, Any]:
    """The data source as Grafana's HTTP API takes it (without the secret)."""
    return {
        "uid": DATASOURCE_UID,
        "name": NAME,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "url": f"{db.host}:{db.port}",
        "user": db.user,
        "isDefault": True,
        "jsonData": {
            "database": db.database,
            "sslmode": db.sslmode,
            "postgresVersion": 1500,
            # Panels use plain-PostgreSQL $__timeGroup either way; the same SQL runs on both.
            "timescaledb": timescaledb,
            "maxOpenConns": 10,
        },
    }
