"""Live: Server-Sent Events of new readings, state changes and alerts.

Each event has a monotonic ``id``; a browser's EventSource resends the last one it saw as
``Last-Event-ID`` when it reconnects, and the stream replays what it missed from the hub's
buffer. If that id is older than the buffer (or from before a restart), the first event is
``reset``: reload ``/state`` and carry on.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api import params
from api.auth import Reader
from api.deps import KindsDep, PoolDep
from api.live import EventHub, LiveEvent
from api.models import Problem
from core.storage.history import select_devices

router = APIRouter(tags=["live"])

EXAMPLE = (
    "retry: 2000\n\n"
    'id: 1764356400000001\nevent: reading\ndata: {"device_id": "AWLR-SKR-01", "kind":'
    ' "flood_gauge", "time": "2026-11-28T19:00:00+00:00", "received_at":'
    ' "2026-11-28T19:00:02+00:00", "values": {"water_level": 412.5}}\n\n'
    ": keep-alive\n\n"
)


RULE_KINDS = {"feeder_outage": "streetlight"}
"""The kind of device an alert without a single device is about."""


def _frame(ev: LiveEvent) -> str:
    return f"id: {ev.id}\nevent: {ev.type}\ndata: {ev.data}\n\n"


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An endless text/event-stream. Events: `reading` (data:"
            " {device_id, kind, time, received_at, values}), `state` (data: {device_id, kind,"
            " online, stale, level, ...}), `alert` (data: the alert object as in GET /alerts),"
            " `reset` (reload /state; events were missed). Comment lines keep the connection"
            " alive.",
            "content": {"text/event-stream": {"schema": {"type": "string"}, "example": EXAMPLE}},
        },
        422: {"model": Problem},
    },
)
async def stream(
    request: Request,
    pool: PoolDep,
    kinds: KindsDep,
    _: Reader,
    kind: Annotated[str | None, Query(description="Only events of this kind.")] = None,
    district: Annotated[str | None, Query(description="Only devices in this district.")] = None,
    device: Annotated[list[str] | None, Query(description="Only these device ids.")] = None,
    last_event_id: Annotated[
        str | None, Header(description="Resume after this event id (sent by EventSource).")
    ] = None,
) -> StreamingResponse:
    """Subscribe to live events (Server-Sent Events), optionally filtered."""
    hub: EventHub = request.app.state.hub
    keepalive: float = getattr(request.app.state, "sse_keepalive_s", 15.0)
    kind = params.kind(kinds, params.text(kind, "kind"))
    district = params.text(district, "district")
    devices = set(params.device_ids(device) or [])
    resume: int | None = None
    if last_event_id and last_event_id.strip().isdigit() and len(last_event_id.strip()) < 30:
        resume = int(last_event_id.strip())

    where: dict[str, tuple[str, str | None]] = {}
    refreshed = -1e9

    async def meta(device_id: str) -> tuple[str, str | None] | None:
        """Kind and district of a device (alert events carry neither), cached per stream."""
        nonlocal where, refreshed
        if device_id not in where and time.monotonic() - refreshed > 5:
            found = await select_devices(
                pool, device_ids=None, kind=None, district=None, bbox=None, limit=1_000_000
            )
            where = {d.id: (d.kind, d.district) for d in found}
            refreshed = time.monotonic()
        return where.get(device_id)

    async def matches(device_id: str | None, ev_kind: str | None) -> bool:
        if devices and device_id not in devices:
            return False
        if kind is None and district is None:
            return True
        m = await meta(device_id) if device_id is not None else None
        k = ev_kind or (m[0] if m else None)
        if kind is not None and k != kind:
            return False
        return district is None or (m is not None and m[1] == district)

    async def wanted(ev: LiveEvent) -> bool:
        if ev.type == "reset":
            return True
        if ev.type == "alert" and ev.device_id is None:
            # an alert about many devices (a feeder): wanted if any of them is
            alert = json.loads(ev.data)
            members = alert.get("details", {}).get("lamps") or []
            rule_kind = RULE_KINDS.get(alert.get("rule", ""))
            for d in members:
                if await matches(d, rule_kind):
                    return True
            return False
        return await matches(ev.device_id, ev.kind)

    async def events() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        cursor = hub.last_id
        if resume is not None:
            missed = hub.since(resume)
            if missed is None:
                yield f'id: {cursor}\nevent: reset\ndata: {{"reason": "Last-Event-ID too old"}}\n\n'
            else:
                for ev in missed:
                    if await wanted(ev):
                        yield _frame(ev)
                if missed:
                    cursor = missed[-1].id
        while True:
            got = await hub.wait_after(cursor, keepalive)
            if got is None:
                cursor = hub.last_id
                yield f'id: {cursor}\nevent: reset\ndata: {{"reason": "client fell behind"}}\n\n'
                continue
            if not got:
                yield ": keep-alive\n\n"
                continue
            for ev in got:
                cursor = ev.id
                if await wanted(ev):
                    yield _frame(ev)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
