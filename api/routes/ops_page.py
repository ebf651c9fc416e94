"""The built-in live operations page at ``/ops``: plain HTML/JS/CSS, no build step.

The page reads ``/state``, ``/alerts`` and ``/readings`` and follows ``/stream``; all it adds
on the server is its static files and the per-station flood bands its river charts draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse

from api.auth import Reader
from api.deps import PoolDep
from api.models import Problem
from api.params import DEVICE_ID
from core.storage.devices import devices_by_id
from core.storage.flood_thresholds import all_flood_bands

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
