"""Device kinds, declared once.

Each :class:`DeviceKind` lists its telemetry fields with unit, SQL-friendly type, the
*valid* range (outside it a reading is rejected) and the *typical* range (what a healthy
device reports; simulators draw from it). Ingest validation, storage columns, API models
and simulators are all derived from these declarations.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""What an INT field's ``bigint`` column holds."""


class FieldType(StrEnum):
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    ENUM = "enum"


@dataclass(frozen=True, slots=True)
class TelemetryField:
    name: str
    type: FieldType
    unit: str | None = None
    description: str = ""
    valid: tuple[float, float] | None = None
    typical: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()

    @property
    def bounds(self) -> tuple[float, float]:
        """What a value may be: the valid range, within what the column stores (a
        ``bigint``: 64-bit whole numbers, given as ints; a ``double precision``: finite
        numbers)."""
        if self.type is FieldType.INT:
            lo, hi = self.valid if self.valid is not None else (INT64_MIN, INT64_MAX)
            return (
                INT64_MIN if lo <= INT64_MIN else math.ceil(lo),
                INT64_MAX if hi >= INT64_MAX else math.floor(hi),
            )
        big = sys.float_info.max
        return self.valid if self.valid is not None else (-big, big)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name in {"ts", "time", "device_id", "received_at"}:
            raise ValueError(f"invalid telemetry field name {self.name!r}")
        if self.type is FieldType.ENUM and not self.choices:
            raise ValueError(f"enum field {self.name!r} needs choices")
        if self.valid is not None and self.valid[0] > self.valid[1]:
            raise ValueError(f"field {self.name!r}: valid range is reversed")


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command a kind's devices accept; its arguments are declared like telemetry fields.

    The platform validates arguments against these declarations before anything is sent
    (:func:`commands.validation.validate_args`), and the wire contract's JSON Schema lists
    them, so the firmware team and the API read the same definition.
    """

    name: str
    label: str
    description: str = ""
    args: tuple[TelemetryField, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"invalid command name {self.name!r}")
        names = [a.name for a in self.args]
        if len(set(names)) != len(names):
            raise ValueError(f"command {self.name!r} declares an argument twice")

    def arg(self, name: str) -> TelemetryField | None:
        for a in self.args:
            if a.name == name:
                return a
        return None


@dataclass(frozen=True, slots=True)
class DeviceKind:
    name: str
    label: str
    fields: tuple[TelemetryField, ...]
    interval_s: int = field(default=300)
    """Expected reporting interval of a healthy device, in seconds."""
    judged_per_reading: tuple[str, ...] = ()
    """Numeric fields an alert rule judges reading by reading (the flood level: deadband and
    dwell in reading time): a device's backlog of such a kind is announced with a span that
    the alert evaluator reads back from the table, every reading of it (see
    :func:`core.storage.events.live_readings`); the fields listed are what it reads."""
    commands: tuple[CommandSpec, ...] = ()
    """Commands its devices accept on ``<root>/<kind>/<id>/commands``."""
    label_id: str = ""
    """The name a technician reads (Bahasa Indonesia); falls back to ``label``."""
    id_prefixes: tuple[str, ...] = ()
    """Upper-case label prefixes that mark this kind (``AWLR`` in ``AWLR-ENIM-01``): the
    registry infers the kind from them, so the technician does not pick it."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"invalid kind name {self.name!r}")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"kind {self.name!r} declares a field twice")
        if not self.fields:
            raise ValueError(f"kind {self.name!r} has no fields")
        if set(self.judged_per_reading) - set(names):
            raise ValueError(f"kind {self.name!r} judges a field it does not declare")
        commands = [c.name for c in self.commands]
        if len(set(commands)) != len(commands):
            raise ValueError(f"kind {self.name!r} declares a command twice")
        if any(p != p.upper() or not p for p in self.id_prefixes):
            raise ValueError(f"kind {self.name!r}: id prefixes are non-empty upper case")

    @property
    def table(self) -> str:
        """Name of this kind's readings table."""
        return f"readings_{self.name}"

    def field(self, name: str) -> TelemetryField | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def command(self, name: str) -> CommandSpec | None:
        for c in self.commands:
            if c.name == name:
                return c
        return None


