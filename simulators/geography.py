"""Muara Enim as the simulators see it: districts, rivers and their gauge stations.

Copied from the project's domain notes (kecamatan centres, 2022 boundaries, approximate to
about 0.01 degree). Station placements and thresholds are *simulation defaults*: real
thresholds are per-station configuration. Two anchors come from reports: Sukaraja on the
Enim read 5.22 m at Siaga 1 (AWAS) and Sungai Rotan on the Lematang 4.87 m at Siaga 2 (SIAGA).
"""

from __future__ import annotations

from dataclasses import dataclass

TIMEZONE = "Asia/Jakarta"


@dataclass(frozen=True, slots=True)
class District:
    kode: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Station:
    """A water-level gauge site on a river."""

    name: str
    river: str
    district: str
    lat: float
    lon: float
    base_cm: float
    """Typical dry-weather level above gauge zero."""
    waspada_cm: float
    siaga_cm: float
    awas_cm: float
    lag_h: float
    """Travel time of a flood wave from the river's head to this station."""
    power_source: str = "PLTS"
    gauge_zero_m: float | None = None
    """Elevation of the staff gauge's zero (m above sea level); simulated, approximate."""


@dataclass(frozen=True, slots=True)
class River:
    name: str
    stations: tuple[Station, ...]
    """Gauge stations, upstream first."""
    joins: str | None = None
    joins_after_h: float = 0.0
    """Travel time from this river's head to where it joins ``joins``."""


DISTRICTS: tuple[District, ...] = (
    District("16.03.01", "Tanjung Agung", -3.8974, 103.8125),
    District("16.03.02", "Muara Enim", -3.6641, 103.8015),
    District("16.03.03", "Rambang Niru", -3.6168, 104.014),
    District("16.03.04", "Gunung Megang", -3.5284, 103.8823),
    District("16.03.06", "Gelumbang", -3.2135, 104.4197),
    District("16.03.07", "Lawang Kidul", -3.7735, 103.8349),
    District("16.03.08", "Semende Darat Laut", -4.0998, 103.6422),
    District("16.03.09", "Semende Darat Tengah", -4.1822, 103.4773),
    District("16.03.10", "Semende Darat Ulu", -4.2742, 103.5112),
    District("16.03.11", "Ujan Mas", -3.5321, 103.7067),
    District("16.03.14", "Lubai", -3.6701, 104.3124),
    District("16.03.15", "Rambang", -3.6071, 104.1559),
    District("16.03.16", "Sungai Rotan", -3.1567, 104.2876),
    District("16.03.17", "Lembak", -3.3597, 104.3158),
    District("16.03.19", "Benakat", -3.3924, 103.7342),
    District("16.03.21", "Kelekar", -3.3422, 104.4777),
    District("16.03.22", "Muara Belida", -3.075, 104.5495),
    District("16.03.23", "Belimbing", -3.4442, 103.982),
    District("16.03.24", "Belida Darat", -3.4621, 104.3745),
    District("16.03.25", "Lubai Ulu", -3.8079, 104.1059),
    District("16.03.26", "Empat Petulai Dangku", -3.3892, 104.0824),
    District("16.03.27", "Panang Enim", -4.0138, 103.7338),
)

DISTRICT_BY_NAME = {d.name: d for d in DISTRICTS}


def _at(district: str, dlat: float = 0.0, dlon: float = 0.0) -> tuple[float, float]:
    d = DISTRICT_BY_NAME[district]
    return round(d.lat + dlat, 5), round(d.lon + dlon, 5)


# Simulated gauge-zero elevations (m above sea level), falling downstream; not survey data.
GAUGE_ZERO_M = {
    "Pulau Panggung": 640.0,
    "Sukaraja": 210.0,
    "Lawang Kidul": 95.0,
    "Muara Enim": 62.0,
    "Pinang Belarik": 48.0,
    "Modong": 34.0,
    "Sungai Rotan": 22.0,
    "Rambang": 28.0,
    "Rambang Niru": 24.0,
}


def _station(
    name: str,
    river: str,
    district: str,
    thresholds: tuple[float, float, float],
    base: float,
    lag_h: float,
    offset: tuple[float, float] = (0.004, -0.003),
    power: str = "PLTS",
) -> Station:
    lat, lon = _at(district, *offset)
    w, s, a = thresholds
    zero = GAUGE_ZERO_M.get(name)
    return Station(name, river, district, lat, lon, base, w, s, a, lag_h, power, zero)


# The Enim is flashy (rises of 1-2 m within hours, often overnight) and joins the Lematang
# at Muara Enim; the Lematang carries 'banjir kiriman' with hours between gauges.
RIVERS: tuple[River, ...] = (
    River(
        "Enim",
        (
            _station("Pulau Panggung", "Enim", "Semende Darat Laut", (300, 380, 450), 190, 0.0),
            _station("Sukaraja", "Enim", "Tanjung Agung", (350, 440, 520), 230, 1.5, power="PLN"),
            _station("Lawang Kidul", "Enim", "Lawang Kidul", (360, 450, 540), 240, 2.75),
            _station("Muara Enim", "Enim", "Muara Enim", (380, 470, 560), 250, 4.0, power="PLN"),
        ),
        joins="Lematang",
        joins_after_h=4.5,
    ),
    River(
        "Lematang",
        (
            _station("Pinang Belarik", "Lematang", "Gunung Megang", (380, 460, 560), 260, 0.0),
            _station("Modong", "Lematang", "Benakat", (390, 470, 570), 270, 3.0),
            _station(
                "Sungai Rotan", "Lematang", "Sungai Rotan", (400, 480, 580), 280, 6.0, power="PLN"
            ),
        ),
        joins="Musi",
    ),
    River(
        "Rambang",
        (
            _station("Rambang", "Rambang", "Rambang", (250, 320, 390), 150, 0.0),
            _station("Rambang Niru", "Rambang", "Rambang Niru", (260, 330, 400), 160, 2.0),
        ),
    ),
)

RIVER_BY_NAME = {r.name: r for r in RIVERS}

# A rain event on a tributary reaches the river it joins, weakened, after this many hours
# (counted from the confluence to each downstream gauge, via that river's own lags).
CONFLUENCE_ATTENUATION = 0.45
