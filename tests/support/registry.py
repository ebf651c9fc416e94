"""Helpers for registry tests: API keys per role and a valid device description."""

from __future__ import annotations

from typing import Any

import asyncpg

from core.storage.api_keys import create_api_key

ROLES = ("admin", "supervisor", "technician", "operator", "viewer")


async def role_keys(pool: asyncpg.Pool, tag: str) -> dict[str, dict[str, str]]:
    """``{role: headers}`` with a fresh API key for each role."""
    out = {}
    for role in ROLES:
        _, key = await create_api_key(pool, f"{role}-{tag}", role)
        out[role] = {"Authorization": f"Bearer {key}"}
    return out


def streetlight(device_id: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": device_id,
        "kind": "streetlight",
        "name": "PJU Jl. Jend. Sudirman",
        "district": "Lawang Kidul",
        "village": "Tanjung Enim",
        "latitude": -3.7735,
        "longitude": 103.8349,
        "status": "installed",
        "install_date": "2026-11-20",
        "mounting": {"pole_number": "P-017", "feeder": "F-3", "cabinet": "LK-2"},
    }
    body.update(over)
    return body


def gauge(device_id: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": device_id,
        "kind": "flood_gauge",
        "name": "AWLR Enim Sukaraja",
        "district": "Muara Enim",
        "latitude": -3.6641,
        "longitude": 103.8015,
        "status": "active",
        "mounting": {"station": "Sukaraja", "river": "Enim", "gauge_zero_m": 57.2},
        "waspada_cm": 300,
        "siaga_cm": 450,
        "awas_cm": 522,
    }
    body.update(over)
    return body
