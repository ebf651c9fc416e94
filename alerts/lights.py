"""Street lights: lamp failure at night, day-burners, and a dark feeder as one alert.

Judged on each lamp's newest reading, in local time. A feeder where many lamps went dark
together is a supply outage: one ``feeder_outage`` alert names them, and those lamps get no
``lamp_failure`` alerts of their own.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerts.config import AlertConfig, feeder_of
from alerts.sink import AlertSink
from alerts.vocabulary import Rule
from core.storage.alert_inputs import Liveness
from core.storage.alert_metadata import AlertMetadata


def _night(t: time, c: AlertConfig) -> bool:
    return t >= c.lamps_on_from or t < c.lamps_on_until


def _day(t: time, c: AlertConfig) -> bool:
    return c.daylight_from <= t < c.daylight_until


def _power(v: dict[str, object]) -> float | None:
    p = v.get("active_power")
    return float(p) if isinstance(p, int | float) and not isinstance(p, bool) else None


def is_dark(v: dict[str, object], c: AlertConfig) -> bool:
    p = _power(v)
    return (
        v.get("lamp_failure") is True
        or v.get("power_state") == "off"
        or (p is not None and p < c.lamp_min_power_w)
    )


def is_lit(v: dict[str, object], c: AlertConfig) -> bool:
    p = _power(v)
    return (
        v.get("day_burner") is True
        or v.get("power_state") in ("on", "low")
        or (p is not None and p >= c.lamp_min_power_w)
    )


async def judge_lamps(
    lamps: list[Liveness],
    now: datetime,
    silence: timedelta,
    c: AlertConfig,
    meta: AlertMetadata,
    sink: AlertSink,
) -> None:
    tz = ZoneInfo(c.timezone)
    failed: set[str] = set()
    burning: set[str] = set()
    healthy: set[str] = set()
    names = {lamp.device_id: lamp.name or lamp.device_id for lamp in lamps}
    for lamp in lamps:
        if now - lamp.received_at > silence:
            continue  # offline lamps are the liveness rule's business
        local = lamp.time.astimezone(tz).time()
        dark, lit = is_dark(lamp.values, c), is_lit(lamp.values, c)
        if _night(local, c) and dark:
            failed.add(lamp.device_id)
        if _day(local, c) and lit:
            burning.add(lamp.device_id)
        if not dark:
            healthy.add(lamp.device_id)

    members: dict[str, set[str]] = defaultdict(set)
    for lamp in lamps:
        feeder = feeder_of(c, meta, lamp.device_id)
        if feeder is not None:
            members[feeder].add(lamp.device_id)
    covered: dict[str, str] = {}
    for feeder, lamps_on in sorted(members.items()):
        dark_here = failed & lamps_on
        subject = f"feeder:{feeder}"
        share = len(dark_here) / len(lamps_on)
        if len(dark_here) >= c.feeder_min_lamps and share >= c.feeder_fraction:
            for d in lamps_on:
                covered[d] = feeder
            await sink.raise_(
                Rule.FEEDER_OUTAGE,
                subject,
                device_id=None,
                facts={
                    "feeder": feeder,
                    "dark": len(dark_here),
                    "of": len(lamps_on),
                    "lamps": sorted(dark_here),
                },
                affected=len(dark_here),
            )
        elif len(dark_here) < 2 or share < c.feeder_fraction / 2:
            await sink.clear(Rule.FEEDER_OUTAGE, subject, "lamps on the feeder draw power again")

    for d in sorted(failed):
        if d in covered:
            await sink.clear(Rule.LAMP_FAILURE, d, f"covered by feeder outage {covered[d]}")
            continue
        await sink.raise_(
            Rule.LAMP_FAILURE,
            d,
            device_id=d,
            facts={"name": names[d], "device": d, "feeder": feeder_of(c, meta, d) or ""},
        )
    for d in sink.subjects(Rule.LAMP_FAILURE) - failed:
        if d in healthy or d in covered:
            await sink.clear(Rule.LAMP_FAILURE, d, "lamp draws power again")

    for d in sorted(burning):
        await sink.raise_(Rule.DAY_BURNER, d, device_id=d, facts={"name": names[d], "device": d})
    for d in sink.subjects(Rule.DAY_BURNER) - burning:
        await sink.clear(Rule.DAY_BURNER, d, "lamp is off in daylight, or it is night")
