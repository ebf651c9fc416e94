"""A fleet of simulated devices placed in Muara Enim, and its CSV for the registry's import.

Placement: street lights in rows along a road through each district centre (about 40 m
apart, grouped on feeders of up to 12 lights per cabinet); flood gauges at the river
stations, upstream first; one network node per village near a district centre, acting as
the uplink (LoRa/WiFi backhaul) of the street lights in its district.
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.kinds import KindRegistry
from core.storage.devices import DeviceRow
from simulators.geography import DISTRICT_BY_NAME, DISTRICTS, RIVER_BY_NAME, RIVERS, Station

_PREFIX = {"streetlight": "PJU", "flood_gauge": "AWLR", "network_node": "NODE"}
LIGHTS_PER_FEEDER = 12
_SPACING_DEG = 0.00036  # ~40 m between poles

CSV_COLUMNS = (
    "id",
    "kind",
    "name",
    "status",
    "district",
    "latitude",
    "longitude",
    "pole_number",
    "feeder",
    "river",
    "station",
    "gauge_zero_m",
    "waspada_cm",
    "siaga_cm",
    "awas_cm",
    "uplink",
    "uplink_id",
)
"""The registry import's columns for everything :func:`registry_details` gives a device."""

NODE_BACKHAUL = "4G"
"""The simulated village nodes' backhaul (the registry's ``uplink`` mounting detail)."""


class FleetError(ValueError):
    """A fleet that cannot be built; the message names the offending option or field."""


@dataclass(frozen=True, slots=True)
class SimDevice:
    """A registered device plus what the simulation needs to know about where it sits."""

    row: DeviceRow
    index: int
    """1-based position among the devices of its kind."""
    feeder: str | None = None
    station: Station | None = None
    uplink: str | None = None
    rated_w: float = 0.0

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def kind(self) -> str:
        return self.row.kind


@dataclass(frozen=True, slots=True)
class FleetSpec:
    counts: Mapping[str, int]
    districts: Sequence[str] = ()
    """Where lights and nodes go (default: every district, seat first)."""
    rivers: Sequence[str] = ()
    """Which rivers get gauges (default: all, in declaration order)."""
    id_prefix: str = "SIM"
    where: str = "fleet"
    """How errors name this spec: a scenario's ``fleet`` table, or ``""`` for CLI options."""

    def field_name(self, key: str) -> str:
        """``fleet.streetlight`` in a scenario; ``--count streetlight`` on the command line."""
        if self.where:
            return f"{self.where}.{key}" if key else self.where
        if key in ("districts", "rivers"):
            return f"--{key}"
        return f"--count {key}" if key else "--count"


def _district_order(spec: FleetSpec) -> list[str]:
    if spec.districts:
        for name in spec.districts:
            if name not in DISTRICT_BY_NAME:
                known = ", ".join(d.name for d in DISTRICTS)
                raise FleetError(
                    f"{spec.field_name('districts')}: unknown district {name!r}; known: {known}"
                )
        return list(spec.districts)
    seat_first = sorted(DISTRICTS, key=lambda d: (d.name != "Muara Enim", d.kode))
    return [d.name for d in seat_first]


def _stations(spec: FleetSpec) -> list[Station]:
    names = list(spec.rivers) or [r.name for r in RIVERS]
    out: list[Station] = []
    for name in names:
        if name not in RIVER_BY_NAME:
            known = ", ".join(RIVER_BY_NAME)
            raise FleetError(f"{spec.field_name('rivers')}: unknown river {name!r}; known: {known}")
        out.extend(RIVER_BY_NAME[name].stations)
    return out


