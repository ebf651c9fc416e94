"""Committed files that are generated from code must match their generator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from citysense.commands.config import env_example
from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_deploy_mosquitto_conf_is_what_the_generator_prints() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "citysense.cli", "broker", "config"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert committed == out, "run: citysense broker config > deploy/mosquitto/mosquitto.conf"


def test_env_example_is_what_the_generator_prints() -> None:
    committed = (ROOT / ".env.example").read_text()
    assert committed == env_example(), "run: citysense config env-example > .env.example"
    assert all(f"CITYSENSE_{n.upper()}=" in committed for n in Settings.model_fields)