class KindRegistry(Mapping[str, DeviceKind]):
    """The set of kinds one process knows; passed in, never global."""

    def __init__(self, kinds: Iterable[DeviceKind]) -> None:
        self._kinds: dict[str, DeviceKind] = {}
        for k in kinds:
            if k.name in self._kinds:
                raise ValueError(f"kind {k.name!r} declared twice")
            self._kinds[k.name] = k

    def __getitem__(self, name: str) -> DeviceKind:
        return self._kinds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def kind_for_id(self, device_id: str) -> str | None:
        """The kind whose id prefix starts any ``-``/``_``/``.``-separated part of the id
        (``AWLR-01``, ``SIM-PJU-0001``); None when no part or more than one kind matches."""
        parts = re.split(r"[-_.]", device_id.upper())
        found = {k.name for k in self._kinds.values() for p in parts if p in k.id_prefixes}
        return found.pop() if len(found) == 1 else None

    def with_kind(self, kind: DeviceKind) -> KindRegistry:
        return KindRegistry([*self._kinds.values(), kind])


F, INT, B, E = FieldType.FLOAT, FieldType.INT, FieldType.BOOL, FieldType.ENUM

FLOOD_GAUGE = DeviceKind(
    name="flood_gauge",
    label="Flood gauge (AWLR)",
    label_id="Pos duga air banjir (AWLR)",
    id_prefixes=("AWLR", "TMA"),
    interval_s=300,
    judged_per_reading=("water_level",),  # the flood level's dwell (alerts/levels.py)
    fields=(
        TelemetryField(
            "water_level",
            F,
            "cm",
            "Water height above gauge zero (TMA)",
            valid=(-500, 3000),
            typical=(50, 400),
        ),
        TelemetryField(
            "rain", F, "mm", "Rain in the reporting interval", valid=(0, 500), typical=(0, 5)
        ),
        TelemetryField(
            "battery_v",
            F,
            "V",
            "Battery voltage (12 V system)",
            valid=(0, 30),
            typical=(12.2, 13.8),
        ),
        TelemetryField(
            "rssi", INT, "dBm", "Cellular signal strength", valid=(-150, 0), typical=(-100, -60)
        ),
        TelemetryField("power_source", E, None, "Power source", choices=("PLN", "PLTS")),
    ),
    commands=(
        CommandSpec(
            "set_interval",
            "Atur interval lapor / Set reporting interval",
            "Seconds between routine readings (alarms still report at once).",
            args=(TelemetryField("interval_s", INT, "s", "Reporting interval", valid=(60, 86400)),),
        ),
    ),
)

STREETLIGHT = DeviceKind(
    name="streetlight",
    label="Street light (PJU)",
    label_id="Lampu jalan (PJU)",
    id_prefixes=("PJU", "LPJU"),
    interval_s=900,
    fields=(
        TelemetryField("power_state", E, None, "Lamp state", choices=("on", "off", "low")),
        TelemetryField("dim_pct", F, "%", "Dimming level", valid=(0, 100), typical=(50, 100)),
        TelemetryField(
            "active_power", F, "W", "Active power draw", valid=(0, 1000), typical=(40, 120)
        ),
        TelemetryField(
            "energy",
            F,
            "kWh",
            "Cumulative energy counter",
            valid=(0, 10_000_000),
            typical=(0, 5000),
        ),
        TelemetryField("voltage", F, "V", "Supply voltage", valid=(0, 400), typical=(210, 235)),
        TelemetryField("current", F, "A", "Supply current", valid=(0, 20), typical=(0.2, 0.6)),
        TelemetryField("power_factor", F, None, "Power factor", valid=(0, 1), typical=(0.9, 0.99)),
        TelemetryField("lamp_failure", B, None, "Lamp failure flag"),
        TelemetryField("relay_failure", B, None, "Relay failure flag"),
        TelemetryField("day_burner", B, None, "Lamp on in daylight"),
        TelemetryField(
            "burning_hours",
            F,
            "h",
            "Cumulative burning hours",
            valid=(0, 500_000),
            typical=(0, 20_000),
        ),
        TelemetryField(
            "driver_temp", F, "°C", "LED driver temperature", valid=(-40, 150), typical=(30, 60)
        ),
    ),
    commands=(
        CommandSpec(
            "switch",
            "Nyalakan/matikan / Switch",
            "on or off overrides the controller's own schedule; auto hands control back.",
            args=(TelemetryField("mode", E, None, "Relay mode", choices=("on", "off", "auto")),),
        ),
        CommandSpec(
            "dim",
            "Atur redup / Set dim level",
            "Dimming level while the lamp is lit (0 % is the driver's minimum, not off).",
            args=(TelemetryField("level", F, "%", "Dim level", valid=(0, 100)),),
        ),
    ),
)