def build_sim_fleet(kinds: KindRegistry, spec: FleetSpec, seed: int) -> list[SimDevice]:
    """Deterministic for a given spec and seed."""
    for kind, n in spec.counts.items():
        if kind not in kinds:
            raise FleetError(
                f"{spec.field_name('')}: unknown kind {kind!r}; known kinds: {', '.join(kinds)}"
            )
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise FleetError(f"{spec.field_name(kind)}: must be a whole number >= 0, got {n!r}")
    if sum(spec.counts.values()) == 0:
        raise FleetError(
            f"{spec.field_name('')}: every count is 0; the simulator would publish nothing"
        )
    rng = random.Random(f"fleet:{seed}")
    districts = _district_order(spec)
    devices: list[SimDevice] = []
    nodes_by_district: dict[str, str] = {}
    p = spec.id_prefix

    n_nodes = spec.counts.get("network_node", 0)
    for i in range(1, n_nodes + 1):
        dname = districts[(i - 1) % len(districts)]
        d = DISTRICT_BY_NAME[dname]
        village = (i - 1) // len(districts) + 1
        dev_id = f"{p}-NODE-{i:04d}"
        nodes_by_district.setdefault(dname, dev_id)
        devices.append(
            SimDevice(
                DeviceRow(
                    dev_id,
                    "network_node",
                    f"Village node {dname} {village}",
                    "active",
                    dname,
                    round(d.lat + rng.uniform(-0.02, 0.02), 6),
                    round(d.lon + rng.uniform(-0.02, 0.02), 6),
                ),
                i,
            )
        )

    n_gauges = spec.counts.get("flood_gauge", 0)
    stations = _stations(spec)
    if n_gauges > len(stations):
        raise FleetError(
            f"{spec.field_name('flood_gauge')}: {n_gauges} gauges asked for, but the selected"
            f" rivers have {len(stations)} stations ({', '.join(s.name for s in stations)})"
        )
    for i, st in enumerate(stations[:n_gauges], start=1):
        devices.append(
            SimDevice(
                DeviceRow(
                    f"{p}-AWLR-{i:04d}",
                    "flood_gauge",
                    f"AWLR {st.name} ({st.river})",
                    "active",
                    st.district,
                    st.lat,
                    st.lon,
                ),
                i,
                station=st,
            )
        )

    n_lights = spec.counts.get("streetlight", 0)
    per_district: dict[str, int] = {}
    roads = {
        name: (rng.uniform(0, math.pi), rng.uniform(-0.004, 0.004), rng.uniform(-0.004, 0.004))
        for name in districts
    }
    for i in range(1, n_lights + 1):
        dname = districts[(i - 1) % len(districts)]
        d = DISTRICT_BY_NAME[dname]
        k = per_district.get(dname, 0)
        per_district[dname] = k + 1
        bearing, olat, olon = roads[dname]
        step = (k // 2 + 1) * (1 if k % 2 == 0 else -1) * _SPACING_DEG
        devices.append(
            SimDevice(
                DeviceRow(
                    f"{p}-PJU-{i:04d}",
                    "streetlight",
                    f"PJU {dname} pole {k + 1}",
                    "active",
                    dname,
                    round(d.lat + olat + step * math.sin(bearing), 6),
                    round(d.lon + olon + step * math.cos(bearing), 6),
                ),
                i,
                feeder=f"{p}-FDR-{d.kode.replace('.', '')}-{k // LIGHTS_PER_FEEDER + 1:02d}",
                uplink=nodes_by_district.get(dname),
                rated_w=rng.choice((60.0, 90.0, 90.0, 120.0)),
            )
        )

    for kind, n in spec.counts.items():
        if kind in _PREFIX or n == 0:
            continue
        # Kinds without a dedicated model still get a place (and generic telemetry).
        for i in range(1, n + 1):
            d = DISTRICT_BY_NAME[districts[(i - 1) % len(districts)]]
            devices.append(
                SimDevice(
                    DeviceRow(
                        f"{p}-{kind.upper().replace('_', '')}-{i:04d}",
                        kind,
                        f"Simulated {kinds[kind].label} {i}",
                        "active",
                        d.name,
                        round(d.lat + rng.uniform(-0.01, 0.01), 6),
                        round(d.lon + rng.uniform(-0.01, 0.01), 6),
                    ),
                    i,
                )
            )
    return devices


def registry_details(dev: SimDevice) -> dict[str, Any]:
    """Everything the registry keeps of a simulated device, as the registry's input.

    Alerts and pages read these: a gauge's station, river, gauge zero and WASPADA / SIAGA /
    AWAS thresholds; a light's pole, feeder and the node it reports through; a node's
    backhaul. :func:`fleet_csv` and ``citysense simulate``'s registration both use this.
    """
    r, st = dev.row, dev.station
    raw: dict[str, Any] = {
        "id": r.id,
        "kind": r.kind,
        "name": r.name,
        "status": r.status,
        "district": r.district,
        "latitude": r.latitude,
        "longitude": r.longitude,
    }
    mounting: dict[str, Any] = {}
    if dev.feeder:
        mounting |= {"pole_number": f"P-{dev.index:04d}", "feeder": dev.feeder}
    if dev.uplink:
        raw["uplink_id"] = dev.uplink
    if r.kind == "network_node":
        mounting["uplink"] = NODE_BACKHAUL
    if st is not None:
        mounting |= {"station": st.name, "river": st.river}
        if st.gauge_zero_m is not None:
            mounting["gauge_zero_m"] = st.gauge_zero_m
        raw |= {"waspada_cm": st.waspada_cm, "siaga_cm": st.siaga_cm, "awas_cm": st.awas_cm}
    if mounting:
        raw["mounting"] = mounting
    return raw


def fleet_csv(devices: Sequence[SimDevice]) -> str:
    """The fleet as the registry's import reads it (one header, one row per device)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for dev in devices:
        flat = registry_details(dev)
        flat |= flat.pop("mounting", {})
        w.writerow([_cell(flat.get(col)) for col in CSV_COLUMNS])
    return buf.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}" if abs(value) >= 1 and value == int(value) else repr(value)
    return str(value)


def build_fleet(kinds: KindRegistry, per_kind: int, seed: int) -> list[DeviceRow]:
    """``per_kind`` devices of every kind, as device rows (the demo's and older callers' API)."""
    if per_kind < 1:
        raise FleetError(f"--per-kind must be at least 1, got {per_kind}")
    spec = FleetSpec({k: per_kind for k in kinds}, where="")
    return [d.row for d in build_sim_fleet(kinds, spec, seed)]


def as_sim_device(row: DeviceRow, index: int = 1) -> SimDevice:
    """A bare device row as the simulation sees it (a gauge finds its station by position)."""
    station = next(
        (
            s
            for r in RIVERS
            for s in r.stations
            if row.kind == "flood_gauge" and (s.lat, s.lon) == (row.latitude, row.longitude)
        ),
        None,
    )
    return SimDevice(row, index, station=station)
