"""Alerts for the operations room, highest priority first, and the operator's part of the
lifecycle: acknowledge, shelve (for a stated time, with a reason), unshelve, resolve.

Every move is checked by alerts/lifecycle.py and journalled in ``alert_events``; an illegal
one is a 409 whose detail says which moves the alert's state allows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from alerts.lifecycle import TransitionError
from alerts.vocabulary import AlertState, Priority
from api import params
from api.auth import Operator, Reader, Resolver
from api.deps import KindsDep, PoolDep
from api.models import Problem
from api.ops_models import AlertCounts, AlertDetail, AlertEventOut, AlertOut, ShelveIn
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


def _missing(alert_id: int) -> HTTPException:
    return HTTPException(404, f"alert {alert_id} does not exist; list them with GET /alerts")


@router.get("/alerts", response_model=list[AlertOut], responses={422: {"model": Problem}})
async def list_alerts(
    pool: PoolDep,
    kinds: KindsDep,
    _: Reader,
    status: Annotated[AlertState | None, Query(description="Lifecycle state.")] = None,
    kind: Annotated[str | None, Query(description="Kind of the alert's device.")] = None,
    district: Annotated[str | None, Query(description="District of the device.")] = None,
    device: Annotated[str | None, Query(description="Device id.")] = None,
    rule: Annotated[str | None, Query(description="Rule name, e.g. flood_level.")] = None,
    priority: Annotated[Priority | None, Query(description="Only this priority.")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AlertOut]:
    """Standing alerts first, highest priority first (AWAS, SIAGA, outages by devices
    affected, WASPADA, equipment), then newest; shelved and resolved ones after."""
    ids = params.device_ids([device] if device else None)
    found = await store.list_alerts(
        pool,
        status=status,
        kind=params.kind(kinds, params.text(kind, "kind")),
        district=params.text(district, "district"),
        device_id=ids[0] if ids else None,
        rule=params.text(rule, "rule", 64),
        priority=priority,
        limit=limit,
    )
    return [_out(a) for a in found]


@router.get("/alerts/counts", response_model=AlertCounts)
async def alert_counts(pool: PoolDep, _: Reader) -> AlertCounts:
    """Standing, unshelved alerts per priority: the header of the alarm list."""
    return AlertCounts.model_validate(await store.priority_counts(pool))


@router.get("/alerts/{alert_id}", response_model=AlertDetail, responses={404: {"model": Problem}})
async def get_alert(alert_id: AlertId, pool: PoolDep, _: Reader) -> AlertDetail:
    """The alert with its timeline: each level change with its time, the peak, the end."""
    found = await store.get_alert(pool, alert_id)
    if found is None:
        raise _missing(alert_id)
    history = await store.alert_history(pool, alert_id)
    return AlertDetail.model_validate(
        {
            **found.as_json(),
            "timeline": [AlertEventOut.model_validate(h.as_json()) for h in history],
        }
    )


async def _move(pool: Any, alert_id: int, move: Any) -> AlertOut:
    try:
        async with pool.acquire() as conn, conn.transaction():
            result = await move(conn)
    except TransitionError as exc:
        raise HTTPException(409, f"alert {alert_id}: {exc}") from None
    if result is None:
        raise _missing(alert_id)
    await announce(pool, "alert", [result.as_json()])
    return _out(result)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut, responses=_TRANSITION)
async def acknowledge(alert_id: AlertId, pool: PoolDep, who: Operator) -> AlertOut:
    """Someone is on it: active or returned -> acknowledged, recording who and when."""
    return await _move(pool, alert_id, lambda c: store.acknowledge(c, alert_id, who.name))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut, responses=_TRANSITION)
async def resolve(alert_id: AlertId, pool: PoolDep, who: Resolver) -> AlertOut:
    """Done (operators and supervisors): any standing state -> resolved, recording who and
    when."""
    return await _move(pool, alert_id, lambda c: store.resolve(c, alert_id, who.name))


@router.post(
    "/alerts/{alert_id}/shelve",
    response_model=AlertOut,
    responses={**_TRANSITION, 400: {"model": Problem, "description": "Body is not JSON"}},
)
async def shelve(alert_id: AlertId, body: ShelveIn, pool: PoolDep, who: Operator) -> AlertOut:
    """Hide a standing alert for ``minutes`` with a ``reason``; it returns when time is up
    (or earlier if it escalates)."""
    until = datetime.now(UTC) + timedelta(minutes=body.minutes)
    return await _move(
        pool,
        alert_id,
        lambda c: store.shelve(c, alert_id, who=who.name, until=until, reason=body.reason),
    )


@router.post("/alerts/{alert_id}/unshelve", response_model=AlertOut, responses=_TRANSITION)
async def unshelve(alert_id: AlertId, pool: PoolDep, who: Operator) -> AlertOut:
    """Bring a shelved alert back now (it becomes ``returned``)."""
    return await _move(pool, alert_id, lambda c: store.unshelve(c, alert_id, who.name))
