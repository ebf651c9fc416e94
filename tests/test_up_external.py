"""Parts named by settings are used as they are: no embedded database or broker is started."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import uuid
from pathlib import Path

import httpx

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.postgres import scratch_dir
from citysense.up.datadir import default_data_dir
from citysense.up.stack import main_url
from tests.support.up import UpProcess, clean_env, leftovers, readings_url, wait_readings


def test_up_uses_the_configured_database_and_broker(
    database_url: str, broker: LocalMosquitto
) -> None:
    home = scratch_dir("citysense-up-ext-")
    env = clean_env(
        home,
        CITYSENSE_DATABASE_URL=database_url,
        CITYSENSE_MQTT_HOST="127.0.0.1",
        CITYSENSE_MQTT_PORT=str(broker.port),
        CITYSENSE_INGEST_CLIENT_ID=f"up-{uuid.uuid4().hex[:8]}",
    )
    up = UpProcess([sys.executable, "-m", "citysense.cli", "up"], env, home, home / "up.log")
    try:
        url = up.wait_url(60)
        assert httpx.get(f"{url}/healthz", timeout=10).json()["status"] == "ok"
        wait_readings(readings_url(up.output()), at_least=1)
        assert f"broker     external broker 127.0.0.1:{broker.port}" in up.output()
        assert "database   external database" in up.output()
        data = home / "data" / "citysense"
        assert not (data / "pgdata").exists()
        assert not (data / "mosquitto").exists()
    finally:
        code = up.interrupt(sig=signal.SIGTERM)  # as a service manager stops it
    try:
        assert code == 0, up.output()
        assert leftovers(up.popen.pid, str(home)) == []
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_default_data_dir_follows_xdg_then_home() -> None:
    assert default_data_dir({"XDG_DATA_HOME": "/x/share"}) == Path("/x/share/citysense")
    # As root the service users cannot enter /root, so root gets the service location.
    root = os.geteuid() == 0
    expected = Path("/var/lib/citysense") if root else Path("/home/u/.local/share/citysense")
    assert default_data_dir({"HOME": "/home/u"}) == expected


def test_main_url_is_the_ops_room_of_the_real_app_on_a_reachable_host() -> None:
    from fastapi import FastAPI

    from api.app import create_app
    from core.kinds import builtin_kinds
    from core.settings import load_settings

    app = create_app(load_settings(), builtin_kinds())  # the routers as `up` includes them
    assert main_url("0.0.0.0", 8000, app) == "http://127.0.0.1:8000/ops"
    assert main_url("127.0.0.1", 8123, FastAPI()) == "http://127.0.0.1:8123/docs"
