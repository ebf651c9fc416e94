"""The built-in live operations page at ``/ops``: plain HTML/JS/CSS, no build step.

The page reads ``/state``, ``/alerts`` and ``/readings`` and follows ``/stream``; all it adds
on the server is its static files and the per-station flood bands its river charts draw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response

from alerts.vocabulary import vocabulary_json
from api.auth import Reader
from api.deps import KindsDep, PoolDep
from api.district_outlines import district_outlines
from api.models import Problem
from api.params import DEVICE_ID
from core.storage.devices import devices_by_id
from core.storage.flood_thresholds import all_flood_bands
from devices.region import load_region

STATIC = Path(__file__).resolve().parent.parent / "static" / "ops"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

router = APIRouter(tags=["operations page"])


@router.get("/ops", include_in_schema=False)
async def ops_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type=_TYPES[".html"])


DeviceQ = Annotated[
    list[str] | None,
    Query(
        description="Only these gauges (repeat the parameter); default all.",
        max_length=500,
        json_schema_extra={"items": {"type": "string", "pattern": DEVICE_ID.pattern}},
    ),
]


@router.get(
    "/ops/bands.json",
    summary="Flood warning bands per gauge, in cm",
    responses={404: {"model": Problem}, 422: {"model": Problem}},
)
async def flood_bands(
    pool: PoolDep, _: Reader, device: DeviceQ = None
) -> dict[str, dict[str, float]]:
    """WASPADA / SIAGA / AWAS thresholds of every gauge that has them, by device id."""
    wanted: set[str] | None = None
    if device is not None:
        bad = [d for d in device if not DEVICE_ID.match(d)]
        if bad:
            raise HTTPException(
                422, f"device {bad[0][:70]!r} is not a device id (letters, digits, '_', '.', '-')"
            )
        wanted = set(device)
        known = await devices_by_id(pool, sorted(wanted))
        missing = sorted(wanted - set(known))
        if missing:
            raise HTTPException(404, f"not registered: {', '.join(missing[:10])}")
    return {
        b.device_id: {"WASPADA": b.waspada, "SIAGA": b.siaga, "AWAS": b.awas}
        for b in await all_flood_bands(pool)
        if wanted is None or b.device_id in wanted
    }


# Bahasa Indonesia labels of the built-in kinds' fields; the English label and the unit come
# from the kind's declaration (core/kinds.py), so a new kind's fields show their description.
FIELD_LABELS_ID = {
    "water_level": "Tinggi muka air",
    "rain": "Curah hujan",
    "battery_v": "Tegangan baterai",
    "rssi": "Sinyal seluler",
    "power_source": "Sumber daya",
    "power_state": "Status lampu",
    "dim_pct": "Peredupan",
    "active_power": "Daya aktif",
    "energy": "Energi",
    "voltage": "Tegangan",
    "current": "Arus",
    "power_factor": "Faktor daya",
    "burning_hours": "Jam nyala",
    "driver_temp": "Suhu driver",
    "lamp_failure": "Lampu rusak",
    "day_burner": "Menyala siang",
    "uptime": "Waktu hidup",
    "latency": "Latensi",
    "packet_loss": "Paket hilang",
    "rx_bps": "Unduh",
    "tx_bps": "Unggah",
    "clients": "Klien",
    "board_voltage": "Tegangan papan",
    "temperature": "Suhu",
}


@router.get("/ops/fields.json", include_in_schema=False)
async def field_labels(kinds: KindsDep) -> dict[str, dict[str, dict[str, str | None]]]:
    """Per kind and field: its label in Bahasa Indonesia and English, and its unit."""
    return {
        k.name: {
            f.name: {
                "id": FIELD_LABELS_ID.get(f.name, f.description or f.name),
                "en": f.description or f.name,
                "unit": f.unit,
            }
            for f in k.fields
        }
        for k in kinds.values()
    }


@router.get("/ops/districts.geojson", include_in_schema=False)
async def districts_geojson() -> Response:
    """Approximate kecamatan outlines (Voronoi cells of the centres, clipped to the regency's
    bbox) for the map without tiles; each feature says it is approximate."""
    body = json.dumps(district_outlines(load_region()), separators=(",", ":"))
    return Response(body, media_type="application/geo+json")


@router.get("/ops/vocabulary.json", include_in_schema=False)
async def vocabulary() -> dict[str, dict[str, dict[str, str]]]:
    """Labels (Bahasa Indonesia, English) and colours of alert states, priorities, flood
    levels and rules: the page's words come from alerts/vocabulary.py, as the API's do."""
    return vocabulary_json()


@router.get("/ops/{path:path}", include_in_schema=False)
async def ops_static(path: str) -> FileResponse:
    try:
        file = (STATIC / path).resolve()
        found = file.is_relative_to(STATIC) and file.is_file() and file.suffix in _TYPES
    except (ValueError, OSError):  # a NUL byte, a name too long
        found = False
    if not found:
        raise HTTPException(404, f"no such file of the operations page: /ops/{path[:100]!r}")
    return FileResponse(file, media_type=_TYPES[file.suffix], headers={"Cache-Control": "no-cache"})
