"""A device as a technician describes it, and the checks that need no database.

:func:`validate_device` takes loose values (CSV strings or JSON values) and returns either
a clean :class:`DeviceInput` or every problem found, each naming its field and what to do.
Facts that need the database (duplicate id, uplink exists) are checked by the registry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from core.kinds import KindRegistry
from devices.lifecycle import INITIAL, Status
from devices.mounting import MOUNTING, THRESHOLD_KINDS, THRESHOLDS, all_mounting_fields
from devices.region import Region

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MountingValue = str | float

GAUGE_ACTIVE_NEEDS = ("station", "river", "gauge_zero_m")
"""Mounting details a flood gauge must carry before it may be active (with its thresholds):
without them the alerts would judge its water level against defaults."""


_GAUGE_NEED_NAMES = {
    "station": ("station name", "nama pos"),
    "river": ("river", "sungai"),
    "gauge_zero_m": ("gauge zero (m above sea level)", "nol papan duga (m dpl)"),
}


def normalise_id(raw: str) -> str:
    """Device ids are compared and stored in upper case: ``pju-lk-1`` is ``PJU-LK-1``."""
    return raw.strip().upper()


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field: ``reason`` in English, ``reason_id`` in Bahasa Indonesia."""

    field: str
    reason: str
    reason_id: str = ""

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "pesan": self.reason_id or self.reason, "message": self.reason}


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

    def add(self, name: str, reason: str, reason_id: str) -> None:
        self.errors.append(FieldError(name, reason, reason_id))

    def number(self, raw: Mapping[str, object], name: str, hint: str = "") -> float | None:
        v = raw.get(name)
        if _blank(v):
            return None
        if isinstance(v, bool):
            self.add(name, f"must be a number{hint}, got {v!r}", f"harus berupa angka, bukan {v!r}")
            return None
        try:
            num = float(str(v).strip().replace(",", ".")) if isinstance(v, str) else float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            shown = str(v)[:40]
            self.add(
                name,
                f"must be a number{hint}, got {shown!r}",
                f"harus berupa angka, bukan {shown!r}",
            )
            return None
        if not math.isfinite(num):
            self.add(name, "must be a finite number", "harus berupa angka biasa")
            return None
        return num


def check_id(raw: object) -> tuple[str, list[FieldError]]:
    """The normalised id and its format problems (none when it is a valid label)."""
    device_id = normalise_id(_text(raw) or "")
    if not device_id:
        return "", [
            FieldError(
                "id",
                "required: the label printed on the device",
                "wajib diisi: label yang tercetak di perangkat",
            )
        ]
    if not DEVICE_ID.match(device_id):
        shown = device_id[:70]
        return device_id, [
            FieldError(
                "id",
                f"{shown!r} is not a valid label: use 1-64 letters, digits, '.', '_' or '-',"
                " starting with a letter or digit",
                f"{shown!r} bukan label yang sah: pakai 1-64 huruf, angka, '.', '_' atau '-',"
                " diawali huruf atau angka",
            )
        ]
    return device_id, []


