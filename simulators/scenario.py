"""Scenarios: small declarative TOML files of a fleet and the events that befall it.

Bundled ones live in ``simulators/scenarios/``; any other path works too. Every problem
is reported as a :class:`ScenarioError` naming the file and the field (``rain[0].hours``).
Event times are offsets from the scenario's start (``at = "3h"``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from simulators.fleet import SimDevice
from simulators.geography import DISTRICT_BY_NAME, RIVER_BY_NAME
from simulators.world import (
    BadFirmware,
    Conditions,
    GridOutage,
    NodeOutage,
    RainEvent,
    Window,
    background,
    merge,
)

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?$")


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the file and the field."""


def parse_duration(raw: object, where: str) -> timedelta:
    """``"6h"``, ``"90m"``, ``"1h30m"``, ``"2d"``; a bare number is hours."""
    if isinstance(raw, bool):
        raise ScenarioError(f"{where}: expected a duration like '6h' or '90m', got {raw!r}")
    if isinstance(raw, int | float):
        if raw < 0:
            raise ScenarioError(f"{where}: must not be negative, got {raw!r}")
        return timedelta(hours=raw)
    m = _DURATION.match(raw.strip()) if isinstance(raw, str) and raw.strip() else None
    if m is None:
        raise ScenarioError(f"{where}: expected a duration like '6h' or '90m', got {raw!r}")
    d, h, mins = (float(x) if x else 0.0 for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mins)


@dataclass(frozen=True, slots=True)
class Rain:
    river: str
    at: timedelta
    hours: float
    mm_per_hour: float


@dataclass(frozen=True, slots=True)
class GridCut:
    district: str
    at: timedelta
    hours: float
    feeder: int | None = None
    """Only this feeder (cabinet) of the district, numbered from 1; else all of them."""


@dataclass(frozen=True, slots=True)
class NodeDown:
    district: str
    at: timedelta
    hours: float
    cause: str


@dataclass(frozen=True, slots=True)
class Firmware:
    kind: str
    device: int
    every: int
    at: timedelta
    hours: float | None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    duration: timedelta
    start_local: time | None = None
    glitches: bool = True
    background: bool = True
    counts: Mapping[str, int] = field(default_factory=dict)
    districts: tuple[str, ...] = ()
    rivers: tuple[str, ...] = ()
    rain: tuple[Rain, ...] = ()
    grid: tuple[GridCut, ...] = ()
    nodes: tuple[NodeDown, ...] = ()
    firmware: tuple[Firmware, ...] = ()
    source: str = ""
    """The file it came from, for error messages."""

    def conditions(self, fleet: Sequence[SimDevice], start: datetime) -> Conditions:
        """The events at absolute times for ``fleet``; fails if they refer to absent devices."""
        out = Conditions(glitches=self.glitches)
        label = f"scenario {self.source or self.name}"
        for r in self.rain:
            out.rain.append(RainEvent(r.river, start + r.at, r.hours, r.mm_per_hour))
        for i, g in enumerate(self.grid):
            if not any(d.kind == "streetlight" and d.row.district == g.district for d in fleet):
                raise ScenarioError(
                    f"{label}: grid_outage[{i}].district: the fleet has no street"
                    f" lights in {g.district!r}; add it to fleet.districts or raise"
                    " fleet.streetlight"
                )
            w = Window(start + g.at, start + g.at + timedelta(hours=g.hours))
            if g.feeder is None:
                out.grid.append(GridOutage(w, district=g.district))
                continue
            feeders = sorted(
                {
                    d.feeder
                    for d in fleet
                    if d.kind == "streetlight" and d.row.district == g.district and d.feeder
                }
            )
            if g.feeder > len(feeders):
                raise ScenarioError(
                    f"{label}: grid_outage[{i}].feeder: {g.district} has {len(feeders)}"
                    f" feeder(s) in this fleet, not {g.feeder}"
                )
            out.grid.append(GridOutage(w, feeder=feeders[g.feeder - 1]))
        for i, n in enumerate(self.nodes):
            node = next(
                (d for d in fleet if d.kind == "network_node" and d.row.district == n.district),
                None,
            )
            if node is None:
                raise ScenarioError(
                    f"{label}: node_outage[{i}].district: the fleet has no network"
                    f" node in {n.district!r}"
                )
            w = Window(start + n.at, start + n.at + timedelta(hours=n.hours))
            cause: Literal["power_cut", "backhaul"] = (
                "power_cut" if n.cause == "power_cut" else "backhaul"
            )
            out.nodes.append(NodeOutage(node.id, w, cause))
        for i, f in enumerate(self.firmware):
            dev = next((d for d in fleet if d.kind == f.kind and d.index == f.device), None)
            if dev is None:
                raise ScenarioError(
                    f"{label}: bad_firmware[{i}].device: the fleet has no"
                    f" {f.kind} number {f.device}"
                )
            until = self.duration if f.hours is None else f.at + timedelta(hours=f.hours)
            out.firmware.append(BadFirmware(dev.id, Window(start + f.at, start + until), f.every))
        return out


