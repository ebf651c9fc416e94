"""Commands to devices, end to end against a real Mosquitto and PostgreSQL: a simulated
light obeys a dim command and its reply closes it; an offline light gets the unexpired
command on its return and never the expired one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson
import pytest
from jsonschema import Draft202012Validator
from pydantic import SecretStr

from api.app import create_app
from citysense.commands.commands import dispatcher_login
from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from commands.model import (
    REPLY,
    CommandError,
    CommandStatus,
    Target,
    TargetKind,
    spec_for,
    validate_args,
)
from commands.sending import send
from commands.service import Dispatcher
from commands.wire import encode_command, encode_reply
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage import commands as store
from core.storage.api_keys import create_api_key
from core.storage.dead_letters import list_dead_letters
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.registry import BrokerAccount, update_device
from devices.broker_auth import (
    AuthPaths,
    mosquitto_directives,
    render_acl,
    render_password_file,
    service_accounts,
)
from devices.credentials import mosquitto_hash
from simulators.command_follower import FollowedDevice
from simulators.fleet import as_sim_device
from simulators.models.streetlight import StreetlightModel
from simulators.publisher import Credential
from simulators.publisher import run as run_publisher
from tests.support.api import api_client
from tests.support.mqtt import publish_all
from tests.support.mqtt_auth import NOT_AUTHORIZED, Session, session
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
        readings = await asyncio.to_thread(telemetry_probe.wait_received, 2)
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


async def test_operators_send_over_the_api_viewers_may_not_and_the_device_shows_its_commands(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    row = light(f"PJU-API-{uid}")
    await upsert_devices(pool, [row])
    _, operator = await create_api_key(pool, f"op-{uid}", "operator")
    _, viewer = await create_api_key(pool, f"view-{uid}", "viewer")
    body = {"target": "device", "value": row.id, "command": "dim", "args": {"level": 40}}
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        refused = await http.post("/commands", json=body, headers=bearer(viewer))
        assert refused.status_code == 403
        bad = await http.post(
            "/commands", json={**body, "args": {"level": 400}}, headers=bearer(operator)
        )
        assert bad.status_code == 422
        assert "level must be between 0 and 100 %" in bad.text
        sent = await http.post("/commands", json=body, headers=bearer(operator))
        assert sent.status_code == 201, sent.text
        command_id = sent.json()["commands"][row.id]
        listed = (await http.get(f"/devices/{row.id}/commands")).json()
        one = (await http.get(f"/commands/{command_id}")).json()
    assert [c["id"] for c in listed] == [command_id]
    assert one["status"] == "queued"
    assert one["actor"] == f"api:op-{uid}"
    assert one["args"] == {"level": 40.0}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITYSENSE_DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "citysense.cli", "commands", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_cli_sends_lists_and_shows_and_refuses_bad_arguments_in_one_line(
    settings: Settings, pool: asyncpg.Pool, uid: str
) -> None:
    row = light(f"PJU-CLI-{uid}")
    await upsert_devices(pool, [row])
    bad = await asyncio.to_thread(cli, settings, "send", "--device", row.id, "dim", "level=101")
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("citysense: dim: level must be between 0 and 100 %, not 101")
    sent = await asyncio.to_thread(
        cli, settings, "send", "--device", row.id, "dim", "level=60", "--actor", "ops:budi"
    )
    assert sent.returncode == 0, sent.stderr
    command_id = sent.stdout.splitlines()[1].split()[1]
    listed = await asyncio.to_thread(cli, settings, "list", "--device", row.id)
    assert command_id in listed.stdout
    assert "queued" in listed.stdout
    shown = await asyncio.to_thread(cli, settings, "show", command_id)
    assert "actor         ops:budi" in shown.stdout
    assert 'args          {"level": 60.0}' in shown.stdout


def test_the_readme_lists_every_declared_command_with_its_arguments(kinds: KindRegistry) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for kind in kinds.values():
        for c in kind.commands:
            row = f"| `{kind.name}` | `{c.name}` | "
            assert row in readme, f"README commands table lacks {kind.name}.{c.name}"
            line = readme[readme.index(row) :].splitlines()[0]
            for a in c.args:
                assert f"`{a.name}`" in line


def test_a_sent_command_and_a_reply_validate_against_the_committed_schema(
    kinds: KindRegistry,
) -> None:
    schema = json.loads(
        (Path(__file__).resolve().parent.parent / "docs/wire-contract.schema.json").read_text()
    )
    command = encode_command(str(uuid.uuid4()), "dim", {"level": 50.0}, datetime.now(UTC))
    for ref, doc in (
        ("streetlight.command", json.loads(command)),
        ("reply", json.loads(encode_reply(str(uuid.uuid4()), "failed", "relay stuck"))),
    ):
        v = Draft202012Validator({**schema, "anyOf": [{"$ref": f"#/$defs/{ref}"}]})
        assert list(v.iter_errors(doc)) == []
    bad = {"id": str(uuid.uuid4()), "command": "dim", "args": {"level": 120}, "deadline": "x"}
    v = Draft202012Validator({**schema, "anyOf": [{"$ref": "#/$defs/streetlight.command"}]})
    assert not v.is_valid(bad)
    assert schema["x-topics"]["streetlight"]["commands"] == (
        "citysense/v1/streetlight/{device_id}/commands"
    )


async def test_replies_only_move_forward_and_bad_replies_are_kept_with_a_reason(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str, dispatcher: Dispatcher
) -> None:
    mine, other = light(f"PJU-R1-{uid}"), light(f"PJU-R2-{uid}")
    await upsert_devices(pool, [mine, other])
    sent = await send(pool, kinds, target=Target(TargetKind.DEVICE, mine.id), command="dim",
                      args={"level": 10}, ttl_s=60, actor="t", now=datetime.now(UTC))  # fmt: skip
    [(_, cid)] = sent.commands
    root = settings.topic_root
    with session(settings.mqtt_port, None, None) as s:
        assert isinstance(s, Session)
        s.publish(f"{root}/streetlight/{mine.id}/reply", encode_reply(cid, "done"))
        await eventually(lambda: status_of(pool, cid), lambda st: st == "done")
        s.publish(f"{root}/streetlight/{mine.id}/reply", encode_reply(cid, "delivered"))
        s.publish(f"{root}/streetlight/{other.id}/reply", encode_reply(cid, "failed", "x"))
        s.publish(f"{root}/streetlight/{other.id}/reply", b"\xff not json")
        s.publish(f"{root}/streetlight/{other.id}/reply", b'{"id": "nope", "status": "done"}')

        async def letters() -> list[str]:
            found = await list_dead_letters(pool, device_id=other.id)
            return sorted(d.reason for d in found if d.code == "bad_reply")

        reasons = await eventually(letters, lambda r: len(r) == 3)
    assert reasons == [
        f"no command {cid} was sent to {other.id}",
        "reply id 'nope' is not a command id (UUID)",
        "reply is not UTF-8 JSON",
    ]
    assert await status_of(pool, cid) == "done"


async def test_with_logins_enforced_a_light_reads_only_its_own_commands_and_replies_only_for_itself(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str, tmp_path: Path
) -> None:
    # The registry's own password and ACL files: the commands service (with the service
    # password) writes every commands topic and reads every reply; a device reads only its
    # own commands and writes only its own reply.
    mine, other = light(f"PJU-ACL1-{uid}"), light(f"PJU-ACL2-{uid}")
    await upsert_devices(pool, [mine, other])
    secret = {d.id: uuid.uuid4().hex for d in (mine, other)}
    root = settings.topic_root
    s = settings.model_copy(update={"mqtt_password": SecretStr(uuid.uuid4().hex)})
    auth = write_auth(s, secret)
    directives = mosquitto_directives(AuthPaths(auth), pid_file=False)
    broker = LocalMosquitto(tmp_path / "mqtt", free_port(), extra=directives)
    broker.workdir.mkdir()
    broker.start()
    s = s.model_copy(update={"mqtt_port": broker.port})
    d = Dispatcher(s, pool, login=dispatcher_login(s), poll_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    model = StreetlightModel(as_sim_device(mine), seed=1)
    follower = FollowedDevice(s, model, credential=Credential(mine.id, secret[mine.id]))
    try:
        await asyncio.to_thread(follower.connect)
        with session(broker.port, other.id, secret[other.id]) as snoop:
            assert isinstance(snoop, Session)
            snoop.client.subscribe(f"{root}/streetlight/{mine.id}/commands", qos=1)
            sent = await send(pool, kinds, target=Target(TargetKind.DEVICE, mine.id),
                              command="dim", args={"level": 20}, ttl_s=60, actor="t",
                              now=datetime.now(UTC))  # fmt: skip
            [(_, cid)] = sent.commands
            await eventually(lambda: status_of(pool, cid), lambda st: st == "done")
            forged = await asyncio.to_thread(
                snoop.publish,
                f"{root}/streetlight/{mine.id}/reply",
                encode_reply(cid, "failed", "forged"),
            )
            await asyncio.sleep(0.3)
            assert snoop.received == [], "another device read this light's command"
        assert forged == NOT_AUTHORIZED
        assert model.dim_level == 20.0
        assert await status_of(pool, cid) == "done"
    finally:
        follower.disconnect()
        stop.set()
        await task
        broker.stop()
        shutil.rmtree(auth, ignore_errors=True)


def write_auth(settings: Settings, lights: dict[str, str]) -> Path:
    """The generated files, outside pytest's tree (Mosquitto drops to its own user)."""
    auth = Path(tempfile.mkdtemp(prefix="citysense-auth-"))
    services = service_accounts(settings)
    accounts = [BrokerAccount(d, "streetlight", mosquitto_hash(p)) for d, p in lights.items()]
    (auth / "passwd").write_text(render_password_file(accounts, services))
    (auth / "acl").write_text(render_acl(accounts, services, settings.topic_root))
    if os.geteuid() == 0:
        for f in (auth, *auth.iterdir()):
            shutil.chown(f, user="mosquitto")
    return auth


