"""Runs the dimming schedules: sends each light what it needs, checks that it follows.

Every tick: for each street light under a schedule, the level it should be at now; a light
whose level changed since the platform last asked (or that was never asked) gets
``switch on`` + ``dim`` (or ``switch off``), sent as ordinary commands (one per light,
journalled, tracked) with the actor ``schedule:<name>``. Then each light's newest reading
is judged against what it was asked (:mod:`alerts.schedule_compliance`), raising or
clearing its low-priority alarm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from alerts.schedule_compliance import RULE, SEVERITY, Observation, judge
from commands.schedules import Schedule, ScheduleError, parse_schedule, wanted
from commands.sending import send_to_lights
from core.kinds import KindRegistry
from core.storage import schedules as store
from core.storage.alert_inputs import liveness
from core.storage.alerts import active_alerts, raise_alert, resolve_active

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TickResult:
    asked: dict[str, float | None] = field(default_factory=dict)
    disobeying: list[str] = field(default_factory=list)
    following: list[str] = field(default_factory=list)


class ScheduleRunner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        kinds: KindRegistry,
        *,
        lat: float,
        lon: float,
        ttl_s: int = 900,
        grace: timedelta = timedelta(minutes=10),
        interval_s: float = 60.0,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.kinds = kinds
        self.lat, self.lon = lat, lon
        self.ttl_s = ttl_s
        self.grace = grace
        self.interval_s = interval_s
        self.wall = wall
        """Wall clock for the commands' deadlines (``tick``'s ``now`` is schedule time)."""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick(datetime.now(UTC))
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("schedules: %s; retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    async def tick(self, now: datetime) -> TickResult:
        result = TickResult()
        lights = await store.scheduled_lights(self.pool)
        parsed: dict[str, Schedule] = {}
        for light in lights:
            if light.schedule not in parsed:
                try:
                    parsed[light.schedule] = parse_schedule(light.schedule, light.steps)
                except ScheduleError as exc:
                    log.error("schedule %s is unusable: %s", light.schedule, exc)
        sent = await store.sent_levels(self.pool, [lt.device_id for lt in lights])
        groups: dict[tuple[str, float | None], list[str]] = defaultdict(list)
        for light in lights:
            schedule = parsed.get(light.schedule)
            if schedule is None:
                continue
            level = wanted(schedule, now, self.lat, self.lon)
            last = sent.get(light.device_id)
            if last is None or last.level != level or last.schedule != light.schedule:
                groups[(light.schedule, level)].append(light.device_id)
                result.asked[light.device_id] = level
        for (name, level), ids in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or -1)):
            if level is None:
                await self._ask(ids, name, "switch", {"mode": "off"})
            else:
                await self._ask(ids, name, "switch", {"mode": "on"})
                await self._ask(ids, name, "dim", {"level": level})
            await store.record_levels(self.pool, [(d, name, level) for d in ids], now)
        await self._judge(lights, result)
        return result

    async def _ask(
        self, ids: list[str], schedule: str, command: str, args: dict[str, object]
    ) -> None:
        await send_to_lights(
            self.pool,
            self.kinds,
            ids,
            command=command,
            args=args,
            label=f"schedule:{schedule}",
            actor=f"schedule:{schedule}",
            ttl_s=self.ttl_s,
            now=self.wall(),
        )

    async def _judge(self, lights: list[store.ScheduledLight], result: TickResult) -> None:
        asked = await store.sent_levels(self.pool, [lt.device_id for lt in lights])
        latest = {lv.device_id: lv for lv in await liveness(self.pool, "streetlight")}
        open_ = {a.subject for a in await active_alerts(self.pool, RULE)}
        for light in lights:
            a, seen = asked.get(light.device_id), latest.get(light.device_id)
            if a is None or seen is None:
                continue
            obs = Observation(light.device_id, seen.name, seen.time, seen.values)
            verdict = judge(obs, schedule=a.schedule, level=a.level, asked_at=a.since,
                            grace=self.grace)  # fmt: skip
            if verdict is None:
                continue
            if verdict.follows:
                result.following.append(light.device_id)
                if light.device_id in open_:
                    note = "the light follows its schedule again"
                    await resolve_active(self.pool, rule=RULE, subject=light.device_id,
                                         by="system", note=note)  # fmt: skip
            else:
                result.disobeying.append(light.device_id)
                await raise_alert(self.pool, rule=RULE, subject=light.device_id,
                                  device_id=light.device_id, severity=SEVERITY,
                                  message=verdict.message, details=verdict.details)  # fmt: skip