def conditions_for(
    scenario: Scenario | None,
    fleet: Sequence[SimDevice],
    start: datetime,
    end: datetime,
    seed: int,
) -> Conditions:
    """The scenario's events plus (unless it opts out) the everyday background incidents."""
    own = scenario.conditions(fleet, start) if scenario else Conditions()
    if scenario is not None and not scenario.background:
        return own
    horizon = min(end, start + timedelta(days=30))
    return merge(own, background(fleet, start, horizon, seed))


# -- loading ----------------------------------------------------------------------------


class _Table:
    """One TOML table being read: typed getters that name the field on error."""

    def __init__(self, doc: Mapping[str, Any], where: str, known: Sequence[str]) -> None:
        self.doc = doc
        self.where = where
        unknown = sorted(set(doc) - set(known))
        if unknown:
            raise ScenarioError(
                f"{self._at(unknown[0])}: unknown field; known fields: {', '.join(known)}"
            )

    def _at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def number(self, key: str, *, default: float | None = None, minimum: float = 0.0) -> float:
        raw = self.doc.get(key, default)
        if raw is None:
            raise ScenarioError(f"{self._at(key)}: required")
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= minimum:
            raise ScenarioError(f"{self._at(key)}: must be a number > {minimum:g}, got {raw!r}")
        return float(raw)

    def count(self, key: str, default: int | None = None, minimum: int = 0) -> int:
        raw = self.doc.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
            raise ScenarioError(
                f"{self._at(key)}: must be a whole number >= {minimum}, got {raw!r}"
            )
        return raw

    def text(self, key: str, *, choices: Sequence[str] = (), default: str | None = None) -> str:
        raw = self.doc.get(key, default)
        if not isinstance(raw, str) or not raw:
            raise ScenarioError(f"{self._at(key)}: must be a non-empty string, got {raw!r}")
        if choices and raw not in choices:
            raise ScenarioError(
                f"{self._at(key)}: must be one of {', '.join(choices)}; got {raw!r}"
            )
        return raw

    def duration(self, key: str, default: str | None = None) -> timedelta:
        raw = self.doc.get(key, default)
        if raw is None:
            raise ScenarioError(f"{self._at(key)}: required (a duration like '6h')")
        return parse_duration(raw, self._at(key))

    def flag(self, key: str, default: bool) -> bool:
        raw = self.doc.get(key, default)
        if not isinstance(raw, bool):
            raise ScenarioError(f"{self._at(key)}: must be true or false, got {raw!r}")
        return raw

    def names(self, key: str, known: Mapping[str, object]) -> tuple[str, ...]:
        raw = self.doc.get(key, [])
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise ScenarioError(f"{self._at(key)}: must be a list of names, got {raw!r}")
        for x in raw:
            if x not in known:
                raise ScenarioError(
                    f"{self._at(key)}: unknown name {x!r}; known: {', '.join(known)}"
                )
        return tuple(raw)

    def tables(self, key: str) -> list[Mapping[str, Any]]:
        raw = self.doc.get(key, [])
        if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
            raise ScenarioError(f"{self._at(key)}: must be an array of tables ([[{key}]])")
        return raw


