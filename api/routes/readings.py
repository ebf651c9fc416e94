from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api import params
from api.auth import Reader
from api.deps import HeavyDep, KindsDep, PoolDep
from api.limits import BUSY
from api.models import Problem, reading_model, readings_response_model
from core.kinds import KindRegistry
from core.storage.devices import get_device
from core.storage.readings import fetch_readings

MAX_RANGE = timedelta(days=31)
MAX_ROWS = 50_000


def build_router(kinds: KindRegistry) -> APIRouter:
    router = APIRouter(tags=["readings"])
    models = {name: reading_model(k) for name, k in kinds.items()}
    response_model = readings_response_model(models.values())

    @router.get(
        "/devices/{device_id}/readings",
        response_model=response_model,
        response_model_by_alias=True,
        responses={404: {"model": Problem}, 422: {"model": Problem}, 429: BUSY},
    )
    async def device_readings(
        device_id: str,
        pool: PoolDep,
        kinds: KindsDep,
        heavy: HeavyDep,
        _: Reader,
        start: Annotated[
            datetime | None,
            Query(alias="from", description="Start (inclusive), ISO 8601; default 24 h ago."),
        ] = None,
        end: Annotated[
            datetime | None,
            Query(alias="to", description="End (exclusive), ISO 8601; default now."),
        ] = None,
    ) -> Any:
        """Raw readings of one device in a time range, oldest first."""
        end = params.aware(end, "to") if end else datetime.now(UTC)
        start = params.aware(start, "from") if start else end - timedelta(hours=24)
        if start >= end:
            raise HTTPException(422, "'from' must be before 'to'")
        if end - start > MAX_RANGE:
            raise HTTPException(422, f"range is longer than {MAX_RANGE.days} days; narrow it")
        device = await get_device(pool, device_id)
        if device is None:
            raise HTTPException(404, f"device {device_id!r} is not registered")
        kind = kinds.get(device.kind)
        if kind is None:
            raise HTTPException(404, f"device {device_id!r} has kind {device.kind!r}, unknown here")
        slot = await heavy.slot()
        try:
            rows = await fetch_readings(pool, kind, device_id, start, end, MAX_ROWS)
        finally:
            slot.release()
        model = models[kind.name]
        return response_model.model_validate(
            {
                "device_id": device_id,
                "kind": kind.name,
                "from": start,
                "to": end,
                "readings": [
                    model(time=r.time, received_at=r.received_at, **r.values) for r in rows
                ],
            }
        )

    return router
