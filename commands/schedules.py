"""Dimming schedules: what level a street light should be at, at any moment.

A schedule is a list of steps through the night, each at ``dusk``, ``dawn`` or a WIB clock
time, with a dim level (or ``off``). By day (between dawn and dusk at the regency's
position) a scheduled light is off; through the night it is at the level of the last step
passed since dusk. The default, ``hemat``: 100 % at dusk, 50 % from 23:00 to 04:30, 100 %
until dawn, off at dawn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from simulators.solar import WIB, sun_times

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Step:
    at: str
    """``dusk``, ``dawn`` or ``HH:MM`` (WIB)."""
    level: float | None
    """Dim level in %, or None for off."""


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    steps: tuple[Step, ...]

    def as_json(self) -> list[dict[str, Any]]:
        return [{"at": s.at, "level": s.level} for s in self.steps]


HEMAT = Schedule(
    "hemat",
    (Step("dusk", 100.0), Step("23:00", 50.0), Step("04:30", 100.0), Step("dawn", None)),
)


def parse_schedule(name: str, steps: Sequence[Mapping[str, Any]]) -> Schedule:
    if not _NAME.match(name):
        raise ScheduleError(f"schedule name {name!r}: lower-case letters, digits, - and _")
    out = []
    for i, raw in enumerate(steps, 1):
        at, level = raw.get("at"), raw.get("level")
        if not isinstance(at, str) or not (at in ("dusk", "dawn") or _CLOCK.match(at)):
            raise ScheduleError(f"step {i}: 'at' must be dusk, dawn or HH:MM (WIB), not {at!r}")
        if level in (None, "off"):
            out.append(Step(at, None))
            continue
        if isinstance(level, bool) or not isinstance(level, int | float) or not 0 <= level <= 100:
            raise ScheduleError(f"step {i}: level must be 0-100 % or 'off', not {level!r}")
        out.append(Step(at, float(level)))
    if not any(s.at == "dusk" for s in out):
        raise ScheduleError("a schedule needs a step at dusk (when the lights come on)")
    return Schedule(name, tuple(out))


def _at(step: Step, day: date, lat: float, lon: float) -> datetime:
    rise, set_ = sun_times(day, lat, lon)
    if step.at == "dusk":
        return set_
    if step.at == "dawn":
        return rise
    h, m = (int(x) for x in step.at.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=WIB)


def night_of(t: datetime, lat: float, lon: float) -> tuple[datetime, datetime] | None:
    """(dusk, dawn) of the night ``t`` falls in, or None by day."""
    day = t.astimezone(WIB).date()
    for d in (day - timedelta(days=1), day):
        _, dusk = sun_times(d, lat, lon)
        dawn, _ = sun_times(d + timedelta(days=1), lat, lon)
        if dusk <= t < dawn:
            return dusk, dawn
    return None


def wanted(schedule: Schedule, t: datetime, lat: float, lon: float) -> float | None:
    """The level the light should be at at ``t`` (None: off)."""
    night = night_of(t, lat, lon)
    if night is None:
        return None
    dusk, dawn = night
    start = dusk.astimezone(WIB).date()
    passed: list[tuple[datetime, float | None]] = []
    for s in schedule.steps:
        if s.at == "dawn":
            continue
        for d in (start, start + timedelta(days=1)):
            when = dusk if s.at == "dusk" else _at(s, d, lat, lon)
            if dusk <= when <= t and when < dawn:
                passed.append((when, s.level))
    passed.sort(key=lambda p: p[0])
    return passed[-1][1] if passed else None


def changes(
    schedule: Schedule, start: datetime, end: datetime, lat: float, lon: float
) -> list[tuple[datetime, float | None]]:
    """Every moment in [start, end) the wanted level changes, with the new level."""
    out: list[tuple[datetime, float | None]] = []
    day = start.astimezone(WIB).date() - timedelta(days=1)
    candidates = []
    while datetime(day.year, day.month, day.day, tzinfo=WIB) < end + timedelta(days=1):
        rise, set_ = sun_times(day, lat, lon)
        candidates += [rise, set_]
        candidates += [
            _at(s, day, lat, lon) for s in schedule.steps if s.at not in ("dusk", "dawn")
        ]
        day += timedelta(days=1)
    level = wanted(schedule, start, lat, lon)
    for c in sorted(set(candidates)):
        if start < c < end:
            now = wanted(schedule, c, lat, lon)
            if now != level:
                out.append((c, now))
                level = now
    return out
