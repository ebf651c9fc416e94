"""Alert history and the operator's part of the lifecycle: acknowledge, resolve."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from api import params
from api.auth import Operator, Reader, Resolver
from api.deps import KindsDep, PoolDep
from api.models import Problem
from api.ops_models import AlertOut, AlertStatus
from core.storage import alerts as store
from core.storage.events import announce

router = APIRouter(tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Alert id.")]
_TRANSITION: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No API key"},
    403: {"model": Problem, "description": "Role may not handle alerts"},
    404: {"model": Problem, "description": "No such alert"},
    409: {"model": Problem, "description": "Illegal transition (the reason says why)"},
    422: {"model": Problem},
}


def _out(a: store.Alert) -> AlertOut:
    return AlertOut.model_validate(a.as_json())


@router.get("/alerts", response_model=list[AlertOut], responses={422: {"model": Problem}})
async def list_alerts(
    pool: PoolDep,
    kinds: KindsDep,
    _: Reader,
    status: Annotated[AlertStatus | None, Query(description="Lifecycle state.")] = None,
    kind: Annotated[str | None, Query(description="Kind of the alert's device.")] = None,
    district: Annotated[str | None, Query(description="District of the device.")] = None,
    device: Annotated[str | None, Query(description="Device id.")] = None,
    rule: Annotated[str | None, Query(description="Rule name, e.g. flood_level.")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AlertOut]:
    """Alerts, newest first: open ones for the wall, the rest as history."""
    ids = params.device_ids([device] if device else None)
    found = await store.list_alerts(
        pool,
        status=status,
        kind=params.kind(kinds, params.text(kind, "kind")),
        district=params.text(district, "district"),
        device_id=ids[0] if ids else None,
        rule=params.text(rule, "rule", 64),
        limit=limit,
    )
    return [_out(a) for a in found]


@router.get("/alerts/{alert_id}", response_model=AlertOut, responses={404: {"model": Problem}})
async def get_alert(alert_id: AlertId, pool: PoolDep, _: Reader) -> AlertOut:
    found = await store.get_alert(pool, alert_id)
    if found is None:
        raise HTTPException(404, f"alert {alert_id} does not exist; list them with GET /alerts")
    return _out(found)


async def _transition(pool: Any, alert_id: int, result: store.Alert | str | None) -> AlertOut:
    if result is None:
        raise HTTPException(404, f"alert {alert_id} does not exist; list them with GET /alerts")
    if isinstance(result, str):
        raise HTTPException(409, result)
    await announce(pool, "alert", [result.as_json()])
    return _out(result)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut, responses=_TRANSITION)
async def acknowledge(alert_id: AlertId, pool: PoolDep, who: Operator) -> AlertOut:
    """Someone is on it: open -> acknowledged, recording who and when."""
    return await _transition(pool, alert_id, await store.acknowledge(pool, alert_id, who.name))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut, responses=_TRANSITION)
async def resolve(alert_id: AlertId, pool: PoolDep, who: Resolver) -> AlertOut:
    """Done: open or acknowledged -> resolved, recording who and when."""
    return await _transition(pool, alert_id, await store.resolve(pool, alert_id, who.name))
