"""Work order actions and the watcher that ties orders to alarms.

Every step writes the order, an event row and (for a device) a device-journal entry in
one transaction. :meth:`WorkOrders.watch_once` is the hook on the alarm side: it opens an
order for each active alert whose rule is listed in ``work_order_rules`` (data, not code),
verifies done orders whose alert has resolved, and returns to the queue, with the reason,
done orders whose alert is still active after the grace period. It only reads alert rows,
so it runs beside the alert evaluator, never inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from core.storage import registry as devices_store
from core.storage import work_orders as store
from core.storage.work_orders import AlertForOrder, NewOrder, WorkOrder
from workorders.lifecycle import OrderEvent, OrderStatus, OrderTransitionError, Priority, apply

log = logging.getLogger(__name__)

WATCHER = "citysense work orders"
_STATUS_ID = {
    OrderStatus.OPEN: "terbuka",
    OrderStatus.ACCEPTED: "diambil",
    OrderStatus.DONE: "selesai",
    OrderStatus.VERIFIED: "terverifikasi",
    OrderStatus.CANCELLED: "dibatalkan",
}
DEFAULT_GRACE = timedelta(minutes=30)
RETURN_REASON = (
    "alarm masih aktif {minutes} menit setelah selesai; periksa lagi"
    " / the alarm is still active {minutes} min after done; check again"
)


class WorkOrderError(Exception):
    """A request about an order that cannot be done; ``status`` is the HTTP status that fits,
    ``pesan`` the message in Bahasa Indonesia (the English one is ``str(exc)``)."""

    def __init__(self, status: int, message: str, pesan: str) -> None:
        super().__init__(message)
        self.status = status
        self.pesan = pesan


@dataclass(frozen=True, slots=True)
class WatchResult:
    opened: list[int]
    verified: list[int]
    returned: list[int]


def _new_order(a: AlertForOrder, priority: str | None = None) -> NewOrder:
    return NewOrder(
        alert_id=a.alert_id,
        device_id=a.device_id,
        title=f"{a.rule}: {a.message}"[:500],
        priority=priority or a.priority,
        latitude=a.latitude,
        longitude=a.longitude,
        place=a.place or a.subject,
    )


class WorkOrders:
    def __init__(self, pool: asyncpg.Pool, *, grace: timedelta = DEFAULT_GRACE) -> None:
        self.pool = pool
        self.grace = grace

    async def _step(
        self,
        order_id: int,
        event: OrderEvent,
        *,
        actor: str,
        note: str | None = None,
        holder: Any = ...,
        reason: str | None = None,
        check: Any = None,
    ) -> WorkOrder:
        async with self.pool.acquire() as conn, conn.transaction():
            order = await store.get_order(conn, order_id, lock=True)
            if order is None:
                raise WorkOrderError(
                    404, f"no work order {order_id}", f"tugas {order_id} tidak ada"
                )
            try:
                status = apply(order.status, event)
            except OrderTransitionError as exc:
                raise WorkOrderError(
                    409,
                    str(exc),
                    f"tugas ini sudah {_STATUS_ID[OrderStatus(order.status)]}; muat ulang daftar",
                ) from None
            if check is not None:
                check(order)
            new_holder = order.holder if holder is ... else holder
            if event is not OrderEvent.NOTE:
                await store.set_status(
                    conn, order_id, status=status.value, holder=new_holder, returned_reason=reason
                )
            await store.add_event(conn, order_id, actor=actor, event=event.value, note=note)
            if order.device_id is not None and event is not OrderEvent.NOTE:
                await devices_store.add_journal(
                    conn,
                    order.device_id,
                    actor=actor,
                    action=f"work_order_{event.value}",
                    changes={"work_order": [order.id, status.value]},
                    note=note,
                )
        found = await store.get_order(self.pool, order_id)
        assert found is not None
        return found

    async def create_from_alert(
        self, alert_id: int, *, actor: str, priority: str | None = None
    ) -> WorkOrder:
        """An order for an alert (an operator's choice, whatever the rules say)."""
        alert = await store.alert_for_order(self.pool, alert_id)
        if alert is None:
            raise WorkOrderError(404, f"no alert {alert_id}", f"alarm {alert_id} tidak ada")
        return await self._create(_new_order(alert, priority), actor=actor)

    async def create_for_device(
        self, device_id: str, *, title: str, priority: str, actor: str
    ) -> WorkOrder:
        device = await devices_store.get_record(self.pool, device_id)
        if device is None:
            raise WorkOrderError(
                404,
                f"device {device_id!r} is not registered",
                f"perangkat {device_id!r} belum terdaftar",
            )
        place = ", ".join(x for x in (device.village, device.district) if x) or None
        return await self._create(
            NewOrder(None, device.id, title, priority, device.latitude, device.longitude, place),
            actor=actor,
        )

    async def _create(self, o: NewOrder, *, actor: str) -> WorkOrder:
        Priority(o.priority)
        async with self.pool.acquire() as conn, conn.transaction():
            order_id = await store.insert_order(conn, o, actor=actor)
            if order_id is None:
                raise WorkOrderError(
                    409,
                    f"alert {o.alert_id} already has an open work order",
                    f"alarm {o.alert_id} sudah punya tugas terbuka",
                )
            await store.add_event(conn, order_id, actor=actor, event=OrderEvent.CREATED.value)
            if o.device_id is not None:
                await devices_store.add_journal(
                    conn,
                    o.device_id,
                    actor=actor,
                    action="work_order_created",
                    changes={"work_order": [None, order_id]},
                    note=o.title,
                )
        found = await store.get_order(self.pool, order_id)
        assert found is not None
        return found

    async def accept(self, order_id: int, *, actor: str) -> WorkOrder:
        return await self._step(order_id, OrderEvent.ACCEPT, actor=actor, holder=actor)

    def _holder_only(self, actor: str) -> Any:
        def check(order: WorkOrder) -> None:
            if order.holder != actor:
                raise WorkOrderError(
                    409,
                    f"order {order.id} is held by {order.holder}; only they can do this",
                    f"tugas {order.id} dipegang {order.holder}; hanya dia yang bisa",
                )

        return check

    async def note(self, order_id: int, note: str, *, actor: str) -> WorkOrder:
        text = note.strip()
        if not text:
            raise WorkOrderError(
                422, "note: write what you did or saw", "tulis apa yang dikerjakan atau dilihat"
            )
        return await self._step(order_id, OrderEvent.NOTE, actor=actor, note=text[:4000])

    async def done(self, order_id: int, *, actor: str, note: str | None = None) -> WorkOrder:
        return await self._step(
            order_id, OrderEvent.DONE, actor=actor, note=note, check=self._holder_only(actor)
        )

    async def release(self, order_id: int, *, actor: str, reason: str) -> WorkOrder:
        return await self._step(
            order_id,
            OrderEvent.RELEASE,
            actor=actor,
            note=reason,
            holder=None,
            check=self._holder_only(actor),
        )

    async def cancel(self, order_id: int, *, actor: str, reason: str) -> WorkOrder:
        return await self._step(order_id, OrderEvent.CANCEL, actor=actor, note=reason)

    async def verify(self, order_id: int, *, actor: str, note: str | None = None) -> WorkOrder:
        """An operator confirms an order that has no alarm to confirm it."""

        def no_alert(order: WorkOrder) -> None:
            if order.alert_id is not None:
                raise WorkOrderError(
                    409,
                    f"order {order.id} is verified by its alert {order.alert_id} resolving",
                    f"tugas {order.id} diverifikasi saat alarm {order.alert_id} pulih",
                )

        return await self._step(order_id, OrderEvent.VERIFY, actor=actor, note=note, check=no_alert)

    async def watch_once(self, now: datetime | None = None) -> WatchResult:
        """Open orders for new alarms, verify repaired ones, return unrepaired ones."""
        now = now or datetime.now(UTC)
        opened: list[int] = []
        for alert in await store.alerts_without_order(self.pool):
            try:
                opened.append((await self._create(_new_order(alert), actor=WATCHER)).id)
            except WorkOrderError:
                continue  # an operator opened one meanwhile
        verified: list[int] = []
        returned: list[int] = []
        for order_id, resolved, done_at in await store.orders_to_verify(self.pool):
            try:
                if resolved:
                    await self._step(order_id, OrderEvent.VERIFY, actor=WATCHER)
                    verified.append(order_id)
                elif done_at is not None and now - done_at >= self.grace:
                    minutes = int(self.grace.total_seconds() // 60)
                    reason = RETURN_REASON.format(minutes=minutes)
                    await self._step(
                        order_id,
                        OrderEvent.RETURN,
                        actor=WATCHER,
                        note=reason,
                        holder=None,
                        reason=reason,
                    )
                    returned.append(order_id)
            except WorkOrderError as exc:  # changed meanwhile; the next round sees it
                log.info("work order %s left for the next round: %s", order_id, exc)
        return WatchResult(opened, verified, returned)

    async def run(self, stop: asyncio.Event, *, interval_s: float = 10) -> None:
        """Watch every ``interval_s`` until ``stop``; a database away skips one round."""
        from core.storage.errors import is_transient

        while not stop.is_set():
            try:
                r = await self.watch_once()
                if r.opened or r.verified or r.returned:
                    log.info(
                        "work orders: opened %s verified %s returned %s",
                        r.opened,
                        r.verified,
                        r.returned,
                    )
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("work order watcher: database away (%s); next round", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)


OPEN_STATUSES = [s.value for s in (OrderStatus.OPEN, OrderStatus.ACCEPTED, OrderStatus.DONE)]
