"""Where simulated time sits against the wall clock.

Ingest refuses readings stamped in the future, so a run faster than real time is placed
in the past: it starts ``duration * (1 - 1/speed)`` ago and catches up with the present
just as it ends, so its last readings are current. A scenario that starts at a WIB time
of day moves back to the latest such moment that still fits, and then runs on past its
own duration until it has caught up with the present (at speed 3600, a day of extra
simulated time is 24 s): it still ends now, with its events where the scenario put them.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from simulators.solar import WIB


def live_window(
    now: datetime, duration: timedelta, speed: float, start_local: time | None = None
) -> tuple[datetime, datetime]:
    """(start, end) of a run of ``duration`` simulated time at ``speed``, ending by ``now``."""
    if speed <= 0:
        raise ValueError("speed must be > 0")
    start = now - duration * max(0.0, 1 - 1 / speed)
    if start_local is not None:
        loc = start.astimezone(WIB)
        anchored = loc.replace(
            hour=start_local.hour, minute=start_local.minute, second=0, microsecond=0
        )
        if anchored > loc:
            anchored -= timedelta(days=1)
        start = anchored
        if speed > 1:
            # Sim time start + t*speed meets the wall clock now + t when the run ends.
            return start, start + (now - start) * (speed / (speed - 1))
    else:
        start = start.replace(second=0, microsecond=0)
    return start, start + duration
