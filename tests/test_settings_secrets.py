"""Refused settings say what is wrong without repeating a secret: checked on the output of
the real ``citysense`` command, as an operator (or a log collector) would see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK_TOKEN = "T0KEN-4a9f3c1e7b-WEBHOOK"
GOOD_ADMIN = "Zq8-Lk2vR0pX7mWc4TnB9yHd5sJf1Ga3"
GOOD_MQTT = "Hs7kQ2mZp9Xw4Lc8Rt"


def _citysense(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CITYSENSE_")}
    clean["PYTHONPATH"] = str(ROOT)  # this checkout, whatever the current directory
    return subprocess.run(
        [sys.executable, "-m", "citysense.cli", *args],
        env={**clean, **env},
        cwd=tmp_path,  # no .env from the checkout
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("case", "env", "names"),
    [
        (
            "a short admin key",
            {"CITYSENSE_ADMIN_API_KEY": "short"},
            "CITYSENSE_ADMIN_API_KEY",
        ),
        (
            "a low-entropy admin key",
            {"CITYSENSE_ADMIN_API_KEY": "WeakWeakWeakWeakWeakWeak"},
            "CITYSENSE_ADMIN_API_KEY",
        ),
        (
            "a default broker password",
            {"CITYSENSE_ADMIN_API_KEY": GOOD_ADMIN, "CITYSENSE_MQTT_PASSWORD": "passwordpassword"},
            "CITYSENSE_MQTT_PASSWORD",
        ),
        (
            "an anonymous broker",
            {"CITYSENSE_ADMIN_API_KEY": GOOD_ADMIN, "CITYSENSE_MQTT_USERNAME": ""},
            "CITYSENSE_MQTT_USERNAME",
        ),
        (
            "a bad port beside good secrets",
            {"CITYSENSE_ADMIN_API_KEY": GOOD_ADMIN, "CITYSENSE_API_PORT": "eighty"},
            "CITYSENSE_API_PORT",
        ),
    ],
)
def test_refused_production_settings_never_print_a_secret(
    case: str, env: dict[str, str], names: str, tmp_path: Path
) -> None:
    full = {
        "CITYSENSE_ENVIRONMENT": "production",
        "CITYSENSE_MQTT_USERNAME": "citysense-ingest",
        "CITYSENSE_MQTT_PASSWORD": GOOD_MQTT,
        "CITYSENSE_ALERTS_WEBHOOK_URL": f"https://ops.example/hooks/citysense?token={WEBHOOK_TOKEN}",
        "CITYSENSE_DATABASE_URL": "postgresql://citysense:Db-S3cret-Pa55word@127.0.0.1:1/x",
        **env,
    }
    r = _citysense(full, tmp_path, "db", "migrate")
    out = r.stdout + r.stderr
    assert r.returncode == 2, (case, out)
    assert names in out, (case, out)
    secrets = [WEBHOOK_TOKEN, "Db-S3cret-Pa55word", GOOD_MQTT, full["CITYSENSE_ADMIN_API_KEY"]]
    if full["CITYSENSE_MQTT_PASSWORD"] != GOOD_MQTT:
        secrets.append(full["CITYSENSE_MQTT_PASSWORD"])
    for secret in secrets:
        # not the secret, nor any 8 characters of it
        pieces = {secret[i : i + 8] for i in range(len(secret) - 7)}
        leaked = [p for p in pieces if p in out]
        assert not leaked, (case, leaked, out)


def test_the_alert_configuration_check_and_its_refusals_never_print_the_webhook_token(
    tmp_path: Path,
) -> None:
    url = f"https://ops.example/hooks/citysense?token={WEBHOOK_TOKEN}"
    shown = _citysense({"CITYSENSE_ALERTS_WEBHOOK_URL": url}, tmp_path, "alerts", "--check")
    assert shown.returncode == 0, shown.stderr
    assert "ops.example" in shown.stdout
    bad = tmp_path / "alerts.json"
    bad.write_text(
        json.dumps({"webhook_url": url, "flood_default": {"waspada": 500, "siaga": 1, "awas": 2}})
    )
    refused = _citysense({}, tmp_path, "alerts", "--config", str(bad), "--check")
    assert refused.returncode == 2
    assert "waspada < siaga < awas" in refused.stderr
    for out in (shown.stdout + shown.stderr, refused.stdout + refused.stderr):
        pieces = {WEBHOOK_TOKEN[i : i + 8] for i in range(len(WEBHOOK_TOKEN) - 7)}
        assert not [p for p in pieces if p in out], out