def parse_scenario(doc: Mapping[str, Any], name: str, kinds: Sequence[str]) -> Scenario:
    known = [
        "name",
        "description",
        "duration",
        "start_local",
        "glitches",
        "background",
        "fleet",
        "rain",
        "grid_outage",
        "node_outage",
        "bad_firmware",
    ]
    top = _Table(doc, "", known)
    name = top.text("name", default=name)
    duration = top.duration("duration")
    if duration <= timedelta(0):
        raise ScenarioError("duration: must be longer than zero")
    start_local = None
    if "start_local" in doc:
        raw = doc["start_local"]
        try:
            start_local = time.fromisoformat(raw) if isinstance(raw, str) else raw
        except ValueError:
            start_local = None
        if not isinstance(start_local, time):
            raise ScenarioError(
                f"start_local: expected a WIB time of day like '21:00', got {raw!r}"
            )

    fleet_doc = doc.get("fleet", {})
    if not isinstance(fleet_doc, dict):
        raise ScenarioError("fleet: must be a table ([fleet])")
    fleet = _Table(fleet_doc, "fleet", [*kinds, "districts", "rivers"])
    counts = {k: fleet.count(k) for k in kinds if k in fleet_doc}

    def within(where: str, at: timedelta) -> timedelta:
        if at >= duration:
            raise ScenarioError(f"{where}: starts at {at}, after the scenario ends ({duration})")
        return at

    rain = []
    for i, t in enumerate(top.tables("rain")):
        r = _Table(t, f"rain[{i}]", ["river", "at", "hours", "mm_per_hour"])
        rain.append(
            Rain(
                r.text("river", choices=list(RIVER_BY_NAME)),
                within(f"rain[{i}].at", r.duration("at")),
                r.number("hours"),
                r.number("mm_per_hour"),
            )
        )
    grid = []
    for i, t in enumerate(top.tables("grid_outage")):
        g = _Table(t, f"grid_outage[{i}]", ["district", "feeder", "at", "hours"])
        grid.append(
            GridCut(
                g.text("district", choices=list(DISTRICT_BY_NAME)),
                within(f"grid_outage[{i}].at", g.duration("at")),
                g.number("hours"),
                g.count("feeder", minimum=1) if "feeder" in t else None,
            )
        )
    nodes = []
    for i, t in enumerate(top.tables("node_outage")):
        n = _Table(t, f"node_outage[{i}]", ["district", "at", "hours", "cause"])
        nodes.append(
            NodeDown(
                n.text("district", choices=list(DISTRICT_BY_NAME)),
                within(f"node_outage[{i}].at", n.duration("at")),
                n.number("hours"),
                n.text("cause", choices=("power_cut", "backhaul"), default="power_cut"),
            )
        )
    firmware = []
    for i, t in enumerate(top.tables("bad_firmware")):
        f = _Table(t, f"bad_firmware[{i}]", ["kind", "device", "every", "at", "hours"])
        firmware.append(
            Firmware(
                f.text("kind", choices=kinds),
                f.count("device", minimum=1),
                f.count("every", default=3, minimum=1),
                within(f"bad_firmware[{i}].at", f.duration("at", default="0h")),
                f.number("hours") if "hours" in t else None,
            )
        )
    return Scenario(
        name=name,
        description=top.text("description", default=name),
        duration=duration,
        start_local=start_local,
        glitches=top.flag("glitches", True),
        background=top.flag("background", True),
        counts=counts,
        districts=fleet.names("districts", DISTRICT_BY_NAME),
        rivers=fleet.names("rivers", RIVER_BY_NAME),
        rain=tuple(rain),
        grid=tuple(grid),
        nodes=tuple(nodes),
        firmware=tuple(firmware),
    )


def bundled() -> dict[str, str]:
    """Bundled scenarios: name -> description."""
    out = {}
    for entry in sorted(resources.files("simulators.scenarios").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            doc = tomllib.loads(entry.read_text(encoding="utf-8"))
            out[entry.name.removesuffix(".toml")] = str(doc.get("description", ""))
    return out


def load_scenario(name_or_path: str, kinds: Sequence[str]) -> Scenario:
    """A bundled scenario by name, or a scenario file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        label = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(
                f"scenario {name_or_path}: cannot read it: {exc.strerror}"
            ) from None
        stem = path.stem
    else:
        entry = resources.files("simulators.scenarios").joinpath(f"{name_or_path}.toml")
        if not entry.is_file():
            names = ", ".join(bundled())
            raise ScenarioError(
                f"no scenario named {name_or_path!r}; bundled: {names} (or give a .toml path)"
            )
        label = f"{name_or_path}.toml"
        text = entry.read_text(encoding="utf-8")
        stem = name_or_path
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {label}: not valid TOML: {exc}") from None
    try:
        scenario = parse_scenario(doc, stem, kinds)
    except ScenarioError as exc:
        raise ScenarioError(f"scenario {label}: {exc}") from None
    return replace(scenario, source=label)
