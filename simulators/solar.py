"""Sunrise and sunset for a place and day (NOAA's simplified solar position, ~1 minute).

At Muara Enim this gives sunrise 05:41-06:13 and sunset 17:56-18:26 WIB over the year,
as the domain notes say; street lights switch on them.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


def sun_times(day: date, lat: float, lon: float) -> tuple[datetime, datetime]:
    """(sunrise, sunset) in UTC for the local calendar ``day``."""
    n = day.timetuple().tm_yday
    gamma = 2 * math.pi / 365 * (n - 1)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    phi = math.radians(lat)
    cos_ha = math.cos(math.radians(90.833)) / (math.cos(phi) * math.cos(decl)) - math.tan(
        phi
    ) * math.tan(decl)
    ha = math.degrees(math.acos(max(-1.0, min(1.0, cos_ha))))
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    sunrise = midnight + timedelta(minutes=720 - 4 * (lon + ha) - eqtime)
    sunset = midnight + timedelta(minutes=720 - 4 * (lon - ha) - eqtime)
    return sunrise, sunset


def local_day(t: datetime) -> date:
    return t.astimezone(WIB).date()


def local_hour(t: datetime) -> float:
    """Hour of the day in WIB, as a float (19.5 is 19:30)."""
    loc = t.astimezone(WIB)
    return loc.hour + loc.minute / 60 + loc.second / 3600


def daylight(t: datetime, lat: float, lon: float) -> float:
    """0 at night, rising to 1 at solar noon (a smooth proxy for sun on panels and walls)."""
    rise, set_ = sun_times(local_day(t), lat, lon)
    if not rise <= t <= set_:
        return 0.0
    frac = (t - rise) / (set_ - rise)
    return math.sin(math.pi * frac)
