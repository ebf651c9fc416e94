"""Every name an alert carries, in one place: states, events, priorities, severities, flood
levels and rule names, each with its Bahasa Indonesia and English label (and colour where a
page draws it).

The SQL ``CHECK`` lists in migrations 0006 and 0013 must name the same values; a test compares
them (tests/test_alert_lifecycle.py). Nothing else spells these values as string literals.
"""

from __future__ import annotations

from enum import StrEnum


class AlertState(StrEnum):
    """Where an alert is in its lifecycle (ISA-18.2 / IEC 62682 vocabulary).

    ``ACTIVE`` is stored as ``open``: the name the API and dashboards have used since 0006.
    ``NORMAL`` is never stored: it is the state before a raise (no alert row).
    """

    NORMAL = "normal"
    ACTIVE = "open"
    ACKNOWLEDGED = "acknowledged"
    SHELVED = "shelved"
    RETURNED = "returned"
    """Back from the shelf (time up or unshelved) while its condition still holds."""
    RESOLVED = "resolved"


STORED_STATES: tuple[AlertState, ...] = tuple(s for s in AlertState if s is not AlertState.NORMAL)
STANDING_STATES: tuple[AlertState, ...] = (
    AlertState.ACTIVE,
    AlertState.ACKNOWLEDGED,
    AlertState.SHELVED,
    AlertState.RETURNED,
)
"""States of an alert whose condition still holds (not resolved)."""


class AlertEvent(StrEnum):
    """What can happen to an alert; each one is a row in ``alert_events``.

    Work orders (issue 15) may listen to: raise, escalate, acknowledge, shelve, unshelve,
    clear and resolve (announced on the ``alert`` stream with the alert's id).
    """

    RAISE = "raise"
    ESCALATE = "escalate"
    DEESCALATE = "deescalate"
    UPDATE = "update"
    ACKNOWLEDGE = "acknowledge"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    CLEAR = "clear"
    """The condition went back to normal (by the system)."""
    RESOLVE = "resolve"
    """An operator closed the alert."""


class Priority(StrEnum):
    """How urgently an operator must act, by consequence (ordered, highest first)."""

    URGENT = "urgent"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def order(self) -> int:
        """3 for urgent down to 0 for low: the list sorts on it, highest first."""
        return len(Priority) - 1 - list(Priority).index(self)


class Severity(StrEnum):
    """The legacy colour class of an alert (0006), derived from its priority."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_OF: dict[Priority, Severity] = {
    Priority.URGENT: Severity.CRITICAL,
    Priority.HIGH: Severity.CRITICAL,
    Priority.MEDIUM: Severity.WARNING,
    Priority.LOW: Severity.INFO,
}


class FloodLevel(StrEnum):
    """BNPB's river warning levels, lowest first."""

    NORMAL = "NORMAL"
    WASPADA = "WASPADA"
    SIAGA = "SIAGA"
    AWAS = "AWAS"

    @property
    def rank(self) -> int:
        return list(FloodLevel).index(self)


class Rule(StrEnum):
    FLOOD_LEVEL = "flood_level"
    FLOOD_RISE = "flood_rise"
    NODE_DOWN = "node_down"
    NODE_LATENCY = "node_latency"
    NODE_LOSS = "node_loss"
    DEVICE_OFFLINE = "device_offline"
    STALE_DATA = "stale_data"
    """Many devices' data late at once: one alarm about the cause (ingest, uplink)."""
    FEEDER_OUTAGE = "feeder_outage"
    LAMP_FAILURE = "lamp_failure"
    DAY_BURNER = "day_burner"
    SCHEDULE_NOT_FOLLOWED = "schedule_not_followed"
    """A street light does not follow its dimming schedule (commands/scheduler.py)."""


LABELS: dict[StrEnum, tuple[str, str]] = {
    AlertState.NORMAL: ("normal", "normal"),
    AlertState.ACTIVE: ("aktif", "active"),
    AlertState.ACKNOWLEDGED: ("ditangani", "acknowledged"),
    AlertState.SHELVED: ("ditunda", "shelved"),
    AlertState.RETURNED: ("kembali", "returned"),
    AlertState.RESOLVED: ("selesai", "resolved"),
    Priority.URGENT: ("darurat", "urgent"),
    Priority.HIGH: ("tinggi", "high"),
    Priority.MEDIUM: ("sedang", "medium"),
    Priority.LOW: ("rendah", "low"),
    FloodLevel.NORMAL: ("NORMAL", "normal"),
    FloodLevel.WASPADA: ("WASPADA", "alert"),
    FloodLevel.SIAGA: ("SIAGA", "standby"),
    FloodLevel.AWAS: ("AWAS", "danger"),
    Rule.FLOOD_LEVEL: ("Tinggi muka air", "Water level"),
    Rule.FLOOD_RISE: ("Air naik cepat", "Fast rise"),
    Rule.NODE_DOWN: ("Node jaringan mati", "Network node down"),
    Rule.NODE_LATENCY: ("Latensi node tinggi", "Node latency high"),
    Rule.NODE_LOSS: ("Paket hilang", "Packet loss"),
    Rule.DEVICE_OFFLINE: ("Perangkat tidak melapor", "Device silent"),
    Rule.STALE_DATA: ("Data terlambat", "Data delayed"),
    Rule.FEEDER_OUTAGE: ("Penyulang padam", "Feeder outage"),
    Rule.LAMP_FAILURE: ("Lampu mati", "Lamp failure"),
    Rule.DAY_BURNER: ("Lampu menyala siang", "Day burner"),
    Rule.SCHEDULE_NOT_FOLLOWED: ("Lampu tidak ikut jadwal", "Light off schedule"),
}

COLOURS: dict[StrEnum, str] = {
    Priority.URGENT: "#b71c1c",
    Priority.HIGH: "#e65100",
    Priority.MEDIUM: "#f9a825",
    Priority.LOW: "#607d8b",
    FloodLevel.NORMAL: "#2e7d32",
    FloodLevel.WASPADA: "#f9a825",
    FloodLevel.SIAGA: "#ef6c00",
    FloodLevel.AWAS: "#c62828",
}


def label(member: StrEnum, lang: str = "id") -> str:
    """The member's label in ``lang`` ("id" or "en"); its value where none is declared."""
    pair = LABELS.get(member)
    if pair is None:
        return str(member)
    return pair[0] if lang == "id" else pair[1]


def vocabulary_json() -> dict[str, dict[str, dict[str, str]]]:
    """Labels and colours for pages: {enum: {value: {id, en, colour?}}}."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for enum in (AlertState, Priority, FloodLevel, Rule):
        group: dict[str, dict[str, str]] = {}
        for m in enum:
            entry = {"id": label(m, "id"), "en": label(m, "en")}
            if m in COLOURS:
                entry["colour"] = COLOURS[m]
            group[m.value] = entry
        out[enum.__name__] = group
    return out