async def test_replies_caught_in_a_dispatcher_that_dies_before_recording_them_are_not_lost(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str, database_url: str
) -> None:
    row = light(f"PJU-RD-{uid}")
    await upsert_devices(pool, [row])
    ids = []
    target = Target(TargetKind.DEVICE, row.id)
    for _ in range(60):
        sent = await send(pool, kinds, target=target, command="dim", args={"level": 10},
                          ttl_s=600, actor="t", now=datetime.now(UTC))  # fmt: skip
        ids += [cid for _, cid in sent.commands]
    client_id = f"commands-{uuid.uuid4().hex[:8]}"

    def start() -> tuple[asyncio.Event, asyncio.Task[None]]:
        d = Dispatcher(settings, pool, client_id=client_id, poll_s=0.1)
        stop = asyncio.Event()
        return stop, asyncio.create_task(d.run(stop))

    _, first = start()
    await eventually(lambda: count_status(pool, row.id, "sent"), lambda n: n == 60)
    topic = f"{settings.topic_root}/streetlight/{row.id}/reply"
    replies = [(topic, encode_reply(cid, "done")) for cid in ids]
    sender = asyncio.create_task(asyncio.to_thread(publish_slowly, settings.mqtt_port, replies))
    # while replies flow, at a random moment: the database stops taking writes and the
    # dispatcher dies with replies in hand
    await asyncio.sleep(random.uniform(0.1, 0.5))
    blocker = await asyncpg.connect(database_url)
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("LOCK TABLE commands IN ACCESS EXCLUSIVE MODE")
    await asyncio.sleep(0.3)
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    await tx.rollback()
    await blocker.close()
    stop, second = start()
    try:
        await sender
        done = await eventually(lambda: count_status(pool, row.id, "done"), lambda n: n == 60)
        assert done == 60
    finally:
        stop.set()
        await second


