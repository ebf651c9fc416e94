"""The status lifecycle: planned -> installed -> active <-> maintenance -> decommissioned.

Only the moves a technician can actually make are allowed. Decommissioning is final: a
device's credentials are revoked and a replacement is registered under its own label.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PLANNED = "planned"
    INSTALLED = "installed"
    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    DECOMMISSIONED = "decommissioned"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PLANNED: frozenset({Status.INSTALLED, Status.DECOMMISSIONED}),
    Status.INSTALLED: frozenset({Status.ACTIVE, Status.MAINTENANCE, Status.DECOMMISSIONED}),
    Status.ACTIVE: frozenset({Status.MAINTENANCE, Status.DECOMMISSIONED}),
    Status.MAINTENANCE: frozenset({Status.ACTIVE, Status.DECOMMISSIONED}),
    Status.DECOMMISSIONED: frozenset(),
}

INITIAL: frozenset[Status] = frozenset({Status.PLANNED, Status.INSTALLED, Status.ACTIVE})
"""Statuses a device may be registered with."""


class TransitionError(ValueError):
    """An illegal status change; the message says which moves are allowed."""


def parse_status(raw: str) -> Status:
    try:
        return Status(raw.strip().lower())
    except ValueError:
        raise TransitionError(
            f"unknown status {raw!r}; use one of: {', '.join(s.value for s in Status)}"
        ) from None


def check_transition(current: str, target: str) -> Status:
    """The target status if moving there from ``current`` is allowed; else TransitionError."""
    src, dst = parse_status(current), parse_status(target)
    if dst in TRANSITIONS[src]:
        return dst
    if src is dst:
        raise TransitionError(f"device is already {src.value}")
    allowed = sorted(s.value for s in TRANSITIONS[src])
    if not allowed:
        raise TransitionError(
            f"a {src.value} device cannot change status; register the replacement under a new id"
        )
    raise TransitionError(
        f"cannot go from {src.value} to {dst.value}; from {src.value} the next status is one"
        f" of: {', '.join(allowed)}"
    )
