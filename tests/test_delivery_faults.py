"""A reading is stored exactly once or still held by the device that sent it, through
every fault: broker SIGTERM and SIGKILL restarts, ingest SIGKILL, PostgreSQL immediate
restart, injected at random moments while an independent publisher keeps publishing.

Contract devices (store-and-forward on the ``stored`` watermark) lose nothing in any fault,
and end holding nothing unconfirmed: the watermark told each what is stored.
Plain devices (forget a reading once the broker acknowledged it) lose nothing either,
except in a broker crash: there the broker forgets what arrived since its last autosave.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from citysense.local.postgres import scratch_dir
from tests.support.faults import FAULTS, Rig
from tests.support.private_pg import PrivatePg, private_postgres
from tests.support.traffic import Traffic, settle

pytestmark = pytest.mark.slow

RATE = 1000  # readings/s, half from contract devices, half from plain ones
AUTOSAVE_S = 30


@pytest.fixture(scope="module")
def fault_pg() -> Iterator[PrivatePg]:
    with private_postgres() as pg:
        yield pg


@pytest.fixture
def rig(fault_pg: PrivatePg, tmp_path: Path) -> Iterator[Rig]:
    # Not under tmp_path: pytest makes that 0700 root, and Mosquitto (which drops root for
    # the 'mosquitto' user) could then write neither its log nor its persistence file.
    mqtt_dir = scratch_dir("citysense-mqtt-")
    broker = LocalMosquitto(mqtt_dir, free_port())
    broker.start()
    r = Rig(fault_pg, broker, tmp_path)
    r.start_ingest(wait=True)  # the system is up once; from here on nothing is waited for
    try:
        yield r
    finally:
        code = r.stop()
        broker.stop()
        shutil.rmtree(mqtt_dir, ignore_errors=True)
        assert code == 0, r.ingest.output() if r.ingest else ""


def run_through(rig: Rig, faults: list[str], *, before: float, between: float) -> Traffic:
    traffic = Traffic(rig.broker.port, rate=RATE)
    traffic.register(rig.pg.url)
    traffic.start()
    time.sleep(random.uniform(*(before, before * 2)))
    for name in faults:
        FAULTS[name](rig)
        time.sleep(random.uniform(between, between * 2))
    return traffic


@pytest.mark.parametrize("fault", ["broker_sigterm", "ingest_sigkill", "postgres_restart"])
def test_nothing_acknowledged_is_lost_or_duplicated_through_a_fault(rig: Rig, fault: str) -> None:
    traffic = run_through(rig, [fault], before=1.0, between=1.5)
    try:
        result = settle(rig.pg.url, traffic)
    finally:
        traffic.close()
    print(fault, result.as_dict())
    assert (result.contract.lost, result.contract.duplicated) == (0, 0), result.as_dict()
    assert (result.plain.lost, result.plain.duplicated) == (0, 0), result.as_dict()
    assert result.contract.stored == result.contract.published
    assert result.details["unconfirmed"] == 0, "every device learnt its readings are stored"


def test_a_broker_crash_loses_nothing_of_contract_devices_and_at_most_the_autosave_window(
    rig: Rig,
) -> None:
    traffic = run_through(rig, ["broker_sigkill"], before=1.0, between=1.5)
    try:
        result = settle(rig.pg.url, traffic)
    finally:
        traffic.close()
    print("broker_sigkill", result.as_dict())
    assert (result.contract.lost, result.contract.duplicated) == (0, 0), result.as_dict()
    assert result.contract.stored == result.contract.published
    assert result.details["unconfirmed"] == 0, "every device learnt its readings are stored"
    assert result.plain.duplicated == 0
    assert result.plain.lost <= RATE / 2 * (AUTOSAVE_S + 5), "more than the autosave window"


def test_every_fault_at_random_moments_in_one_run_of_60000_readings(rig: Rig) -> None:
    faults = list(FAULTS)
    random.shuffle(faults)
    started = time.monotonic()
    traffic = Traffic(rig.broker.port, rate=2 * RATE)
    traffic.register(rig.pg.url)
    traffic.start()
    try:
        for name in faults:
            time.sleep(random.uniform(2.0, 6.0))
            FAULTS[name](rig)
        while traffic.contract.published + traffic.plain.published < 60_000:
            time.sleep(0.2)
        result = settle(rig.pg.url, traffic, timeout=90)
    finally:
        traffic.close()
    print(faults, round(time.monotonic() - started, 1), result.as_dict())
    assert result.contract.published + result.plain.published >= 60_000
    assert (result.contract.lost, result.contract.duplicated) == (0, 0), result.as_dict()
    assert result.contract.stored == result.contract.published
    assert result.details["unconfirmed"] == 0, "every device learnt its readings are stored"
    assert result.plain.duplicated == 0
