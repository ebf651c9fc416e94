"""Work orders over HTTP: operators open and cancel, technicians accept, note and finish;
the alarm's resolution verifies (``POST /work-orders/watch`` runs the watcher once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.auth import Operator, Reader, Technician
from api.deps import PoolDep
from api.errors import FieldProblem
from api.models import Problem
from core.storage import work_orders as store
from core.storage.work_orders import WorkOrder
from workorders.lifecycle import OrderStatus, Priority
from workorders.service import OPEN_STATUSES, WorkOrderError, WorkOrders


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": Problem.model_json_schema()}},
    }


router = APIRouter(
    tags=["work orders"],
    responses={
        400: _problem("The body could not be parsed."),
        401: _problem("No API key, or not a valid one."),
        403: _problem("The key's role may not do this."),
        404: _problem("No such order, alert or device."),
        409: _problem("The order's state does not allow this now."),
    },
)


class OrderOut(BaseModel):
    id: int
    alert_id: int | None
    alert_rule: str | None
    device_id: str | None
    title: str
    priority: str
    status: str
    latitude: float | None
    longitude: float | None
    place: str | None
    holder: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None
    verified_at: datetime | None
    returned_reason: str | None

    @classmethod
    def of(cls, o: WorkOrder) -> OrderOut:
        return cls(**{k: getattr(o, k) for k in cls.model_fields})


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alert_id: StrictInt | None = Field(default=None, description="Open the order for this alert.")
    device_id: str | None = Field(default=None, description="Or for this device, with a title.")
    title: Annotated[str | None, Field(max_length=500)] = None
    priority: Priority | None = None


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str, Field(max_length=4000)] = ""


class EventOut(BaseModel):
    at: datetime
    actor: str
    event: str
    note: str | None


class WatchOut(BaseModel):
    opened: list[int]
    verified: list[int]
    returned: list[int]


def _fail(exc: WorkOrderError) -> NoReturn:
    raise FieldProblem(
        exc.status, str(exc), [{"field": "order", "pesan": exc.pesan, "message": str(exc)}]
    ) from None


def _orders(request: Request) -> WorkOrders:
    return WorkOrders(request.app.state.pool)


@router.get("/work-orders", response_model=list[OrderOut])
async def list_orders(
    pool: PoolDep,
    who: Reader,
    status: Annotated[list[OrderStatus] | None, Query()] = None,
    mine: bool = False,
) -> list[OrderOut]:
    """Orders, most urgent first; by default the live ones (open, accepted, done)."""
    statuses = [s.value for s in status] if status else OPEN_STATUSES
    rows = await store.list_orders(pool, statuses=statuses, holder=who.name if mine else None)
    return [OrderOut.of(o) for o in rows]


@router.post("/work-orders", status_code=201, response_model=OrderOut)
async def create(body: OrderCreate, request: Request, who: Operator) -> OrderOut:
    """Open an order for an alert, or for a device with a title."""
    orders = _orders(request)
    priority = body.priority.value if body.priority else None
    try:
        if body.alert_id is not None:
            order = await orders.create_from_alert(body.alert_id, actor=who.name, priority=priority)
        elif body.device_id is not None and body.title:
            order = await orders.create_for_device(
                body.device_id,
                title=body.title,
                priority=priority or Priority.NORMAL.value,
                actor=who.name,
            )
        else:
            raise HTTPException(422, "give alert_id, or device_id with a title")
    except WorkOrderError as exc:
        _fail(exc)
    return OrderOut.of(order)


@router.get("/work-orders/{order_id}/events", response_model=list[EventOut])
async def events(order_id: int, pool: PoolDep, _: Reader) -> list[EventOut]:
    """Every step of the order, oldest first."""
    if await store.get_order(pool, order_id) is None:
        raise HTTPException(404, f"no work order {order_id}")
    return [
        EventOut(at=e.at, actor=e.actor, event=e.event, note=e.note)
        for e in await store.list_events(pool, order_id)
    ]


@router.post("/work-orders/{order_id}/accept", response_model=OrderOut)
async def accept(order_id: int, request: Request, who: Technician) -> OrderOut:
    try:
        return OrderOut.of(await _orders(request).accept(order_id, actor=who.name))
    except WorkOrderError as exc:
        _fail(exc)


@router.post("/work-orders/{order_id}/notes", response_model=OrderOut)
async def note(order_id: int, body: NoteBody, request: Request, who: Technician) -> OrderOut:
    try:
        return OrderOut.of(await _orders(request).note(order_id, body.note, actor=who.name))
    except WorkOrderError as exc:
        _fail(exc)


@router.post("/work-orders/{order_id}/done", response_model=OrderOut)
async def done(order_id: int, body: NoteBody, request: Request, who: Technician) -> OrderOut:
    """The holder's repair is done; the order is verified when its alarm resolves."""
    text = body.note.strip() or None
    try:
        return OrderOut.of(await _orders(request).done(order_id, actor=who.name, note=text))
    except WorkOrderError as exc:
        _fail(exc)


@router.post("/work-orders/{order_id}/release", response_model=OrderOut)
async def release(order_id: int, body: NoteBody, request: Request, who: Technician) -> OrderOut:
    """Give the order back to the queue, with the reason."""
    try:
        order = await _orders(request).release(order_id, actor=who.name, reason=body.note)
    except WorkOrderError as exc:
        _fail(exc)
    return OrderOut.of(order)


@router.post("/work-orders/{order_id}/cancel", response_model=OrderOut)
async def cancel(order_id: int, body: NoteBody, request: Request, who: Operator) -> OrderOut:
    try:
        return OrderOut.of(
            await _orders(request).cancel(order_id, actor=who.name, reason=body.note)
        )
    except WorkOrderError as exc:
        _fail(exc)


@router.post("/work-orders/{order_id}/verify", response_model=OrderOut)
async def verify(order_id: int, body: NoteBody, request: Request, who: Operator) -> OrderOut:
    """Confirm an order that has no alarm to confirm it."""
    text = body.note.strip() or None
    try:
        return OrderOut.of(await _orders(request).verify(order_id, actor=who.name, note=text))
    except WorkOrderError as exc:
        _fail(exc)


@router.post("/work-orders/watch", response_model=WatchOut)
async def watch(request: Request, _: Operator) -> WatchOut:
    """Run the watcher once: orders for new alarms, verification of repaired ones."""
    r = await _orders(request).watch_once()
    return WatchOut(opened=r.opened, verified=r.verified, returned=r.returned)