async def count_status(pool: asyncpg.Pool, device_id: str, status: str) -> int:
    found = await store.list_commands(
        pool, store.CommandFilter(device_id=device_id, status=status), limit=1000
    )
    return len(found)


def publish_slowly(port: int, messages: list[tuple[str, bytes]]) -> None:
    for i in range(0, len(messages), 3):
        publish_all(port, messages[i : i + 3])
        time.sleep(0.02)


async def test_the_demo_publisher_s_lights_obey_commands_in_their_next_readings(
    settings: Settings,
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    uid: str,
    dispatcher: Dispatcher,
    telemetry_probe: Session,
) -> None:
    row = light(f"PJU-DEMO-{uid}")
    await upsert_devices(pool, [row])
    stop = threading.Event()
    thread = threading.Thread(
        target=run_publisher,
        args=(settings, kinds, [row]),
        kwargs={"interval_s": 0.2, "rounds": None, "seed": 1, "stop": stop,
                "follow_commands": True},
    )  # fmt: skip
    thread.start()
    try:
        target = Target(TargetKind.DEVICE, row.id)
        for command, args in (("switch", {"mode": "on"}), ("dim", {"level": 30})):
            sent = await send(pool, kinds, target=target, command=command, args=args,
                              ttl_s=60, actor="t", now=datetime.now(UTC))  # fmt: skip
            [(_, cid)] = sent.commands
            await eventually(lambda c=cid: status_of(pool, c), lambda s: s == "done")
        count = len(telemetry_probe.received)

        def later_readings() -> list[dict[str, object]]:
            got = telemetry_probe.wait_received(count + 3)
            return [orjson.loads(p) for t, p in got[count:] if row.id in t]

        readings = await asyncio.to_thread(later_readings)
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 10)
    assert readings
    assert all((r["power_state"], r["dim_pct"]) == ("low", 30.0) for r in readings)


def test_the_cli_the_wire_schema_and_storage_know_the_same_statuses() -> None:
    from citysense.commands.commands import STATUSES

    assert tuple(CommandStatus) == STATUSES
    assert [s.value for s in REPLY] == ["delivered", "done", "failed"]
    assert set(store.OPEN_STATUSES) == {"queued", "sent", "delivered"}
