"""No device account can hurt another or ingest, on a real Mosquitto with the shipped config.

Each test replays an attack from issue 13 with an ordinary device credential: joining
ingest's shared subscription, taking over ingest's or another device's session by
reusing its client id, and reaching other devices' (or its own platform-only) topics.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pydantic import SecretStr

from core.broker_accounts import COMMANDS_USER
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.registry import DeviceRecord
from core.wire import encode_telemetry
from devices.broker_auth import sync_broker_auth
from devices.region import load_region
from devices.registry import Issued, Registry
from tests.support.broker import ShippedBroker, broker_workdir, shipped_broker
from tests.support.ingest import running_ingest
from tests.support.mqtt_auth import (
    NO_MATCHING_SUBSCRIBERS,
    NOT_AUTHORIZED,
    SUCCESS,
    Session,
    connect_code,
    session,
)
from tests.support.registry import streetlight
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio

SERVICE_PASSWORD = "service-" + uuid.uuid4().hex
INGEST_USER = "citysense-ingest"
READINGS = 200


@pytest.fixture
async def isolated(
    settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[tuple[Settings, ShippedBroker]]:
    with broker_workdir() as workdir:
        s = settings.model_copy(
            update={
                "broker_auth_dir": str(workdir / "auth"),
                "mqtt_username": INGEST_USER,
                "mqtt_password": SecretStr(SERVICE_PASSWORD),
                "ingest_client_id": "citysense-ingest",  # the default: what a device can guess
            }
        )
        await sync_broker_auth(pool, s)
        with shipped_broker(workdir) as broker:
            yield s.model_copy(update={"mqtt_port": broker.port}), broker


async def _devices(
    s: Settings, pool: asyncpg.Pool, kinds: KindRegistry, port: int, *ids: str
) -> list[tuple[DeviceRecord, Issued]]:
    registry = Registry(pool, s, kinds, load_region())
    out = [await registry.register(streetlight(i, status="active"), actor="t") for i in ids]
    for dev, cred in out:  # registration reaches the broker through a reload (a signal)
        await eventually(
            lambda d=dev, c=cred: asyncio.to_thread(connect_code, port, d.id, c.password),
            lambda code: code == SUCCESS,
            within=10,
        )
    return out


def _publish_readings(
    port: int, dev: DeviceRecord, password: str, n: int, pause: float = 0.0
) -> None:
    topic = f"citysense/v1/streetlight/{dev.id}/telemetry"
    start = datetime.now(UTC) - timedelta(minutes=5)
    with session(port, dev.id, password) as device:
        assert isinstance(device, Session)
        for i in range(n):
            ts = start + timedelta(milliseconds=i)
            rc = device.publish(topic, encode_telemetry([{"ts": ts, "voltage": 220.0}]))
            assert rc in (SUCCESS, NO_MATCHING_SUBSCRIBERS), rc
            time.sleep(pause)


def _stored(pool: asyncpg.Pool, device_id: str) -> Callable[[], object]:
    return lambda: pool.fetchval(
        "SELECT count(*) FROM readings_streetlight WHERE device_id = $1", device_id
    )


async def test_devices_joining_ingests_share_group_take_no_readings_from_it(
    isolated: tuple[Settings, ShippedBroker], pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    s, broker = isolated
    victim, *thieves = await _devices(
        s, pool, kinds, broker.port, f"V-{uid}", f"T1-{uid}", f"T2-{uid}", f"T3-{uid}"
    )
    # Every group name a device could know or guess (the old default was the client id).
    guesses = [s.ingest_client_id, INGEST_USER, f"{INGEST_USER}-0"]
    async with running_ingest(s, pool, kinds):
        with ExitStack() as stack:
            granted = []
            sessions = []
            for (dev, cred), group in zip(thieves, guesses, strict=True):
                t = stack.enter_context(session(broker.port, dev.id, cred.password))
                assert isinstance(t, Session)
                granted.append(t.subscribe(f"$share/{group}/citysense/v1/+/+/telemetry"))
                sessions.append(t)
            # What Mosquitto 2.0.11 does: its acl_file never checks SUBSCRIBE, so the share
            # subscriptions are granted; it checks read rights per message at delivery.
            assert granted == [1, 1, 1]
            await asyncio.to_thread(
                _publish_readings, broker.port, victim[0], victim[1].password, READINGS
            )
            stored = await eventually(
                _stored(pool, victim[0].id), lambda n: n == READINGS, within=15
            )
            assert stored == READINGS
            assert [t.received for t in sessions] == [[], [], []]


async def test_no_device_can_take_over_ingests_session_by_its_client_id(
    isolated: tuple[Settings, ShippedBroker], pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    s, broker = isolated
    victim, (attacker, a_cred) = await _devices(s, pool, kinds, broker.port, f"V-{uid}", f"X-{uid}")
    stop = threading.Event()
    attempts = 0

    def attack() -> None:
        nonlocal attempts
        targets = (s.ingest_client_id, INGEST_USER, f"{INGEST_USER}-0")
        while not stop.is_set():
            for cid in targets:
                with session(broker.port, attacker.id, a_cred.password, client_id=cid):
                    attempts += 1
                    time.sleep(0.02)

    async with running_ingest(s, pool, kinds) as ingest:
        attacking = asyncio.create_task(asyncio.to_thread(attack))
        try:
            # Spread over ~2 s so the attacks land at many different moments.
            await asyncio.to_thread(
                _publish_readings, broker.port, victim[0], victim[1].password, READINGS, 0.01
            )
        finally:
            stop.set()
            await attacking
        stored = await eventually(_stored(pool, victim[0].id), lambda n: n == READINGS, within=15)
        assert stored == READINGS
        assert attempts > 10
        assert ingest.stats.reconnects == 0


async def test_no_device_can_take_over_another_devices_session(
    isolated: tuple[Settings, ShippedBroker], pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    s, broker = isolated
    (a, a_cred), (b, b_cred) = await _devices(s, pool, kinds, broker.port, f"A-{uid}", f"B-{uid}")
    with session(broker.port, b.id, b_cred.password, client_id=b.id) as live_b:
        assert isinstance(live_b, Session)
        for _ in range(5):
            with session(broker.port, a.id, a_cred.password, client_id=b.id) as thief:
                assert isinstance(thief, Session)
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        assert live_b.disconnects == 0
        topic = f"citysense/v1/streetlight/{b.id}/telemetry"
        assert live_b.publish(topic, b"{}") in (SUCCESS, NO_MATCHING_SUBSCRIBERS)


async def test_a_device_reaches_only_its_own_topics_and_services_only_theirs(
    isolated: tuple[Settings, ShippedBroker], pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    s, broker = isolated
    port = broker.port
    (a, a_cred), (b, b_cred) = await _devices(s, pool, kinds, port, f"A-{uid}", f"B-{uid}")
    a_base = f"citysense/v1/streetlight/{a.id}"
    b_base = f"citysense/v1/streetlight/{b.id}"
    with (
        session(port, a.id, a_cred.password) as dev_a,
        session(port, b.id, b_cred.password) as dev_b,
        session(port, INGEST_USER, SERVICE_PASSWORD) as ingest,
        session(port, COMMANDS_USER, SERVICE_PASSWORD) as commands,
    ):
        assert isinstance(dev_a, Session)
        assert isinstance(dev_b, Session)
        assert isinstance(ingest, Session)
        assert isinstance(commands, Session)
        # A listens as widely as it can; it is only ever given its own two topics.
        dev_a.subscribe("citysense/v1/#")
        dev_a.subscribe("#")
        dev_a.subscribe(f"{b_base}/commands")
        dev_b.subscribe(f"{b_base}/+")
        commands.subscribe("citysense/v1/+/+/reply")
        ok = (SUCCESS, NO_MATCHING_SUBSCRIBERS)

        for channel in ("telemetry", "status", "reply"):
            assert dev_a.publish(f"{a_base}/{channel}", b"{}") in ok, channel
            assert dev_a.publish(f"{b_base}/{channel}", b"{}") == NOT_AUTHORIZED, channel
        for channel in ("stored", "commands", "anything"):
            assert dev_a.publish(f"{a_base}/{channel}", b"{}") == NOT_AUTHORIZED, channel

        assert commands.publish(f"{a_base}/commands", b"cmd-a") in ok
        assert commands.publish(f"{b_base}/commands", b"cmd-b") in ok
        assert commands.publish(f"{a_base}/telemetry", b"{}") == NOT_AUTHORIZED
        assert commands.publish(f"{a_base}/stored", b"{}") == NOT_AUTHORIZED
        assert ingest.publish(f"{a_base}/stored", b"stored-a") in ok
        assert ingest.publish(f"{b_base}/stored", b"stored-b") in ok
        assert ingest.publish(f"{a_base}/telemetry", b"{}") == NOT_AUTHORIZED
        assert ingest.publish(f"{a_base}/commands", b"{}") == NOT_AUTHORIZED

        b_got = dev_b.wait_received(2)
        assert sorted(b_got) == [
            (f"{b_base}/commands", b"cmd-b"),
            (f"{b_base}/stored", b"stored-b"),
        ]
        dev_a.wait_received(2)
        await asyncio.sleep(0.3)
        # Each message once per matching subscription; never anything of B's.
        assert {t for t, _ in dev_a.received} == {f"{a_base}/commands", f"{a_base}/stored"}
        assert {p for _, p in dev_a.received} == {b"cmd-a", b"stored-a"}
        assert [t for t, _ in commands.wait_received(1)] == [f"{a_base}/reply"]
