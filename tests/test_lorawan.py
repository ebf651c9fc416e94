"""The LoRaWAN bridge against a real Mosquitto playing the network server's broker, with
uplink events in ChirpStack v4's and The Things Stack v3's documented JSON (written by us
from their integration docs): readings stored through ingest's path, gateway duplicates
once, a gateway backlog at its own times, unknown DevEUIs on the claim list, downlinks in
each server's format; and the codecs on byte vectors."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import struct
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from api.app import create_app
from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from commands.model import Target, TargetKind
from commands.sending import send
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage import commands as command_store
from core.storage.dead_letters import list_dead_letters, unregistered_publishers
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.lorawan import devices_by_dev_eui
from core.storage.readings import fetch_readings
from core.storage.registry import DeviceModel, insert_model, list_models, update_device
from lorawan.bridge import Bridge, Broker
from lorawan.codec import CodecError, load_codecs, parse_codecs
from lorawan.servers import Server, UplinkError, parse_uplink
from tests.support.api import api_client
from tests.support.mqtt import publish_all
from tests.support.mqtt_auth import Session, session
from tests.support.registry import role_keys
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio

LIGHT_MODEL = "PJU-LORA-60"


def light_bytes(state: int, dim: int, watts: float, volts: float, kwh: float) -> bytes:
    return struct.pack(">BBHHIB", state, dim, round(watts * 10), round(volts * 10),
                       round(kwh * 1000), 0)  # fmt: skip


# -- codecs on byte vectors -----------------------------------------------------------------


def test_the_bundled_street_light_codec_decodes_a_byte_vector(kinds: KindRegistry) -> None:
    codec = load_codecs(kinds)[LIGHT_MODEL]
    data = bytes.fromhex("02 32 0226 08A2 0001E240 00".replace(" ", ""))
    assert codec.decode(data) == {
        "power_state": "low",
        "dim_pct": 50,
        "active_power": 55.0,
        "voltage": 221.0,
        "energy": 123.456,
        "lamp_failure": False,
    }


def test_a_not_measured_value_is_left_out_and_signed_values_keep_their_sign(
    kinds: KindRegistry,
) -> None:
    codec = load_codecs(kinds)["AWLR-LORA-1"]
    assert codec.decode(bytes.fromhex("FF38FFFF3264")) == {"water_level": -20.0,
                                                           "battery_v": 12.900}  # fmt: skip


def test_a_short_payload_is_refused_with_its_bytes(kinds: KindRegistry) -> None:
    codec = load_codecs(kinds)[LIGHT_MODEL]
    with pytest.raises(
        CodecError, match=r"payload has 3 bytes; codec 'PJU-LORA-60' reads 11 \(hex 023200\)"
    ):
        codec.decode(b"\x02\x32\x00")


def test_downlinks_are_laid_out_as_declared(kinds: KindRegistry) -> None:
    codec = load_codecs(kinds)[LIGHT_MODEL]
    assert codec.encode("dim", {"level": 50.0}) == (10, b"\x02\x32")
    assert codec.encode("switch", {"mode": "auto"}) == (10, b"\x01\x02")
    gauge = load_codecs(kinds)["AWLR-LORA-1"]
    assert gauge.encode("set_interval", {"interval_s": 600}) == (20, b"\x01\x00\x00\x02\x58")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"M": {"kind": "streetlight", "uplink": [{"field": "lux", "offset": 0, "type": "u8"}]}},
         "'lux' is not a streetlight field"),
        ({"M": {"kind": "streetlight",
                "uplink": [{"field": "dim_pct", "offset": 0, "type": "f16"}]}}, "type 'f16'"),
        ({"M": {"kind": "streetlight",
                "uplink": [{"field": "power_state", "offset": 0, "type": "u8"}]}},
         "power_state is an enum; list its choices by code"),
        ({"M": {"kind": "flood_gauge", "downlink": {"dim": {"layout": []}}}},
         "flood_gauge has no command 'dim'"),
    ],
)  # fmt: skip
def test_a_wrong_codec_declaration_names_the_problem(
    kinds: KindRegistry, doc: dict[str, object], message: str
) -> None:
    with pytest.raises(CodecError, match=message):
        parse_codecs(doc, kinds)  # type: ignore[arg-type]


# -- events as the servers document them ----------------------------------------------------


CS_APP = "2d2b3a0e-7c2c-4f0c-9c5b-1f8a8c0f7b10"


def chirpstack_up(dev_eui: str, f_cnt: int, at: datetime, *, data: bytes = b"",
                  obj: dict[str, object] | None = None,
                  gateways: tuple[str, ...] = ("0016c001f153a14c",),
                  app: str = CS_APP) -> tuple[str, bytes]:  # fmt: skip
    doc: dict[str, object] = {
        "deduplicationId": str(uuid.uuid4()),
        "time": (at + timedelta(milliseconds=40)).isoformat().replace("+00:00", "Z"),
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "Muara Enim",
            "applicationId": app,
            "applicationName": "pju",
            "deviceProfileId": "9fc5e5a8-1c6b-4f5c-8c8e-2d1d5b0d9d11",
            "deviceProfileName": "PJU LoRa",
            "deviceName": f"pju-{dev_eui}",
            "devEui": dev_eui,
            "tags": {},
        },
        "devAddr": "00189440",
        "adr": True,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": 2,
        "confirmed": False,
        "data": base64.b64encode(data).decode(),
        "rxInfo": [
            {
                "gatewayId": gw,
                "uplinkId": 4217106255 + i,
                "gwTime": (at + timedelta(microseconds=137 * i)).isoformat().replace("+00:00", "Z"),
                "nsTime": (at + timedelta(milliseconds=30)).isoformat(),
                "rssi": -87 - i,
                "snr": 8.5,
                "channel": 2,
                "location": {},
                "context": "E3OWOQ==",
                "crcStatus": "CRC_OK",
            }
            for i, gw in enumerate(gateways)
        ],
        "txInfo": {"frequency": 923200000,
                   "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7,
                                           "codeRate": "CR_4_5"}}},
    }  # fmt: skip
    if obj is not None:
        doc["object"] = obj
    return f"application/{app}/device/{dev_eui}/event/up", json.dumps(doc).encode()


def tts_up(dev_eui: str, f_cnt: int, at: datetime, *, data: bytes = b"",
           obj: dict[str, object] | None = None, gateways: tuple[str, ...] = ("muaraenim-gw-01",),
           app: str = "pju-muaraenim@ttn") -> tuple[str, bytes]:  # fmt: skip
    device_id = f"eui-{dev_eui}"
    up: dict[str, object] = {
        "session_key_id": "AXA50...",
        "f_port": 2,
        "f_cnt": f_cnt,
        "frm_payload": base64.b64encode(data).decode(),
        "rx_metadata": [
            {
                "gateway_ids": {"gateway_id": gw, "eui": "B827EBFFFE000001"},
                "time": (at + timedelta(microseconds=211 * i)).isoformat().replace("+00:00", "Z"),
                "timestamp": 2463457000 + i,
                "rssi": -93 - i,
                "channel_rssi": -93,
                "snr": 7.25,
                "uplink_token": "ChIKEAoOdHRuLWxhYi1nYXRld2F5EgIIARoLCJv...",
                "channel_index": 2,
            }
            for i, gw in enumerate(gateways)
        ],
        "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}},
                     "frequency": "923200000", "timestamp": 2463457000},
        "received_at": (at + timedelta(milliseconds=60)).isoformat().replace("+00:00", "Z"),
        "consumed_airtime": "0.056576s",
    }  # fmt: skip
    if obj is not None:
        up["decoded_payload"] = obj
    doc = {
        "end_device_ids": {
            "device_id": device_id,
            "application_ids": {"application_id": app.split("@")[0]},
            "dev_eui": dev_eui.upper(),
            "join_eui": "0000000000000000",
            "dev_addr": "260B1234",
        },
        "correlation_ids": ["as:up:01H0...", "gs:conn:01H0..."],
        "received_at": (at + timedelta(milliseconds=70)).isoformat().replace("+00:00", "Z"),
        "uplink_message": up,
    }
    return f"v3/{app}/devices/{device_id}/up", json.dumps(doc).encode()


EVENT = {Server.CHIRPSTACK: chirpstack_up, Server.TTS: tts_up}


@pytest.mark.parametrize("server", list(Server))
def test_an_uplink_event_is_read_with_the_gateway_time_and_dev_eui(server: Server) -> None:
    at = datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)
    topic, body = EVENT[server]("70b3d57ed005a1b2", 42, at, data=b"\x01\x02",
                                gateways=("gw-a", "gw-b"))  # fmt: skip
    u = parse_uplink(server, topic, body)
    assert (u.dev_eui, u.f_cnt, u.data, u.time) == ("70b3d57ed005a1b2", 42, b"\x01\x02", at)
    assert u.gateways == ("gw-a", "gw-b")


def test_an_event_without_a_time_or_with_a_bad_dev_eui_is_refused_with_a_reason() -> None:
    with pytest.raises(UplinkError, match="not 16 hex digits"):
        parse_uplink(Server.TTS, "v3/a/devices/b/up",
                     json.dumps({"end_device_ids": {"dev_eui": "XYZ"},
                                 "uplink_message": {}}).encode())  # fmt: skip
    eui = "70b3d57ed005a1b2"
    with pytest.raises(UplinkError, match="no usable time"):
        parse_uplink(Server.CHIRPSTACK, f"application/a/device/{eui}/event/up",
                     json.dumps({"deviceInfo": {"devEui": eui}}).encode())  # fmt: skip


# -- the bridge against a real broker -------------------------------------------------------


@pytest.fixture
def ns_broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    b = LocalMosquitto(tmp_path / "ns", free_port())
    b.start()
    yield b
    b.stop()


async def register(pool: asyncpg.Pool, uid: str) -> dict[str, str]:
    """A LoRa street light (model with a codec), a LoRa gauge (server-decoded), their EUIs."""
    if LIGHT_MODEL not in {m.id for m in await list_models(pool)}:
        with contextlib.suppress(asyncpg.UniqueViolationError):
            await insert_model(pool, DeviceModel(LIGHT_MODEL, "streetlight", "PT Lora", "PJU 60"))
    euis = {"light": uuid.uuid4().hex[:16], "gauge": uuid.uuid4().hex[:16]}
    light = DeviceRow(f"PJU-LW-{uid}", "streetlight", "l", "active", "Lubai", -3.7, 103.8)
    gauge = DeviceRow(f"AWLR-LW-{uid}", "flood_gauge", "g", "active", "Lubai", -3.7, 103.8)
    await upsert_devices(pool, [light, gauge])
    async with pool.acquire() as conn:
        mounting = {"dev_eui": euis["light"].upper()}
        await update_device(conn, light.id, {"model_id": LIGHT_MODEL, "mounting": mounting})
        await update_device(conn, gauge.id, {"mounting": {"dev_eui": euis["gauge"]}})
    return {"light_id": light.id, "gauge_id": gauge.id, **euis}


@pytest.fixture
async def bridge_for(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, ns_broker: LocalMosquitto
) -> AsyncIterator[object]:
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(server: Server) -> Bridge:
        broker = Broker("127.0.0.1", ns_broker.port, client_id=f"lw-{uuid.uuid4().hex[:6]}")
        b = Bridge(settings, pool, kinds, server=server, broker=broker,
                   codecs=load_codecs(kinds), poll_s=0.1)  # fmt: skip
        stop = asyncio.Event()
        running.append((stop, asyncio.create_task(b.run(stop))))
        await asyncio.wait_for(b.subscribed.wait(), 10)
        return b

    yield start
    for stop, task in running:
        stop.set()
        await task


@pytest.mark.parametrize("server", list(Server))
async def test_uplinks_stored_once_backlogs_at_their_time_unknown_claimable_downlinks_sent(
    server: Server, settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry,
    ns_broker: LocalMosquitto, bridge_for: object, uid: str,
) -> None:  # fmt: skip
    ids = await register(pool, uid)
    bridge = await bridge_for(server)  # type: ignore[operator]
    make = EVENT[server]
    now = datetime.now(UTC).replace(microsecond=0)
    live = light_bytes(2, 50, 45.5, 221.0, 1234.5)
    # one frame heard by three gateways: ChirpStack/TTS may forward it more than once
    # (each gateway's clock stamps it a few microseconds apart)
    same = [make(ids["light"], 100, now - timedelta(seconds=5, microseconds=-40 * k), data=live,
                 gateways=(g,)) for k, g in enumerate(("gw-1", "gw-2", "gw-3"))]  # fmt: skip
    # a gateway that was cut off forwards six hours of buffered frames at once
    start = now - timedelta(hours=6)
    backlog = [make(ids["light"], 10 + i, start + timedelta(minutes=15 * i),
                    data=light_bytes(1, 100, 90.0, 220.0, 1200 + i))
               for i in range(24)]  # fmt: skip
    gauge = make(ids["gauge"], 7, now - timedelta(seconds=3),
                 obj={"water_level": 212.5, "battery_v": 12.8, "firmware": "1.4"})  # fmt: skip
    stranger_eui = uuid.uuid4().hex[:16]
    stranger = make(stranger_eui, 1, now, data=b"\x00")
    broken = make(ids["light"], 101, now, data=b"\x02\x32")
    publish_all(ns_broker.port, [*same, *backlog, gauge, stranger, broken, same[0]])

    light_kind, gauge_kind = kinds["streetlight"], kinds["flood_gauge"]

    async def light_rows() -> list[object]:
        return await fetch_readings(pool, light_kind, ids["light_id"], now - timedelta(days=1),
                                    now + timedelta(hours=1), 100)  # fmt: skip

    rows = await eventually(light_rows, lambda r: len(r) >= 25)
    await asyncio.sleep(0.3)
    rows = await light_rows()
    assert len(rows) == 25, "three gateways' copies of frame 100 were stored once"
    times = [r.time for r in rows]  # type: ignore[attr-defined]
    assert times[0] == now - timedelta(hours=6)
    assert times[-1] == now - timedelta(seconds=5)
    assert rows[-1].values["dim_pct"] == 50.0  # type: ignore[attr-defined]
    assert rows[-1].values["power_state"] == "low"  # type: ignore[attr-defined]
    g = await fetch_readings(pool, gauge_kind, ids["gauge_id"], now - timedelta(hours=1),
                             now + timedelta(hours=1), 10)  # fmt: skip
    assert [r.values["water_level"] for r in g] == [212.5]

    claim = await unregistered_publishers(pool)
    assert stranger_eui.upper() in {c.device_id for c in claim}
    letters = await list_dead_letters(pool, device_id=ids["light_id"])
    assert any("payload has 2 bytes" in d.reason and d.code == "invalid" for d in letters)
    assert bridge.stats.duplicates >= 3

    # a command to the light goes back as a downlink in the server's own format
    with session(ns_broker.port, None, None) as probe:
        assert isinstance(probe, Session)
        down = ("application/+/device/+/command/down" if server is Server.CHIRPSTACK
                else "v3/+/devices/+/down/push")  # fmt: skip
        probe.client.subscribe(down, qos=1)
        await asyncio.sleep(0.2)
        sent = await send(pool, kinds, target=Target(TargetKind.DEVICE, ids["light_id"]),
                          command="dim", args={"level": 50}, ttl_s=60, actor="t",
                          now=datetime.now(UTC))  # fmt: skip
        [(_, cid)] = sent.commands
        [(topic, body)] = await asyncio.to_thread(probe.wait_received, 1)
    doc = json.loads(body)
    if server is Server.CHIRPSTACK:
        assert topic == f"application/{CS_APP}/device/{ids['light']}/command/down"
        assert doc == {"id": cid, "devEui": ids["light"], "confirmed": True, "fPort": 10,
                       "data": base64.b64encode(b"\x02\x32").decode()}  # fmt: skip
        ack_topic = f"application/{CS_APP}/device/{ids['light']}/event/ack"
        ack = {"deduplicationId": str(uuid.uuid4()), "time": now.isoformat(),
               "deviceInfo": {"applicationId": CS_APP, "devEui": ids["light"]},
               "queueItemId": cid, "acknowledged": True, "fCntDown": 3}  # fmt: skip
    else:
        assert topic == f"v3/pju-muaraenim@ttn/devices/eui-{ids['light']}/down/push"
        mark = f"citysense:command:{cid}"
        assert doc == {"downlinks": [{"f_port": 10, "frm_payload": "AjI=", "priority": "NORMAL",
                                      "confirmed": True, "correlation_ids": [mark]}]}  # fmt: skip
        ack_topic = f"v3/pju-muaraenim@ttn/devices/eui-{ids['light']}/down/ack"
        ack = {"end_device_ids": {"device_id": f"eui-{ids['light']}",
                                  "application_ids": {"application_id": "pju-muaraenim"},
                                  "dev_eui": ids["light"].upper()},
               "correlation_ids": ["as:downlink:01H...", f"citysense:command:{cid}"],
               "received_at": now.isoformat(),
               "downlink_ack": {"session_key_id": "AXA...", "f_port": 10, "f_cnt": 3,
                                "frm_payload": "AjI=", "confirmed": True, "priority": "NORMAL",
                                "correlation_ids": [f"citysense:command:{cid}"]}}  # fmt: skip
    row = await eventually(lambda: command_store.get_command(pool, cid),
                           lambda c: c is not None and c.status in ("sent", "done"))  # fmt: skip
    # the device acknowledges the confirmed downlink: the network server says so
    publish_all(ns_broker.port, [(ack_topic, json.dumps(ack).encode())])
    row = await eventually(lambda: command_store.get_command(pool, cid),
                           lambda c: c is not None and c.status == "done")  # fmt: skip
    assert row is not None


async def test_dev_eui_is_imported_from_csv_and_a_malformed_one_is_refused_with_its_line(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    eui = uuid.uuid4().hex[:16].upper()
    body = (
        "id,kind,district,latitude,longitude,status,dev_eui\n"
        f"LW1-{uid},streetlight,Lubai,-3.67,104.31,active,{eui}\n"
        # planned: an active gauge would also need its station, river and thresholds
        f"LW2-{uid},flood_gauge,Lubai,-3.67,104.31,planned,70-B3-D5\n"
    )
    keys = await role_keys(pool, uid)
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        r = await http.post("/devices/import", content=body.encode(), headers=keys["technician"],
                            params={"import_good": "true"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert [(e["line"], e["field"]) for e in r.json()["errors"]] == [(3, "dev_eui")]
        assert "is not a LoRaWAN DevEUI" in r.json()["errors"][0]["reason"]
    found = await devices_by_dev_eui(pool, [eui.lower()])
    assert [d.id for d in found[eui.lower()]] == [f"LW1-{uid}"]


async def test_uplinks_caught_in_a_bridge_that_dies_before_its_commit_are_stored_by_the_next(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, ns_broker: LocalMosquitto,
    database_url: str, uid: str,
) -> None:  # fmt: skip
    ids = await register(pool, uid)
    client_id = f"lw-{uuid.uuid4().hex[:6]}"

    def bridge() -> Bridge:
        broker = Broker("127.0.0.1", ns_broker.port, client_id=client_id)
        return Bridge(settings, pool, kinds, server=Server.CHIRPSTACK, broker=broker,
                      codecs=load_codecs(kinds), poll_s=0.1)  # fmt: skip

    first, stop = bridge(), asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await asyncio.wait_for(first.subscribed.wait(), 10)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    events = [make_light_event(ids["light"], i, start + timedelta(seconds=10 * i))
              for i in range(300)]  # fmt: skip
    sender = asyncio.create_task(asyncio.to_thread(publish_slowly, ns_broker.port, events))
    # at a random moment while uplinks flow, an independent session locks the readings
    # table (the database stops taking writes), then the bridge process dies mid-batch
    await asyncio.sleep(random.uniform(0.2, 1.0))
    blocker = await asyncpg.connect(database_url)
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("LOCK TABLE readings_streetlight IN ACCESS EXCLUSIVE MODE")
    await asyncio.sleep(0.5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await tx.rollback()
    await blocker.close()
    second, stop2 = bridge(), asyncio.Event()
    task2 = asyncio.create_task(second.run(stop2))
    try:
        await sender

        async def stored() -> int:
            rows = await fetch_readings(pool, kinds["streetlight"], ids["light_id"],
                                        start, start + timedelta(hours=1), 1000)  # fmt: skip
            return len(rows)

        assert await eventually(stored, lambda n: n == 300, within=30) == 300
    finally:
        stop2.set()
        await task2


def make_light_event(eui: str, f_cnt: int, at: datetime) -> tuple[str, bytes]:
    return chirpstack_up(eui, f_cnt, at, data=light_bytes(1, 100, 90.0, 221.0, 1000 + f_cnt))


def publish_slowly(port: int, events: list[tuple[str, bytes]]) -> None:
    for i in range(0, len(events), 10):
        publish_all(port, events[i : i + 10])
        time.sleep(0.02)
