"""A work order's lifecycle: open -> accepted -> done -> verified, as a table.

``done`` is the technician's word; ``verified`` is the device's: the order's alarm resolved
(the device reports healthy again). A done order whose alarm is still active after the
grace period goes back to ``open`` with the reason, for anyone to take again.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DONE = "done"
    VERIFIED = "verified"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class OrderEvent(StrEnum):
    CREATED = "created"
    ACCEPT = "accepted"
    NOTE = "noted"
    DONE = "done"
    RELEASE = "released"
    VERIFY = "verified"
    RETURN = "returned"
    CANCEL = "cancelled"


LIVE = frozenset({OrderStatus.OPEN, OrderStatus.ACCEPTED, OrderStatus.DONE})

TRANSITIONS: dict[OrderEvent, dict[OrderStatus, OrderStatus]] = {
    OrderEvent.ACCEPT: {OrderStatus.OPEN: OrderStatus.ACCEPTED},
    OrderEvent.NOTE: {s: s for s in LIVE},
    OrderEvent.DONE: {OrderStatus.ACCEPTED: OrderStatus.DONE},
    OrderEvent.RELEASE: {OrderStatus.ACCEPTED: OrderStatus.OPEN},
    OrderEvent.VERIFY: {OrderStatus.DONE: OrderStatus.VERIFIED},
    OrderEvent.RETURN: {OrderStatus.DONE: OrderStatus.OPEN},
    OrderEvent.CANCEL: {
        OrderStatus.OPEN: OrderStatus.CANCELLED,
        OrderStatus.ACCEPTED: OrderStatus.CANCELLED,
    },
}
"""For each event, the status it may happen in and the status it leads to."""


class OrderTransitionError(ValueError):
    """An event the order's status does not allow; the message says what is allowed."""


def apply(status: str, event: OrderEvent) -> OrderStatus:
    """The status after ``event``; OrderTransitionError when it may not happen now."""
    current = OrderStatus(status)
    moves = TRANSITIONS[event]
    if current in moves:
        return moves[current]
    allowed = ", ".join(sorted(s.value for s in moves))
    raise OrderTransitionError(
        f"a {current.value} order cannot be {event.value}; only from: {allowed}"
    )
