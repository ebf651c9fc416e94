"""Commands to devices, end to end against a real Mosquitto and PostgreSQL: a simulated
light obeys a dim command and its reply closes it; an offline light gets the unexpired
command on its return and never the expired one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

from commands.model import CommandError, CommandStatus, Target, TargetKind, spec_for, validate_args
from commands.sending import send
from commands.service import Dispatcher
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage import commands as store
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.registry import update_device
from simulators.command_follower import FollowedDevice
from simulators.fleet import as_sim_device
from simulators.models.streetlight import StreetlightModel
from tests.support.mqtt_auth import Session, session
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


def light(device_id: str, district: str = "Lawang Kidul") -> DeviceRow:
    return DeviceRow(device_id, "streetlight", device_id, "active", district, -3.7, 103.8)


@pytest.fixture
async def dispatcher(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Dispatcher]:
    d = Dispatcher(settings, pool, client_id=f"commands-{uuid.uuid4().hex[:8]}", poll_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    yield d
    stop.set()
    await task


@pytest.fixture
def telemetry_probe(settings: Settings) -> Iterator[Session]:
    with session(settings.mqtt_port, None, None) as s:
        assert isinstance(s, Session)
        s.client.subscribe(f"{settings.topic_root}/streetlight/+/telemetry", qos=1)
        yield s


async def status_of(pool: asyncpg.Pool, command_id: str) -> str | None:
    row = await store.get_command(pool, command_id)
    return None if row is None else row.status


async def test_a_dim_command_reaches_a_simulated_light_and_its_reply_moves_it_to_done(
    settings: Settings,
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    uid: str,
    dispatcher: Dispatcher,
    telemetry_probe: Session,
) -> None:
    row = light(f"PJU-CMD-{uid}")
    await upsert_devices(pool, [row])
    model = StreetlightModel(as_sim_device(row), seed=1)
    follower = FollowedDevice(settings, model)
    await asyncio.to_thread(follower.connect)
    try:
        target = Target(TargetKind.DEVICE, row.id)
        now = datetime.now(UTC)
        on = await send(pool, kinds, target=target, command="switch", args={"mode": "on"},
                        ttl_s=60, actor="test", now=now)  # fmt: skip
        dim = await send(pool, kinds, target=target, command="dim", args={"level": "50"},
                         ttl_s=60, actor="test", now=now)  # fmt: skip
        [(_, on_id)], [(_, dim_id)] = on.commands, dim.commands
        for cid in (on_id, dim_id):
            await eventually(lambda c=cid: status_of(pool, c), lambda s: s == "done")
        done = await store.get_command(pool, dim_id)
        assert done is not None
        assert done.args == {"level": 50.0}
        assert done.sent_at
        assert done.delivered_at
        assert done.finished_at
        assert model.dim_level == 50.0
        assert model.mode == "on"
        readings = telemetry_probe.wait_received(2)
        last = orjson.loads(readings[-1][1])
        assert (last["power_state"], last["dim_pct"]) == ("low", 50.0)
        assert 0 < last["active_power"] < model.rated_w * 0.6
    finally:
        follower.disconnect()


async def test_an_offline_light_gets_the_unexpired_command_on_return_and_not_the_expired_one(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str, dispatcher: Dispatcher
) -> None:
    row = light(f"PJU-OFF-{uid}")
    await upsert_devices(pool, [row])
    model = StreetlightModel(as_sim_device(row), seed=1)
    follower = FollowedDevice(settings, model)
    await asyncio.to_thread(follower.connect)  # subscribes once: the broker keeps its session
    follower.disconnect()

    target = Target(TargetKind.DEVICE, row.id)
    now = datetime.now(UTC)
    keep = await send(pool, kinds, target=target, command="dim", args={"level": 30},
                      ttl_s=120, actor="test", now=now)  # fmt: skip
    lapse = await send(pool, kinds, target=target, command="switch", args={"mode": "off"},
                       ttl_s=2, actor="test", now=now)  # fmt: skip
    [(_, keep_id)], [(_, lapse_id)] = keep.commands, lapse.commands
    for cid in (keep_id, lapse_id):  # the broker took both for the offline session
        await eventually(lambda c=cid: status_of(pool, c), lambda s: s == "sent")
    await eventually(lambda: status_of(pool, lapse_id), lambda s: s == "expired")
    await asyncio.sleep(1.0)  # past the broker's expiry too

    await asyncio.to_thread(follower.connect)
    try:
        await eventually(lambda: status_of(pool, keep_id), lambda s: s == "done")
        await asyncio.sleep(0.5)  # anything else queued would have arrived with it
        assert follower.commands_received() == [keep_id]
        assert follower.ignored == [], "the broker delivered an expired command"
        assert model.dim_level == 30.0
        assert model.mode == "auto"
        assert await status_of(pool, lapse_id) == "expired"
    finally:
        follower.disconnect()


async def test_a_feeder_command_is_one_row_per_light_on_that_feeder_with_a_journal_entry_each(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    rows = [light(f"PJU-F{i}-{uid}") for i in range(3)]
    await upsert_devices(pool, rows)
    async with pool.acquire() as conn:
        for r in rows[:2]:
            await update_device(conn, r.id, {"mounting": {"feeder": f"F-{uid}"}})
    sent = await send(pool, kinds, target=Target(TargetKind.FEEDER, f"f-{uid}"),
                      command="dim", args={"level": 70}, ttl_s=600, actor="op:ani",
                      now=datetime.now(UTC))  # fmt: skip
    assert sorted(d for d, _ in sent.commands) == sorted(r.id for r in rows[:2])
    listed = await store.list_commands(pool, store.CommandFilter(request_id=sent.request_id),
                                       limit=10)  # fmt: skip
    assert {c.status for c in listed} == {CommandStatus.QUEUED.value}
    assert {c.target for c in listed} == {f"feeder:f-{uid}"}
    from core.storage.registry import list_journal

    journal = await list_journal(pool, rows[0].id)
    assert journal[0].action == "command"
    assert journal[0].actor == "op:ani"
    assert journal[0].changes["command"] == [None, "dim"]


async def test_a_district_command_addresses_only_the_kinds_that_accept_it(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    district = f"Distrik {uid}"
    gauge = DeviceRow(f"AWLR-{uid}", "flood_gauge", "g", "active", district, -3.7, 103.8)
    gone = DeviceRow(f"PJU-X-{uid}", "streetlight", "x", "decommissioned", district, -3.7, 103.8)
    await upsert_devices(pool, [light(f"PJU-D-{uid}", district), gauge, gone])
    sent = await send(pool, kinds, target=Target(TargetKind.DISTRICT, district),
                      command="switch", args={"mode": "auto"}, ttl_s=60, actor="t",
                      now=datetime.now(UTC))  # fmt: skip
    assert [d for d, _ in sent.commands] == [f"PJU-D-{uid}"]
    with pytest.raises(CommandError, match="no device in service"):
        await send(pool, kinds, target=Target(TargetKind.DEVICE, gone.id), command="dim",
                   args={"level": 5}, ttl_s=60, actor="t", now=datetime.now(UTC))  # fmt: skip
    with pytest.raises(CommandError, match="do not accept 'dim'; they accept: set_interval"):
        await send(pool, kinds, target=Target(TargetKind.DEVICE, gauge.id), command="dim",
                   args={"level": 5}, ttl_s=60, actor="t", now=datetime.now(UTC))  # fmt: skip


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("dim", {"level": 150}, "level must be between 0 and 100 %, not 150"),
        ("dim", {}, "level is required"),
        ("dim", {"level": 50, "fade": 3}, "unknown argument(s) fade"),
        ("dim", {"level": "half"}, "level must be a number, not 'half'"),
        ("switch", {"mode": "blink"}, "mode must be one of on, off, auto, not 'blink'"),
        ("set_interval", {"interval_s": 30}, "interval_s must be between 60 and 86400 s"),
        ("set_interval", {"interval_s": 90.5}, "interval_s must be a whole number"),
    ],
)
def test_arguments_are_checked_against_the_declaration_with_a_reason(
    kinds: KindRegistry, command: str, args: dict[str, object], message: str
) -> None:
    with pytest.raises(CommandError) as caught:
        validate_args(spec_for(kinds, command), args)
    assert message in str(caught.value)


def test_an_unknown_command_names_the_known_ones(kinds: KindRegistry) -> None:
    with pytest.raises(CommandError, match="known: dim, reboot, set_interval, switch"):
        spec_for(kinds, "explode")
