"""Now: the latest state of every device, as a list or GeoJSON, and a per-district summary."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from api import params
from api.auth import Reader
from api.deps import KindsDep, PoolDep
from api.models import Problem
from api.ops_models import DeviceState, DistrictSummary, StateCollection, StateStatus
from api.state_cache import Rendered, StateCache
from core.kinds import KindRegistry
from core.storage.state import (
    DEFAULT_OFFLINE_FACTOR,
    StateFilter,
    state_briefs,
)

router = APIRouter(tags=["state"])


def liveness_limits(
    kinds: KindRegistry, factor: float = DEFAULT_OFFLINE_FACTOR
) -> dict[str, float]:
    """Seconds of silence after which a device of each kind counts as offline."""
    return {name: k.interval_s * factor for name, k in kinds.items()}


KindQ = Annotated[str | None, Query(description="Only this kind, e.g. flood_gauge.")]
DistrictQ = Annotated[str | None, Query(description="Only this district (kecamatan).")]
StatusQ = Annotated[
    StateStatus | None,
    Query(
        description="A registry status (active, maintenance, ...) or a liveness: online,"
        " offline, stale. Decommissioned devices are left out unless asked for."
    ),
]
ERRORS: dict[int | str, dict[str, Any]] = {422: {"model": Problem}}
CACHED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Unchanged since the ETag given in If-None-Match"}
}


def _cache(request: Request) -> StateCache:
    cache: StateCache = request.app.state.state_cache
    return cache


def _send(request: Request, r: Rendered, media_type: str) -> Response:
    headers = {"ETag": r.etag, "Vary": "Accept-Encoding", "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == r.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "") and len(r.body) > 1024:
        headers["Content-Encoding"] = "gzip"
        return Response(content=r.gzip, media_type=media_type, headers=headers)
    return Response(content=r.body, media_type=media_type, headers=headers)


def _filter(
    kinds: KindsDep, kind: KindQ = None, district: DistrictQ = None, status: StatusQ = None
) -> StateFilter:
    """The query parameters /state and /state.geojson share."""
    return StateFilter(
        kind=params.kind(kinds, params.text(kind, "kind")),
        district=params.text(district, "district"),
        status=status,
    )


Filter = Annotated[StateFilter, Depends(_filter)]


@router.get("/state", response_model=list[DeviceState], responses={**ERRORS, **CACHED})
async def state(
    request: Request,
    _: Reader,
    f: Filter,
) -> Response:
    """Latest state of every device with online/stale flags and the flood warning level.

    Served from memory: at most ``CITYSENSE_API_STATE_MAX_AGE_S`` old while the database
    answers promptly (a little more while it is slow)."""
    return _send(request, await _cache(request).rendered(f, "json"), "application/json")


@router.get(
    "/state.geojson",
    response_model=StateCollection,
    responses={
        200: {
            "description": "A GeoJSON FeatureCollection (served as application/geo+json).",
            "content": {
                "application/geo+json": {"schema": {"$ref": "#/components/schemas/StateCollection"}}
            },
        },
        **ERRORS,
        **CACHED,
    },
)
async def state_geo(
    request: Request,
    _: Reader,
    f: Filter,
) -> Response:
    """The same state as a GeoJSON FeatureCollection (devices without a position: null geometry)."""
    return _send(request, await _cache(request).rendered(f, "geojson"), "application/geo+json")


@router.get("/summary", response_model=list[DistrictSummary], responses=ERRORS)
async def summary(
    pool: PoolDep, kinds: KindsDep, _: Reader, district: DistrictQ = None
) -> list[DistrictSummary]:
    """Per district: lights on/off/failed, gauges per warning level, nodes up/down."""
    from core.storage.alerts import active_alerts

    briefs = await state_briefs(
        pool, liveness_limits(kinds), StateFilter(district=params.text(district, "district"))
    )
    failing = {a.device_id for a in await active_alerts(pool, "lamp_failure")}
    acc: dict[str | None, dict[str, Any]] = defaultdict(
        lambda: {
            "devices": 0,
            "online": 0,
            "offline": 0,
            "lights": {"on": 0, "off": 0, "failed": 0, "unknown": 0},
            "gauges": {"NORMAL": 0, "WASPADA": 0, "SIAGA": 0, "AWAS": 0, "unknown": 0},
            "nodes": {"up": 0, "down": 0},
        }
    )
    for b in briefs:
        a = acc[b.district]
        a["devices"] += 1
        a["online" if b.online else "offline"] += 1
        if b.kind == "streetlight":
            ps = b.values.get("power_state")
            if b.values.get("lamp_failure") is True or b.device_id in failing:
                a["lights"]["failed"] += 1
            elif ps in ("on", "low"):
                a["lights"]["on"] += 1
            elif ps == "off":
                a["lights"]["off"] += 1
            else:
                a["lights"]["unknown"] += 1
        elif b.kind == "flood_gauge":
            a["gauges"][b.level or "unknown"] += 1
        elif b.kind == "network_node":
            a["nodes"]["up" if b.online else "down"] += 1
    return [
        DistrictSummary.model_validate({"district": d, **v})
        for d, v in sorted(acc.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    ]
