"""API keys are issued, listed (never the key), expired and revoked, from the admin API and
from ``citysense keys``; a key stops working the moment it is expired or revoked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from tests.support.registry import role_keys
from tests.support.server import serving

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


async def test_admins_issue_list_expire_and_revoke_keys_over_http(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    closed = settings.model_copy(update={"public_read": False})
    keys = await role_keys(pool, uid)
    admin = keys["admin"]
    async with (
        serving(create_app(closed, kinds, pool=pool)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        r = await http.post(
            "/api-keys", json={"name": f"wall-{uid}", "role": "viewer"}, headers=admin
        )
        assert r.status_code == 201, r.text
        assert r.headers["cache-control"] == "no-store"
        issued = r.json()
        key, key_id = issued["key"], issued["id"]
        assert key.startswith(issued["prefix"])
        wall = {"Authorization": f"Bearer {key}"}
        assert (await http.get("/state", headers=wall)).status_code == 200
        assert (await http.post("/api-keys", json={}, headers=wall)).status_code == 403

        listed = await http.get("/api-keys", headers=admin)
        assert listed.status_code == 200
        assert key not in listed.text
        mine = next(k for k in listed.json() if k["id"] == key_id)
        assert (mine["name"], mine["role"], mine["expires_at"]) == (f"wall-{uid}", "viewer", None)

        later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        r = await http.post(f"/api-keys/{key_id}/expire", json={"expires_at": later}, headers=admin)
        assert r.status_code == 200
        assert (await http.get("/state", headers=wall)).status_code == 200
        r = await http.post(f"/api-keys/{key_id}/expire", json={}, headers=admin)
        assert r.status_code == 200
        gone = await http.get("/state", headers=wall)
        assert gone.status_code == 401
        assert "expired" in gone.json()["detail"]

        r = await http.post(
            "/api-keys", json={"name": f"tech-{uid}", "role": "technician"}, headers=admin
        )
        tech_id, tech = r.json()["id"], {"X-API-Key": r.json()["key"]}
        assert (await http.get("/state", headers=tech)).status_code == 200
        assert (await http.post(f"/api-keys/{tech_id}/revoke", headers=admin)).status_code == 200
        assert (await http.get("/state", headers=tech)).status_code == 401
        assert (await http.post(f"/api-keys/{tech_id}/revoke", headers=admin)).status_code == 404
        assert tech_id not in [k["id"] for k in (await http.get("/api-keys", headers=admin)).json()]

        for role in ("supervisor", "technician", "operator", "viewer"):
            assert (await http.get("/api-keys", headers=keys[role])).status_code == 403
        assert (await http.get("/api-keys")).status_code == 401
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        r = await http.post(
            "/api-keys", json={"name": "x", "role": "viewer", "expires_at": past}, headers=admin
        )
        assert r.status_code == 422


def _keys(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CITYSENSE_DATABASE_URL": settings.database_url,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "citysense.cli", "keys", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_keys_command_creates_lists_expires_and_revokes(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, tmp_path: Path, uid: str
) -> None:
    made = _keys(settings, tmp_path, "create", "--name", f"cli-{uid}", "--role", "operator")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    key_id = re.search(r"API key (\d+)", made.stdout)
    assert key_id is not None
    ident = key_id.group(1)
    listed = _keys(settings, tmp_path, "list")
    assert listed.returncode == 0
    assert key not in listed.stdout
    line = next(ln for ln in listed.stdout.splitlines() if f"cli-{uid}" in ln)
    assert "operator" in line
    assert key[:8] in line
    assert "no expiry" in line

    async with (
        serving(create_app(settings, kinds, pool=pool)) as url,
        httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}) as http,
    ):
        assert (await http.get("/state")).status_code == 200
        expired = _keys(settings, tmp_path, "expire", ident)
        assert expired.returncode == 0, expired.stderr
        assert (await http.get("/state")).status_code == 401

    other = _keys(settings, tmp_path, "create", "--name", f"cli2-{uid}", "--role", "viewer")
    other_id = re.search(r"API key (\d+)", other.stdout)
    assert other_id is not None
    assert _keys(settings, tmp_path, "revoke", other_id.group(1)).returncode == 0
    again = _keys(settings, tmp_path, "revoke", other_id.group(1))
    assert again.returncode == 2
    assert "no live API key" in again.stderr
    bad = _keys(settings, tmp_path, "create", "--name", "x", "--role", "viewer", "--expires", "1")
    assert bad.returncode == 2
    assert "UTC offset" in bad.stderr or "not a time" in bad.stderr
