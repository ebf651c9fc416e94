"""Dimming schedules: the level each moment of the night, sent to the lights as commands
over a real Mosquitto; simulated lights obey and report it; a light that does not follow
raises its low-priority alarm, judged from its own readings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import count

import asyncpg
import pytest

from alerts.schedule_compliance import RULE
from commands.scheduler import ScheduleRunner
from commands.schedules import HEMAT, ScheduleError, changes, parse_schedule, wanted
from commands.service import Dispatcher
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage import schedules as store
from core.storage.alerts import active_alerts
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.registry import update_device
from simulators.command_follower import FollowedDevice
from simulators.fleet import as_sim_device
from simulators.models.streetlight import StreetlightModel
from simulators.solar import WIB
from tests.support.ingest import running_ingest
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio
LAT, LON = -3.66, 103.78  # Muara Enim


def wib(y: int, mo: int, d: int, h: int, mi: int) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=WIB)


def test_the_default_schedule_through_one_night_at_muara_enim() -> None:
    assert wanted(HEMAT, wib(2026, 12, 6, 12, 0), LAT, LON) is None
    assert wanted(HEMAT, wib(2026, 12, 6, 19, 0), LAT, LON) == 100.0
    assert wanted(HEMAT, wib(2026, 12, 6, 23, 30), LAT, LON) == 50.0
    assert wanted(HEMAT, wib(2026, 12, 7, 3, 0), LAT, LON) == 50.0
    assert wanted(HEMAT, wib(2026, 12, 7, 5, 0), LAT, LON) == 100.0
    steps = changes(HEMAT, wib(2026, 12, 6, 12, 0), wib(2026, 12, 7, 12, 0), LAT, LON)
    assert [lv for _, lv in steps] == [100.0, 50.0, 100.0, None]
    dusk, dim, full, dawn = (t.astimezone(WIB) for t, _ in steps)
    assert (dim.hour, dim.minute, full.hour, full.minute) == (23, 0, 4, 30)
    assert 18 <= dusk.hour < 19
    assert dawn.hour == 5 or (dawn.hour == 6 and dawn.minute < 15)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"at": "23:00", "level": 50}], "needs a step at dusk"),
        ([{"at": "dusk", "level": 120}], "level must be 0-100 % or 'off'"),
        ([{"at": "25:00", "level": 50}, {"at": "dusk", "level": 100}], "dusk, dawn or HH:MM"),
    ],
)
def test_a_bad_schedule_is_refused_with_what_to_change(
    steps: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule("x", steps)


class DeafToDimming(StreetlightModel):
    """A controller whose firmware acknowledges a dim command but never applies it."""

    def apply_command(self, command: str, args: dict[str, object]) -> str | None:
        if command == "dim":
            return None
        return super().apply_command(command, args)


@pytest.fixture
async def dispatcher(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Dispatcher]:
    d = Dispatcher(settings, pool, client_id=f"commands-{uuid.uuid4().hex[:8]}", poll_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    yield d
    stop.set()
    await task


async def test_a_feeder_schedule_is_followed_and_a_light_that_does_not_raises_its_alarm(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str, dispatcher: Dispatcher
) -> None:
    # last night at 23:30 WIB: the schedule wants 50 %
    local_now = datetime.now(UTC).astimezone(WIB)
    night = local_now.replace(hour=23, minute=30, second=0, microsecond=0) - timedelta(days=1)
    feeder = f"F-{uid}"
    rows = [DeviceRow(f"PJU-S{i}-{uid}", "streetlight", f"Lampu {i}", "active", "Lubai",
                      LAT, LON) for i in (1, 2)]  # fmt: skip
    await upsert_devices(pool, rows)
    async with pool.acquire() as conn:
        for r in rows:
            await update_device(conn, r.id, {"mounting": {"feeder": feeder}})
    await store.upsert_schedule(pool, HEMAT.name, HEMAT.as_json())
    await store.assign(pool, "feeder", feeder, HEMAT.name, "test")

    ticks = count(1)

    def clock() -> datetime:  # the lights' own clocks, a minute on with every reading
        return night + timedelta(minutes=next(ticks))

    good = StreetlightModel(as_sim_device(rows[0]), seed=3)
    deaf = DeafToDimming(as_sim_device(rows[1]), seed=4)
    lights = [FollowedDevice(settings, m, clock=clock) for m in (good, deaf)]
    async with running_ingest(settings, pool, kinds):
        for light in lights:
            await asyncio.to_thread(light.connect)
        try:
            runner = ScheduleRunner(pool, kinds, lat=LAT, lon=LON, grace=timedelta(seconds=30))
            first = await runner.tick(night)
            assert first.asked == {rows[0].id: 50.0, rows[1].id: 50.0}

            # The lights' clocks run a minute per reading, so a reading sent before the
            # command was applied can already be past the grace: judge once it is applied.
            await eventually(lambda: asyncio.sleep(0.05, good.dim_level), lambda v: v == 50.0)

            async def judged() -> tuple[list[str], list[str]]:
                r = await runner.tick(night)
                return sorted(r.following), sorted(r.disobeying)

            following, disobeying = await eventually(
                judged, lambda fd: fd == ([rows[0].id], [rows[1].id]), within=20
            )
        finally:
            for light in lights:
                light.disconnect()
    assert (following, disobeying) == ([rows[0].id], [rows[1].id])
    assert good.dim_level == 50.0
    assert deaf.dim_level is None
    alerts = {a.subject: a for a in await active_alerts(pool, RULE)}
    assert rows[0].id not in alerts
    alarm = alerts[rows[1].id]
    assert alarm.severity == "info"
    assert "seharusnya 50 %, terbaca 70 %" in alarm.message
    assert "should be 50 %, reads 70 %" in alarm.message
    again = await runner.tick(night)
    assert again.asked == {}, "a light already asked for its level is not asked again"


def test_the_cli_sets_assigns_and_lists_schedules_and_refuses_a_bad_step(
    settings: Settings, uid: str
) -> None:
    name = f"malam-{uid.lower()}"
    made = cli(settings, "schedule", "set", name, "--step", "dusk=100", "--step", "22:00=40",
               "--step", "dawn=off")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == f"schedule {name}: dusk 100 %, 22:00 40 %, dawn off"
    bad = cli(settings, "schedule", "set", name, "--step", "22:00=40")
    assert bad.returncode == 2
    assert "needs a step at dusk" in bad.stderr
    unknown = cli(settings, "schedule", "assign", "--district", "Lubai", f"nope-{uid}")
    assert unknown.returncode == 2
    assert "create it with `citysense commands schedule set NAME`" in unknown.stderr
    ok = cli(settings, "schedule", "assign", "--feeder", f"F9-{uid}", name)
    assert ok.returncode == 0, ok.stderr
    listed = cli(settings, "schedule", "list").stdout
    assert f"feeder F9-{uid} -> {name}" in listed


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITYSENSE_DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "citysense.cli", "commands", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
