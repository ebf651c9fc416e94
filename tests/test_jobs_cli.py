"""``citysense jobs ...`` and ``citysense enrol ...`` as an operator's or admin's terminal
would run them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from alerts.vocabulary import Rule
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.work_orders import list_orders
from devices.region import load_region
from devices.registry import Registry
from tests.support.operations import open_alert
from tests.support.registry import streetlight


def _cli(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITYSENSE_DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "citysense.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.anyio
async def test_jobs_open_list_watch_cancel_and_rules_from_the_terminal(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str, tmp_path: Path
) -> None:
    did = f"PJU-CLI-{uid}"
    await Registry(pool, settings, kinds, load_region()).register(
        streetlight(did, status="active"), actor="t"
    )
    r = _cli(settings, tmp_path, "jobs", "create", "--device", did, "--title", "ganti lampu")
    assert r.returncode == 0, r.stderr
    order_id = int(re.search(r"work order (\d+) opened", r.stdout).group(1))  # type: ignore[union-attr]
    alert, _ = await open_alert(pool, Rule.NODE_DOWN, f"NODE-CLI-{uid}", message="node down")
    r = _cli(settings, tmp_path, "jobs", "watch", "--once")
    assert r.returncode == 0, r.stderr
    listed = _cli(settings, tmp_path, "jobs", "list")
    assert f"{order_id:>6}  normal  open" in listed.stdout
    opened = [o for o in await list_orders(pool) if o.alert_id == alert.id]
    assert [(o.priority, o.place, o.created_by) for o in opened] == [
        ("high", f"NODE-CLI-{uid}", "citysense work orders")
    ], "node_down opens a high-priority order by rule, placed at its subject"
    assert f"{opened[0].id:>6}  high    open" in listed.stdout
    again = _cli(settings, tmp_path, "jobs", "create", "--alert", str(alert.id))
    assert again.returncode == 1
    assert "already has an open work order" in again.stderr
    r = _cli(settings, tmp_path, "jobs", "cancel", str(order_id), "--reason", "dobel")
    assert r.stdout.strip() == f"work order {order_id} is cancelled"
    rules = _cli(settings, tmp_path, "jobs", "rules")
    assert re.search(r"lamp_failure\s+normal\s+on", rules.stdout), rules.stdout


def test_an_admin_enrols_lists_and_revokes_a_phone_from_the_terminal(
    settings: Settings, uid: str, tmp_path: Path
) -> None:
    r = _cli(
        settings, tmp_path, "enrol", "create", "--name", f"Sari {uid}", "--base-url",
        "https://citysense.example",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "https://citysense.example/technician/#enrol=" in r.stdout
    enrolment_id = re.search(r"enrolment (\d+) for", r.stdout).group(1)  # type: ignore[union-attr]
    assert f"Sari {uid}" in _cli(settings, tmp_path, "enrol", "list").stdout
    r = _cli(settings, tmp_path, "enrol", "revoke", enrolment_id)
    assert "revoked" in r.stdout
