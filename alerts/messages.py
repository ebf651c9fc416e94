"""Alert texts, rendered from a finding's facts: Bahasa Indonesia first, English beside it.

Numbers are formatted, times shown in the configured zone with its name (WIB), never raw
ISO strings. A template names its facts; a missing fact is a programming error (KeyError).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.vocabulary import Rule

ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}

TEMPLATES: dict[tuple[Rule, str], tuple[str, str]] = {
    (Rule.FLOOD_LEVEL, ""): (
        "{name}: {level}, tinggi muka air {value} cm pukul {time} (batas {threshold} cm);"
        " puncak {peak} cm pukul {peak_time}",
        "{name}: {level}, water level {value} cm at {time} (threshold {threshold} cm);"
        " peak {peak} cm at {peak_time}",
    ),
    (Rule.FLOOD_RISE, ""): (
        "{name}: air naik {rate} cm/jam (batas {limit} cm/jam)",
        "{name}: water rising {rate} cm/h (limit {limit} cm/h)",
    ),
    (Rule.FLOOD_RISE, "fast"): (
        "{name}: air naik cepat {rate} cm/jam (batas {limit} cm/jam)",
        "{name}: water rising fast, {rate} cm/h (limit {limit} cm/h)",
    ),
    (Rule.NODE_LATENCY, ""): (
        "Node {name}: latensi rata-rata {avg} ms selama {window} menit (batas {limit} ms)",
        "Node {name}: latency averages {avg} ms over {window} min (limit {limit} ms)",
    ),
    (Rule.NODE_LOSS, ""): (
        "Node {name}: paket hilang di atas {limit} % selama {window} menit (rata-rata {avg} %)",
        "Node {name}: packet loss above {limit} % for {window} min (average {avg} %)",
    ),
    (Rule.DEVICE_OFFLINE, ""): (
        "{name} ({device}) tidak melapor sejak {since}",
        "{name} ({device}) silent since {since}",
    ),
    (Rule.NODE_DOWN, ""): (
        "Node {name} ({device}) mati sejak {since}; {behind_count} perangkat di belakangnya"
        " ikut diam",
        "Node {name} ({device}) down since {since}; {behind_count} device(s) behind it silent too",
    ),
    (Rule.STALE_DATA, "uplink"): (
        "Data {count} perangkat lewat node {cause} terlambat (terbaru dari {newest});"
        " periksa uplink",
        "Data of {count} devices behind node {cause} is late (newest from {newest});"
        " check the uplink",
    ),
    (Rule.STALE_DATA, "ingest"): (
        "Data {count} perangkat terlambat sekaligus (terbaru dari {newest}); periksa ingest"
        " dan antrean",
        "Data of {count} devices late at once (newest from {newest}); check ingest and its backlog",
    ),
    (Rule.FEEDER_OUTAGE, ""): (
        "Penyulang {feeder}: {dark} dari {of} lampu padam malam hari; kemungkinan listrik"
        " padam, bukan lampu rusak",
        "Feeder {feeder}: {dark} of {of} lamps dark at night; likely a supply outage, not"
        " lamp failures",
    ),
    (Rule.LAMP_FAILURE, ""): (
        "Lampu {name} ({device}) tidak menarik daya pada malam hari",
        "Lamp {name} ({device}) draws no power at night",
    ),
    (Rule.DAY_BURNER, ""): (
        "Lampu {name} ({device}) menyala pada siang hari",
        "Lamp {name} ({device}) is on in daylight",
    ),
}


def format_time(t: datetime, tz: str) -> str:
    """``06/12 01:45 WIB``: local day/month and time with the zone's name."""
    local = t.astimezone(ZoneInfo(tz))
    return local.strftime("%d/%m %H:%M ") + ZONE_NAMES.get(tz, local.strftime("%Z"))


def _number(v: float, lang: str) -> str:
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}".rstrip("0").rstrip(".")
    if lang == "id":  # 1.234,5
        return text.replace(",", "_").replace(".", ",").replace("_", ".")
    return text


def _facts(facts: dict[str, Any], lang: str, tz: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in facts.items():
        if isinstance(v, datetime):
            out[k] = format_time(v, tz)
        elif isinstance(v, float | int) and not isinstance(v, bool):
            out[k] = _number(float(v), lang)
        else:
            out[k] = str(v)
    return out


def render(rule: Rule, facts: dict[str, Any], *, tz: str, variant: str = "") -> tuple[str, str]:
    """(Bahasa Indonesia, English) text of an alarm of ``rule`` with these facts."""
    ind, eng = TEMPLATES[(rule, variant)]
    return ind.format(**_facts(facts, "id", tz)), eng.format(**_facts(facts, "en", tz))
