"""The real Mosquitto enforces the registry's credentials, and changes apply without restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from core.kinds import KindRegistry
from core.settings import Settings
from core.wire import encode_telemetry
from devices.broker_auth import AuthPaths, mosquitto_directives, sync_broker_auth
from devices.credentials import mosquitto_hash
from devices.region import load_region
from devices.registry import Registry
from tests.support.ingest import running_ingest
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
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio

INGEST_PASSWORD = "ingest-" + uuid.uuid4().hex


def _eventually(probe: Callable[[], int], want: Callable[[int], bool], within: float = 5) -> int:
    """Reload is a signal, so the broker applies it a moment later; poll briefly."""
    deadline = time.monotonic() + within
    while True:
        got = probe()
        if want(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


@pytest.fixture
async def secured(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> AsyncIterator[tuple[Settings, LocalMosquitto]]:
    # Outside pytest's private tmp tree: Mosquitto drops to its own user and re-reads these
    # files on reload, so it must be able to reach them.
    auth = Path(tempfile.mkdtemp(prefix="citysense-auth-"))
    if os.geteuid() == 0:
        shutil.chown(auth, user="mosquitto")
    s = settings.model_copy(
        update={
            "broker_auth_dir": str(auth),
            "mqtt_username": "citysense-ingest",
            "mqtt_password": SecretStr(INGEST_PASSWORD),
        }
    )
    await sync_broker_auth(pool, s)
    broker = LocalMosquitto(
        tmp_path / "mqtt", free_port(), extra=mosquitto_directives(AuthPaths(auth))
    )
    broker.workdir.mkdir()
    broker.start()
    try:
        yield s.model_copy(update={"mqtt_port": broker.port}), broker
    finally:
        broker.stop()
        shutil.rmtree(auth, ignore_errors=True)


async def test_devices_connect_and_publish_only_as_themselves(
    secured: tuple[Settings, LocalMosquitto], pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    s, broker = secured
    port = broker.port
    pid = broker.proc.pid if broker.proc else None
    registry = Registry(pool, s, kinds, load_region())
    a, a_cred = await registry.register(streetlight(f"A-{uid}"), actor="test")
    b, b_cred = await registry.register(streetlight(f"B-{uid}"), actor="test")
    a_topic = f"citysense/v1/streetlight/{a.id}/telemetry"
    b_topic = f"citysense/v1/streetlight/{b.id}/telemetry"

    # Registration took effect without a restart.
    assert (
        _eventually(lambda: connect_code(port, a.id, a_cred.password), lambda c: c == SUCCESS)
        == SUCCESS
    )
    assert connect_code(port, None, None) != SUCCESS, "anonymous clients must be refused"
    assert connect_code(port, a.id, "wrong-password") != SUCCESS
    assert connect_code(port, b.id, a_cred.password) != SUCCESS, "A's password is not B's"
    assert connect_code(port, "citysense-ingest", "nope") != SUCCESS

    with session(port, "citysense-ingest", INGEST_PASSWORD) as ingest:
        assert isinstance(ingest, Session)
        ingest.client.subscribe("citysense/v1/#", qos=1)
        await asyncio.sleep(0.2)
        with session(port, a.id, a_cred.password) as dev_a:
            assert isinstance(dev_a, Session)
            assert dev_a.publish(a_topic, b'{"ok":1}') == SUCCESS
            assert dev_a.publish(f"citysense/v1/streetlight/{a.id}/status", b"online") == SUCCESS
            assert dev_a.publish(b_topic, b'{"spoof":1}') == NOT_AUTHORIZED
            assert (
                dev_a.publish(f"citysense/v1/flood_gauge/{a.id}/telemetry", b"{}") == NOT_AUTHORIZED
            )
            assert (
                dev_a.publish("citysense/v1/streetlight/other/telemetry", b"{}") == NOT_AUTHORIZED
            )
        got = ingest.wait_received(2)
        await asyncio.sleep(0.3)
        topics = [t for t, _ in ingest.received]
        assert topics == [a_topic, f"citysense/v1/streetlight/{a.id}/status"], topics

    # Rotation: the old password stops working, the new one works; same broker process.
    rotated = await registry.rotate(a.id, actor="test")
    assert (
        _eventually(lambda: connect_code(port, a.id, a_cred.password), lambda c: c != SUCCESS)
        != SUCCESS
    )
    assert connect_code(port, a.id, rotated.password) == SUCCESS

    # Decommissioning revokes: B can no longer connect.
    with session(port, b.id, b_cred.password) as live_b:
        assert isinstance(live_b, Session)
        assert live_b.publish(b_topic, b"{}") in (SUCCESS, NO_MATCHING_SUBSCRIBERS)
        await registry.change_status(b.id, "decommissioned", actor="test")
        assert (
            _eventually(lambda: connect_code(port, b.id, b_cred.password), lambda c: c != SUCCESS)
            != SUCCESS
        )
        # A session opened before the revocation is dropped by the broker at the reload.
        assert _eventually(lambda: int(live_b.client.is_connected()), lambda c: c == 0) == 0
    assert connect_code(port, a.id, rotated.password) == SUCCESS
    assert broker.proc is not None
    assert broker.proc.pid == pid
    assert broker.proc.poll() is None
    assert got  # the ingest account saw A's own messages


def test_hashes_match_mosquitto_passwd(tmp_path: Path) -> None:
    import base64
    import subprocess

    pw = tmp_path / "pw"
    pw.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "dev", "s3cret"], check=True)
    line = pw.read_text().strip()
    stored = line.split(":", 1)[1]
    salt = base64.b64decode(stored.split("$")[3])
    assert mosquitto_hash("s3cret", salt=salt) == stored


async def test_ingest_stores_what_a_credentialed_device_publishes(
    secured: tuple[Settings, LocalMosquitto], pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    """The real ingest service subscribes with its own account on the secured broker."""
    s, broker = secured
    registry = Registry(pool, s, kinds, load_region())
    dev, cred = await registry.register(streetlight(f"ING-{uid}", status="active"), actor="t")
    topic = f"citysense/v1/streetlight/{dev.id}/telemetry"
    payload = encode_telemetry([{"ts": datetime.now(UTC), "voltage": 221.5}])
    async with running_ingest(s, pool, kinds):
        with session(broker.port, dev.id, cred.password) as device:
            assert isinstance(device, Session)
            assert device.publish(topic, payload) in (SUCCESS, NO_MATCHING_SUBSCRIBERS)
        stored = await eventually(
            lambda: pool.fetchval(
                "SELECT voltage FROM readings_streetlight WHERE device_id = $1", dev.id
            ),
            lambda v: v is not None,
        )
    assert stored == 221.5


async def test_watcher_resyncs_when_another_process_changes_credentials(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str, tmp_path: Path
) -> None:
    """An API on another host cannot signal the broker; the watcher beside it catches up."""
    auth = tmp_path / "auth"
    env = settings_env(
        settings.database_url,
        settings.mqtt_port,
        broker_auth_dir=str(auth),
        mqtt_password=INGEST_PASSWORD,
    )
    watcher = Proc(
        ["devices", "broker-sync", "--watch", "--interval", "0.1"], env, tmp_path / "watch.log"
    )
    try:
        await eventually(lambda: _read(auth / "passwd"), lambda t: "citysense-ingest:" in t)
        remote = Registry(pool, settings, kinds, load_region())  # no broker_auth_dir here
        dev, _ = await remote.register(streetlight(f"W-{uid}"), actor="t")
        await eventually(lambda: _read(auth / "passwd"), lambda t: f"\n{dev.id}:$7$" in t)
        acl = await _read(auth / "acl")
        assert f"topic write citysense/v1/streetlight/{dev.id}/telemetry" in acl
        await remote.change_status(dev.id, "decommissioned", actor="t")
        await eventually(lambda: _read(auth / "passwd"), lambda t: f"\n{dev.id}:" not in t)
    finally:
        assert watcher.stop() == 0, watcher.output()


def _read_now(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def _read(path: Path) -> str:
    return await asyncio.to_thread(_read_now, path)