def validate_device(
    raw: Mapping[str, object], *, region: Region, kinds: KindRegistry, new: bool = True
) -> tuple[DeviceInput | None, list[FieldError]]:
    """Check one device description; returns the clean device or every error found.

    The id comes first in the list (it is checked before the rest), upper-cased; a missing
    kind is inferred from the id's prefix. ``new=False`` checks an edited existing device,
    whose status may be any.
    """
    c = _Collector()
    device_id, id_errors = check_id(raw.get("id"))
    c.errors.extend(id_errors)
    kind = (_text(raw.get("kind")) or kinds.kind_for_id(device_id) or "").lower()
    names = ", ".join(kinds)
    if not kind:
        c.add("kind", f"required: one of {names}", f"wajib diisi: salah satu dari {names}")
    elif kind not in kinds:
        c.add(
            "kind",
            f"unknown kind {kind!r}; use one of {names}",
            f"jenis {kind!r} tidak dikenal; pakai salah satu dari {names}",
        )

    district_raw = _text(raw.get("district"))
    district = ""
    if district_raw is None:
        c.add(
            "district",
            f"required: the kecamatan in {region.name}",
            f"wajib diisi: kecamatan di {region.name}",
        )
    else:
        found = region.district(district_raw)
        if found is None:
            c.add(
                "district",
                f"unknown district {district_raw!r}; {region.suggest(district_raw)}",
                f"kecamatan {district_raw!r} tidak dikenal; pilih dari daftar",
            )
        else:
            district = found.name

    status = (_text(raw.get("status")) or Status.PLANNED.value).lower()
    if status not in {s.value for s in (INITIAL if new else Status)}:
        allowed = ", ".join(sorted(s.value for s in INITIAL))
        c.add(
            "status",
            f"a new device starts as one of {allowed}, not {status!r}",
            f"perangkat baru dimulai sebagai salah satu dari {allowed}, bukan {status!r}",
        )

    lat, lon = _location(c, raw, region, status)
    install = _install_date(c, raw.get("install_date"))

    uplink = _text(raw.get("uplink_id"))
    uplink = normalise_id(uplink) if uplink is not None else None
    if uplink is not None and not DEVICE_ID.match(uplink):
        c.add(
            "uplink_id",
            f"{uplink[:70]!r} is not a valid device id",
            f"{uplink[:70]!r} bukan id perangkat yang sah",
        )
    elif uplink is not None and uplink == device_id:
        c.add(
            "uplink_id",
            "a device cannot report through itself",
            "perangkat tidak bisa melapor lewat dirinya sendiri",
        )

    mounting = _mounting(c, raw, kind)
    levels = _thresholds(c, raw, kind)
    if kind in THRESHOLD_KINDS and status == Status.ACTIVE.value:
        _gauge_ready(c, mounting, levels)

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


def gauge_ready_errors(
    mounting: Mapping[str, object], levels: Sequence[float | None]
) -> list[FieldError]:
    """What a flood gauge lacks before it may be active (empty when it lacks nothing)."""
    c = _Collector()
    _gauge_ready(c, mounting, levels)
    return c.errors


def _gauge_ready(
    c: _Collector, mounting: Mapping[str, object], levels: Sequence[float | None]
) -> None:
    already = {e.field for e in c.errors}
    for name in GAUGE_ACTIVE_NEEDS:
        if _blank(mounting.get(name)) and name not in already:
            en, id_ = _GAUGE_NEED_NAMES[name]
            c.add(
                name,
                f"an active flood gauge needs its {en}; fill it in or register it as installed",
                f"pos duga air yang aktif wajib punya {id_}; isi atau daftarkan sebagai terpasang",
            )
    if any(x is None for x in levels) and not any(e.field in THRESHOLDS for e in c.errors):
        c.add(
            "waspada_cm",
            "an active flood gauge needs all three thresholds (waspada_cm < siaga_cm < awas_cm);"
            " without them its alerts would use defaults",
            "pos duga air yang aktif wajib punya tiga ambang (WASPADA < SIAGA < AWAS);"
            " tanpa itu peringatannya memakai nilai bawaan",
        )


def _location(
    c: _Collector, raw: Mapping[str, object], region: Region, status: str
) -> tuple[float | None, float | None]:
    lat = c.number(raw, "latitude", " in decimal degrees (e.g. -3.655)")
    lon = c.number(raw, "longitude", " in decimal degrees (e.g. 103.775)")
    if (lat is None) != (lon is None) and not any(
        e.field in ("latitude", "longitude") for e in c.errors
    ):
        missing = "latitude" if lat is None else "longitude"
        c.add(
            missing,
            "give both latitude and longitude, or neither",
            "isi lintang dan bujur sekaligus, atau kosongkan keduanya",
        )
    elif lat is not None and lon is not None and not region.bbox.contains(lat, lon):
        hint, hint_id = "", ""
        if region.bbox.contains(lon, lat):
            hint, hint_id = "; latitude and longitude look swapped", "; lintang dan bujur tertukar"
        elif region.bbox.contains(-lat, lon):
            hint = "; the latitude sign looks wrong (south of the equator is negative)"
            hint_id = "; tanda lintang salah (selatan khatulistiwa bernilai negatif)"
        c.add(
            "latitude",
            f"({lat}, {lon}) is outside {region.name} ({region.bbox.describe()}){hint};"
            " check the GPS fix",
            f"({lat}, {lon}) berada di luar {region.name}{hint_id}; periksa posisi GPS",
        )
    elif (
        lat is None
        and status != Status.PLANNED.value
        and "status" not in {e.field for e in c.errors}
    ):
        c.add(
            "latitude",
            f"an {status} device needs its location: latitude and longitude",
            "perangkat yang sudah terpasang wajib punya lokasi: lintang dan bujur",
        )
    return lat, lon


