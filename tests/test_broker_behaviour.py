"""What the Mosquitto we ship does with ingest's subscription across a restart: measured
here, not assumed (the design in README "Delivery guarantee" rests on it)."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from citysense.local.postgres import scratch_dir
from core.wire import Topics
from ingest.service import single_subscriptions
from tests.support.mqtt import publish_all

TOPIC = Topics().telemetry("flood_gauge", "G1")


@pytest.fixture
def workdir() -> Iterator[Path]:
    d = scratch_dir("citysense-mqtt-")  # reachable by the 'mosquitto' user: persistence works
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Subscriber:
    """A persistent-session subscriber, like ingest: connect, (subscribe), go away."""

    def __init__(self, port: int, client_id: str, user: str | None = None) -> None:
        self.got: list[bytes] = []
        self.session_present: list[bool] = []
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if user:
            c.username_pw_set(user, f"pw-{user}")
        c.on_message = lambda cl, u, m: self.got.append(bytes(m.payload))
        c.on_connect = lambda cl, u, f, r, p: self.session_present.append(f.session_present)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        c.connect("127.0.0.1", port, clean_start=False, properties=props)
        c.loop_start()
        self.client = c
        deadline = time.monotonic() + 5
        while not self.session_present and time.monotonic() < deadline:
            time.sleep(0.02)

    def subscribe(self, subs: list[tuple[str, SubscribeOptions]]) -> None:
        self.client.subscribe(subs)
        time.sleep(0.3)

    def leave(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def collect(self, seconds: float = 1.0) -> list[bytes]:
        time.sleep(seconds)
        self.leave()
        return self.got


def away_across_restart(broker: LocalMosquitto, subs: list[tuple[str, SubscribeOptions]]) -> int:
    cid = f"sub-{uuid.uuid4().hex[:6]}"
    s = Subscriber(broker.port, cid)
    s.subscribe(subs)
    s.leave()
    broker.restart()
    publish_all(broker.port, [(TOPIC, b"x")] * 10)
    return len(Subscriber(broker.port, cid).collect())


def test_ingests_plain_subscription_is_kept_across_a_broker_restart_and_a_shared_one_is_not(
    workdir: Path,
) -> None:
    broker = LocalMosquitto(workdir, free_port())
    broker.start()
    try:
        assert away_across_restart(broker, single_subscriptions(Topics())) == 10
        shared = [(f"$share/g1/{Topics().telemetry_filter()}", SubscribeOptions(qos=1))]
        assert away_across_restart(broker, shared) == 0  # why one worker does not use $share
    finally:
        broker.stop()


def write_auth(d: Path, users: list[str]) -> None:
    pw = d / "passwd"
    pw.write_text("")
    for u in users:
        subprocess.run(["mosquitto_passwd", "-b", str(pw), u, f"pw-{u}"], check=True)
    root = Topics().root
    acl = ["user ingest", f"topic read {root}/#", f"topic write {root}/+/+/stored"]
    for u in users[1:]:
        acl += ["", f"user {u}", f"topic write {root}/flood_gauge/{u}/telemetry"]
    (d / "acl").write_text("\n".join(acl) + "\n")
    pw.chmod(0o644)
    (d / "acl").chmod(0o644)


def test_mosquitto_2934_a_reload_after_a_restart_drops_what_is_queued_for_an_absent_ingest(
    workdir: Path,
) -> None:
    """Mosquitto #2934, with our configuration (password and ACL files, as the registry
    writes them): after a restart, one SIGHUP (the registry sends one on every
    registration) while ingest is away, and what devices publish meanwhile is acknowledged
    but never reaches ingest, although the broker says ingest's session is present: so
    ingest holds its watermarks after every connect (README "Wire contract"). If this
    starts failing, Mosquitto has fixed it."""
    users = ["ingest", "G1"]
    write_auth(workdir, users)
    broker = LocalMosquitto(
        workdir / "mqtt",
        free_port(),
        extra=f"password_file {workdir}/passwd\nacl_file {workdir}/acl\n",
    )
    broker.start()
    try:
        s = Subscriber(broker.port, "ingest-0", "ingest")
        s.subscribe(single_subscriptions(Topics()))
        s.leave()
        broker.restart()
        write_auth(workdir, [*users, "N1"])  # a registration while ingest is away
        broker.reload()
        time.sleep(0.3)
        device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="G1", protocol=mqtt.MQTTv5)
        device.username_pw_set("G1", "pw-G1")
        device.connect("127.0.0.1", broker.port)
        device.loop_start()
        infos = [device.publish(TOPIC, b"x", qos=1) for _ in range(10)]
        for info in infos:
            info.wait_for_publish(5)
        acked = sum(info.is_published() for info in infos)
        device.disconnect()
        device.loop_stop()
        back = Subscriber(broker.port, "ingest-0", "ingest")
        got = back.collect()
        assert (acked, len(got), back.session_present) == (10, 0, [True])
    finally:
        broker.stop()
