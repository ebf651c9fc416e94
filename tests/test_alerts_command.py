"""``citysense alerts`` starts, listens, and stops cleanly; bad configuration is one line."""

from __future__ import annotations

import json
from pathlib import Path

from citysense.local.mosquitto import LocalMosquitto
from tests.support.procs import Proc, settings_env


def test_alerts_process_starts_listens_and_stops(
    database_url: str, broker: LocalMosquitto, tmp_path: Path
) -> None:
    config = tmp_path / "alerts.json"
    config.write_text(json.dumps({"flood_default": {"waspada": 250, "siaga": 350, "awas": 450}}))
    proc = Proc(
        ["alerts", "--config", str(config)],
        settings_env(database_url, broker.port),
        tmp_path / "alerts.log",
    )
    try:
        proc.wait_for(r"alerts: listening on citysense_events")
    finally:
        assert proc.stop() == 0, proc.output()
    assert "alerts stopped" in proc.output()


def test_a_wrong_threshold_order_is_refused_with_a_reason(
    database_url: str, broker: LocalMosquitto, tmp_path: Path
) -> None:
    config = tmp_path / "alerts.json"
    config.write_text(json.dumps({"flood_default": {"waspada": 500, "siaga": 350, "awas": 450}}))
    proc = Proc(
        ["alerts", "--config", str(config), "--check"],
        settings_env(database_url, broker.port),
        tmp_path / "alerts.log",
    )
    assert proc.wait(30) == 2
    assert "waspada < siaga < awas" in proc.output()
