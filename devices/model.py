"""A device as a technician describes it, and the checks that need no database.

:func:`validate_device` takes loose values (CSV strings or JSON values) and returns either
a clean :class:`DeviceInput` or every problem found, each naming its field and what to do.
Facts that need the database (duplicate id, uplink exists) are checked by the registry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from core.kinds import KindRegistry
from devices.lifecycle import INITIAL, Status
from devices.mounting import MOUNTING, THRESHOLD_KINDS, THRESHOLDS, all_mounting_fields
from devices.region import Region

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MountingValue = str | float


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class DeviceInput:
    id: str
    kind: str
    district: str
    name: str = ""
    model_id: str | None = None
    village: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    install_date: date | None = None
    status: str = Status.PLANNED.value
    uplink_id: str | None = None
    mounting: dict[str, MountingValue] = field(default_factory=dict)
    waspada_cm: float | None = None
    siaga_cm: float | None = None
    awas_cm: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


EDITABLE = (
    "name",
    "model_id",
    "district",
    "village",
    "latitude",
    "longitude",
    "install_date",
    "uplink_id",
    "mounting",
    *THRESHOLDS,
)
"""Fields a PATCH may change (id and kind are the label; status has its own action)."""


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _text(v: object) -> str | None:
    return None if _blank(v) else str(v).strip()


class _Collector:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, name: str, reason: str) -> None:
        self.errors.append(FieldError(name, reason))

    def number(self, raw: Mapping[str, object], name: str, hint: str = "") -> float | None:
        v = raw.get(name)
        if _blank(v):
            return None
        if isinstance(v, bool):
            self.add(name, f"must be a number{hint}, got {v!r}")
            return None
        try:
            num = float(str(v).strip().replace(",", ".")) if isinstance(v, str) else float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.add(name, f"must be a number{hint}, got {str(v)[:40]!r}")
            return None
        if not math.isfinite(num):
            self.add(name, "must be a finite number")
            return None
        return num


def validate_device(
    raw: Mapping[str, object], *, region: Region, kinds: KindRegistry, new: bool = True
) -> tuple[DeviceInput | None, list[FieldError]]:
    """Check one device description; returns the clean device or every error found.

    ``new=False`` checks an edited existing device, whose status may be any.
    """
    c = _Collector()
    device_id = _text(raw.get("id")) or ""
    if not device_id:
        c.add("id", "required: the label printed on the device")
    elif not DEVICE_ID.match(device_id):
        c.add(
            "id",
            f"{device_id[:70]!r} is not a valid label: use 1-64 letters, digits, '.', '_' or"
            " '-', starting with a letter or digit",
        )
    kind = (_text(raw.get("kind")) or "").lower()
    if not kind:
        c.add("kind", f"required: one of {', '.join(kinds)}")
    elif kind not in kinds:
        c.add("kind", f"unknown kind {kind!r}; use one of {', '.join(kinds)}")

    district_raw = _text(raw.get("district"))
    district = ""
    if district_raw is None:
        c.add("district", f"required: the kecamatan in {region.name}")
    else:
        found = region.district(district_raw)
        if found is None:
            c.add("district", f"unknown district {district_raw!r}; {region.suggest(district_raw)}")
        else:
            district = found.name

    status = (_text(raw.get("status")) or Status.PLANNED.value).lower()
    if status not in {s.value for s in (INITIAL if new else Status)}:
        c.add(
            "status",
            f"a new device starts as one of {', '.join(sorted(s.value for s in INITIAL))},"
            f" not {status!r}",
        )

    lat = c.number(raw, "latitude", " in decimal degrees (e.g. -3.655)")
    lon = c.number(raw, "longitude", " in decimal degrees (e.g. 103.775)")
    if (lat is None) != (lon is None) and not any(
        e.field in ("latitude", "longitude") for e in c.errors
    ):
        missing = "latitude" if lat is None else "longitude"
        c.add(missing, "give both latitude and longitude, or neither")
    elif lat is not None and lon is not None and not region.bbox.contains(lat, lon):
        hint = ""
        if region.bbox.contains(lon, lat):
            hint = "; latitude and longitude look swapped"
        elif region.bbox.contains(-lat, lon):
            hint = "; the latitude sign looks wrong (south of the equator is negative)"
        c.add(
            "latitude",
            f"({lat}, {lon}) is outside {region.name} ({region.bbox.describe()}){hint};"
            " check the GPS fix",
        )
    elif (
        lat is None
        and status != Status.PLANNED.value
        and "status" not in {e.field for e in c.errors}
    ):
        c.add("latitude", f"an {status} device needs its location: latitude and longitude")

    install: date | None = None
    raw_date = raw.get("install_date")
    if isinstance(raw_date, date):
        install = raw_date
    elif not _blank(raw_date):
        try:
            install = date.fromisoformat(str(raw_date).strip())
        except ValueError:
            c.add("install_date", f"{str(raw_date)[:30]!r} is not a date; write YYYY-MM-DD")
    if install is not None and install > (datetime.now(UTC) + timedelta(days=1)).date():
        c.add("install_date", f"{install} is in the future; use the day it was installed")

    uplink = _text(raw.get("uplink_id"))
    if uplink is not None and not DEVICE_ID.match(uplink):
        c.add("uplink_id", f"{uplink[:70]!r} is not a valid device id")
    elif uplink is not None and uplink == device_id:
        c.add("uplink_id", "a device cannot report through itself")

    mounting: dict[str, MountingValue] = {}
    own = {f.name: f for f in MOUNTING.get(kind, ())}
    nested = raw.get("mounting")
    source: Mapping[str, object] = dict(raw)
    if isinstance(nested, Mapping):
        source = {**raw, **nested}
        for name in nested:
            if name not in own:
                c.add(
                    f"mounting.{name}",
                    f"not a detail of {kind or 'this kind'}; known: {', '.join(own) or 'none'}",
                )
    for f in all_mounting_fields():
        v = source.get(f.name)
        if _blank(v):
            continue
        if f.name not in own:
            if isinstance(nested, Mapping):
                continue
            c.add(f.name, f"{kind or 'this kind'} has no {f.label.lower()}; leave it empty")
            continue
        if f.numeric:
            num = c.number(source, f.name)
            if num is None:
                continue
            if f.valid and not f.valid[0] <= num <= f.valid[1]:
                c.add(f.name, f"{num} is outside {f.valid[0]}..{f.valid[1]}")
                continue
            mounting[f.name] = num
        else:
            text = str(v).strip()
            if f.choices:
                match = [ch for ch in f.choices if ch.casefold() == text.casefold()]
                if not match:
                    c.add(f.name, f"{text!r} is not one of {', '.join(f.choices)}")
                    continue
                text = match[0]
            if f.pattern and not re.match(f.pattern, text):
                c.add(f.name, f"{text[:70]!r} is not a {f.label}")
                continue
            mounting[f.name] = text[:200]

    levels = [c.number(raw, t, " of cm above gauge zero") for t in THRESHOLDS]
    given = [x for x in levels if x is not None]
    if given and kind and kind not in THRESHOLD_KINDS:
        c.add("waspada_cm", f"only flood gauges carry flood thresholds, not {kind}")
    elif given and len(given) != len(THRESHOLDS):
        c.add("waspada_cm", "give all three thresholds (waspada_cm, siaga_cm, awas_cm) or none")
    elif given and not (given[0] < given[1] < given[2]):
        c.add("siaga_cm", "thresholds must rise: waspada_cm < siaga_cm < awas_cm")

    name = (_text(raw.get("name")) or "")[:200]
    if c.errors:
        return None, c.errors
    return (
        DeviceInput(
            id=device_id,
            kind=kind,
            district=district,
            name=name,
            model_id=_text(raw.get("model_id")),
            village=_text(raw.get("village")),
            latitude=lat,
            longitude=lon,
            install_date=install,
            status=status,
            uplink_id=uplink,
            mounting=mounting,
            waspada_cm=levels[0],
            siaga_cm=levels[1],
            awas_cm=levels[2],
        ),
        [],
    )
