"""The compose broker setup, run for real outside Docker.

The exact ``deploy/compose/mosquitto.conf`` (container paths rewritten to a temp dir,
listener moved to a free local port) with a real Mosquitto, the one-shot
``citysense devices broker-sync`` that compose runs before the broker (broker-auth-init),
the ``--watch`` sidecar (broker-sync) reloading it through the pid file the config names,
and the broker's health check command from ``docker-compose.yml``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import yaml

from citysense.local.ports import free_port, wait_listening
from core.kinds import KindRegistry
from core.settings import Settings
from devices.region import load_region
from devices.registry import Registry
from tests.support.broker import broker_workdir, compose_conf, start_broker, stop_broker
from tests.support.mqtt_auth import (
    NO_MATCHING_SUBSCRIBERS,
    NOT_AUTHORIZED,
    SUCCESS,
    Session,
    connect_code,
    session,
)
from tests.support.procs import Proc, settings_env
from tests.support.registry import streetlight

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
INGEST_USER = "citysense-ingest"
INGEST_PASSWORD = "ingest-" + uuid.uuid4().hex


def _wait(probe: Callable[[], int], want: Callable[[int], bool], within: float = 10) -> int:
    deadline = time.monotonic() + within
    while True:
        got = probe()
        if want(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def health_check(port: int, user: str, password: str) -> int:
    """Run the mosquitto service's compose health check against the local broker."""
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    kind, command = doc["services"]["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    # Compose turns $$ into $; the container's broker listens on the default port.
    command = command.replace("$$", "$").replace("-h 127.0.0.1", f"-h 127.0.0.1 -p {port}")
    env = {**os.environ, "MQTT_USER": user, "MQTT_PASSWORD": password}
    return subprocess.run(["/bin/sh", "-c", command], env=env, timeout=15).returncode


@pytest.fixture
def workdir() -> Iterator[Path]:
    with broker_workdir() as d:
        yield d


async def test_compose_broker_config_enforces_the_registry_via_broker_sync(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str, workdir: Path
) -> None:
    auth, port = workdir / "auth", free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(compose_conf(auth, workdir / "data", port))
    env = settings_env(
        settings.database_url,
        port,
        broker_auth_dir=str(auth),
        mqtt_username=INGEST_USER,
        mqtt_password=INGEST_PASSWORD,
    )

    # broker-auth-init: the files exist before the broker starts.
    init = Proc(["devices", "broker-sync"], env, workdir / "init.log")
    assert init.wait(60) == 0, init.output()
    assert f"{INGEST_USER}:$7$" in (auth / "passwd").read_text()
    assert f"user {INGEST_USER}\ntopic read citysense/v1/#" in (auth / "acl").read_text()

    broker = start_broker(conf)
    watcher: Proc | None = None
    try:
        wait_listening("127.0.0.1", port, 10, "Mosquitto")
        # The pid file the config names is the one broker_auth signals.
        pid_file = auth / "mosquitto.pid"
        assert _wait(lambda: int(pid_file.exists()), bool) == 1
        assert int(pid_file.read_text()) == broker.pid

        # The compose health check passes with the ingest account, fails with a wrong one.
        assert health_check(port, INGEST_USER, INGEST_PASSWORD) == 0
        assert health_check(port, INGEST_USER, "wrong-password") != 0
        assert connect_code(port, None, None) != SUCCESS, "anonymous clients are refused"

        # broker-sync sidecar; the registry writer (an API elsewhere) has no auth dir.
        watcher = Proc(
            ["devices", "broker-sync", "--watch", "--interval", "0.1"], env, workdir / "w.log"
        )
        remote = Registry(pool, settings, kinds, load_region())
        a, a_cred = await remote.register(streetlight(f"CA-{uid}"), actor="test")
        b, b_cred = await remote.register(streetlight(f"CB-{uid}"), actor="test")
        assert (
            _wait(lambda: connect_code(port, a.id, a_cred.password), lambda c: c == SUCCESS)
            == SUCCESS
        ), watcher.output()
        assert connect_code(port, a.id, b_cred.password) != SUCCESS

        a_topic = f"citysense/v1/streetlight/{a.id}/telemetry"
        b_topic = f"citysense/v1/streetlight/{b.id}/telemetry"
        with session(port, INGEST_USER, INGEST_PASSWORD) as ingest:
            assert isinstance(ingest, Session)
            ingest.client.subscribe("citysense/v1/#", qos=1)
            await asyncio.sleep(0.2)
            with session(port, a.id, a_cred.password) as dev_a:
                assert isinstance(dev_a, Session)
                assert dev_a.publish(a_topic, b'{"ok":1}') == SUCCESS
                assert dev_a.publish(b_topic, b'{"spoof":1}') == NOT_AUTHORIZED
            ingest.wait_received(1)
            await asyncio.sleep(0.3)
            assert [t for t, _ in ingest.received] == [a_topic]
            # Read-only: anything publishing with ingest's login (the demo simulators in
            # compose) is refused.
            assert ingest.publish(a_topic, b"{}") == NOT_AUTHORIZED

        # Revocation through the registry reaches the same broker process.
        await remote.change_status(b.id, "decommissioned", actor="test")
        assert (
            _wait(lambda: connect_code(port, b.id, b_cred.password), lambda c: c != SUCCESS)
            != SUCCESS
        )
        with session(port, a.id, a_cred.password) as dev_a:
            assert isinstance(dev_a, Session)
            assert dev_a.publish(a_topic, b"{}") in (SUCCESS, NO_MATCHING_SUBSCRIBERS)
        assert broker.poll() is None, "reloaded by SIGHUP, never restarted"
    finally:
        if watcher is not None:
            assert watcher.stop() == 0, watcher.output()
        stop_broker(broker)
