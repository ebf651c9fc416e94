"""Does a street light follow its dimming schedule? Judged from its own newest reading.

A light is judged only on a reading taken at least ``grace`` after the platform last asked
it for a new level (time for the command to arrive and the light to report). It follows
the schedule when it is dark while it should be off, and lit at the asked level (within
``tolerance`` percentage points) otherwise. One low-priority (``info``) alarm per light
that does not; it clears once the light's reading agrees again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

RULE = "schedule_not_followed"
SEVERITY = "info"


@dataclass(frozen=True, slots=True)
class Observation:
    device_id: str
    name: str
    time: datetime
    values: dict[str, object]


@dataclass(frozen=True, slots=True)
class Verdict:
    device_id: str
    follows: bool
    message: str
    details: dict[str, object]


def _fmt(level: float | None) -> str:
    return "padam / off" if level is None else f"{level:g} %"


def judge(
    obs: Observation,
    *,
    schedule: str,
    level: float | None,
    asked_at: datetime,
    grace: timedelta = timedelta(minutes=10),
    tolerance: float = 5.0,
    min_power_w: float = 5.0,
) -> Verdict | None:
    """The verdict on ``obs``, or None when it is too early to tell."""
    if obs.time < asked_at + grace:
        return None
    state = obs.values.get("power_state")
    dim = obs.values.get("dim_pct")
    power = obs.values.get("active_power")
    lit = state in ("on", "low") or (isinstance(power, int | float) and power >= min_power_w)
    if level is None:
        follows, seen = not lit, "menyala / lit" if lit else "padam / off"
    else:
        near = isinstance(dim, int | float) and abs(float(dim) - level) <= tolerance
        follows = lit and near
        seen = "padam / off" if not lit else (f"{dim:g} %" if isinstance(dim, int | float) else "?")
    message = (
        f"Lampu {obs.name} ({obs.device_id}) tidak mengikuti jadwal '{schedule}':"
        f" seharusnya {_fmt(level)}, terbaca {seen}"
        f" / Light {obs.name} does not follow schedule '{schedule}':"
        f" should be {_fmt(level)}, reads {seen}"
    )
    details: dict[str, object] = {
        "schedule": schedule,
        "wanted": level,
        "reading_time": obs.time.isoformat(),
        "dim_pct": dim,
        "power_state": state,
    }
    return Verdict(obs.device_id, follows, message, details)