NETWORK_NODE = DeviceKind(
    name="network_node",
    label="Village network node",
    label_id="Node jaringan desa",
    id_prefixes=("NODE", "GW"),
    interval_s=60,
    fields=(
        TelemetryField(
            "uptime",
            INT,
            "s",
            "Seconds since boot",
            valid=(0, 10_000_000_000),
            typical=(0, 2_000_000),
        ),
        TelemetryField(
            "latency", F, "ms", "Round-trip latency", valid=(0, 60_000), typical=(20, 80)
        ),
        TelemetryField("packet_loss", F, "%", "Packet loss", valid=(0, 100), typical=(0, 1)),
        TelemetryField(
            "rx_bps",
            F,
            "bit/s",
            "Received throughput",
            valid=(0, 10_000_000_000),
            typical=(100_000, 5_000_000),
        ),
        TelemetryField(
            "tx_bps",
            F,
            "bit/s",
            "Transmitted throughput",
            valid=(0, 10_000_000_000),
            typical=(50_000, 2_000_000),
        ),
        TelemetryField(
            "clients", INT, None, "Connected clients", valid=(0, 100_000), typical=(0, 60)
        ),
        TelemetryField(
            "rsrp",
            F,
            "dBm",
            "LTE reference signal received power",
            valid=(-160, -30),
            typical=(-100, -80),
        ),
        TelemetryField(
            "rsrq",
            F,
            "dB",
            "LTE reference signal received quality",
            valid=(-45, 20),
            typical=(-15, -5),
        ),
        TelemetryField(
            "sinr", F, "dB", "Signal to interference and noise", valid=(-30, 50), typical=(0, 20)
        ),
        TelemetryField(
            "board_voltage", F, "V", "Board supply voltage", valid=(0, 60), typical=(11.5, 13.5)
        ),
        TelemetryField(
            "temperature", F, "°C", "Enclosure temperature", valid=(-40, 120), typical=(28, 45)
        ),
        TelemetryField(
            "power_source", E, None, "Power source", choices=("PLN", "solar", "battery")
        ),
    ),
    commands=(CommandSpec("reboot", "Mulai ulang / Reboot", "Restart the node's router."),),
)

BUILTIN_KINDS: tuple[DeviceKind, ...] = (STREETLIGHT, FLOOD_GAUGE, NETWORK_NODE)


def builtin_kinds() -> KindRegistry:
    return KindRegistry(BUILTIN_KINDS)


T = TypeVar("T")
_PER_KIND_KEPT = 1000
"""Kinds a :func:`per_kind` cache holds before it starts again (tests build kinds on the fly)."""


def per_kind(build: Callable[[DeviceKind], T]) -> Callable[[DeviceKind], T]:
    """``build`` once per kind, cached by ``id(kind)``: a lookup per message costs a dict
    probe, where hashing a kind would walk all its fields. The kind is kept alive beside
    what was built from it, so its id cannot be reused while cached."""
    cache: dict[int, tuple[DeviceKind, T]] = {}

    def cached(kind: DeviceKind) -> T:
        hit = cache.get(id(kind))
        if hit is not None and hit[0] is kind:
            return hit[1]
        if len(cache) >= _PER_KIND_KEPT:
            cache.clear()
        made = build(kind)
        cache[id(kind)] = (kind, made)
        return made

    return cached