def _install_date(c: _Collector, raw_date: object) -> date | None:
    install: date | None = None
    if isinstance(raw_date, date):
        install = raw_date
    elif not _blank(raw_date):
        try:
            install = date.fromisoformat(str(raw_date).strip())
        except ValueError:
            shown = str(raw_date)[:30]
            c.add(
                "install_date",
                f"{shown!r} is not a date; write YYYY-MM-DD",
                f"{shown!r} bukan tanggal; tulis TTTT-BB-HH",
            )
    if install is not None and install > (datetime.now(UTC) + timedelta(days=1)).date():
        c.add(
            "install_date",
            f"{install} is in the future; use the day it was installed",
            f"{install} ada di masa depan; pakai tanggal pemasangan",
        )
    return install


def _mounting(c: _Collector, raw: Mapping[str, object], kind: str) -> dict[str, MountingValue]:
    mounting: dict[str, MountingValue] = {}
    own = {f.name: f for f in MOUNTING.get(kind, ())}
    nested = raw.get("mounting")
    source: Mapping[str, object] = dict(raw)
    if isinstance(nested, Mapping):
        source = {**raw, **nested}
        for name in nested:
            if name not in own:
                known = ", ".join(own) or "none"
                c.add(
                    f"mounting.{name}",
                    f"not a detail of {kind or 'this kind'}; known: {known}",
                    f"bukan rincian untuk jenis {kind or 'ini'}; yang dikenal: {known}",
                )
    for f in all_mounting_fields():
        v = source.get(f.name)
        if _blank(v):
            continue
        if f.name not in own:
            if isinstance(nested, Mapping):
                continue
            c.add(
                f.name,
                f"{kind or 'this kind'} has no {f.label.lower()}; leave it empty",
                f"jenis {kind or 'ini'} tidak punya rincian ini; kosongkan",
            )
            continue
        if f.numeric:
            num = c.number(source, f.name)
            if num is None:
                continue
            if f.valid and not f.valid[0] <= num <= f.valid[1]:
                c.add(
                    f.name,
                    f"{num} is outside {f.valid[0]}..{f.valid[1]}",
                    f"{num} di luar rentang {f.valid[0]}..{f.valid[1]}",
                )
                continue
            mounting[f.name] = num
        else:
            text = str(v).strip()
            if f.choices:
                match = [ch for ch in f.choices if ch.casefold() == text.casefold()]
                if not match:
                    choices = ", ".join(f.choices)
                    c.add(
                        f.name,
                        f"{text!r} is not one of {choices}",
                        f"{text!r} bukan salah satu dari {choices}",
                    )
                    continue
                text = match[0]
            if f.pattern and not re.match(f.pattern, text):
                c.add(
                    f.name,
                    f"{text[:70]!r} is not a {f.label}",
                    f"{text[:70]!r} bukan {f.label} yang sah",
                )
                continue
            mounting[f.name] = text[:200]
    return mounting


def _thresholds(c: _Collector, raw: Mapping[str, object], kind: str) -> list[float | None]:
    levels = [c.number(raw, t, " of cm above gauge zero") for t in THRESHOLDS]
    given = [x for x in levels if x is not None]
    if given and kind and kind not in THRESHOLD_KINDS:
        c.add(
            "waspada_cm",
            f"only flood gauges carry flood thresholds, not {kind}",
            f"hanya pos duga air yang punya ambang banjir, bukan {kind}",
        )
    elif given and len(given) != len(THRESHOLDS):
        missing = next(t for t, x in zip(THRESHOLDS, levels, strict=True) if x is None)
        c.add(
            missing,
            "give all three thresholds (waspada_cm, siaga_cm, awas_cm) or none",
            "isi ketiga ambang (WASPADA, SIAGA, AWAS) atau kosongkan semuanya",
        )
    elif given and not (given[0] < given[1] < given[2]):
        c.add(
            "siaga_cm",
            "thresholds must rise: waspada_cm < siaga_cm < awas_cm",
            "ambang harus naik: WASPADA < SIAGA < AWAS",
        )
    return levels
