"""The one alert lifecycle every rule shares, as a table.

    normal --raise--> active --acknowledge--> acknowledged
    active | acknowledged | returned --shelve--> shelved --unshelve (time up)--> returned
    any standing state --escalate--> active   (a worse condition: someone must look again;
                                                escalation also breaks a shelf)
    any standing state --clear (system) | resolve (operator)--> resolved

``update`` and ``deescalate`` keep the state (the facts change, the operator's decision
stands). :func:`apply` is pure: storage calls it inside the transaction that writes the new
state and its ``alert_events`` row, so an illegal move is refused before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alerts.vocabulary import STANDING_STATES, AlertEvent, AlertState

S, E = AlertState, AlertEvent


class Effect(StrEnum):
    """What a transition asks of the outside world, besides its history row."""

    NOTIFY = "notify"
    """Send to the notifiers (webhook, SMS, ...)."""
    ANNOUNCE = "announce"
    """Push to open pages over /stream."""


def _standing(
    event: AlertEvent, to: AlertState | None
) -> dict[tuple[AlertState, AlertEvent], AlertState]:
    return {(s, event): (s if to is None else to) for s in STANDING_STATES}


TRANSITIONS: dict[tuple[AlertState, AlertEvent], AlertState] = {
    (S.NORMAL, E.RAISE): S.ACTIVE,
    **_standing(E.ESCALATE, S.ACTIVE),
    **_standing(E.DEESCALATE, None),
    **_standing(E.UPDATE, None),
    (S.ACTIVE, E.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.RETURNED, E.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.ACTIVE, E.SHELVE): S.SHELVED,
    (S.ACKNOWLEDGED, E.SHELVE): S.SHELVED,
    (S.RETURNED, E.SHELVE): S.SHELVED,
    (S.SHELVED, E.UNSHELVE): S.RETURNED,
    **_standing(E.CLEAR, S.RESOLVED),
    **_standing(E.RESOLVE, S.RESOLVED),
}

EFFECTS: dict[AlertEvent, frozenset[Effect]] = {
    E.RAISE: frozenset({Effect.NOTIFY, Effect.ANNOUNCE}),
    E.ESCALATE: frozenset({Effect.NOTIFY, Effect.ANNOUNCE}),
    E.DEESCALATE: frozenset({Effect.ANNOUNCE}),
    E.UPDATE: frozenset({Effect.ANNOUNCE}),
    E.ACKNOWLEDGE: frozenset({Effect.ANNOUNCE}),
    E.SHELVE: frozenset({Effect.ANNOUNCE}),
    E.UNSHELVE: frozenset({Effect.NOTIFY, Effect.ANNOUNCE}),
    E.CLEAR: frozenset({Effect.NOTIFY, Effect.ANNOUNCE}),
    E.RESOLVE: frozenset({Effect.NOTIFY, Effect.ANNOUNCE}),
}


class TransitionError(ValueError):
    """An event the alert's state does not allow; the message says what is allowed."""

    def __init__(self, state: AlertState, event: AlertEvent) -> None:
        self.state, self.event = state, event
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is state)
        super().__init__(
            f"a {state.value} alert cannot take '{event.value}'; allowed: "
            + (", ".join(allowed) if allowed else "nothing (it is closed)")
        )


@dataclass(frozen=True, slots=True)
class Transition:
    before: AlertState
    event: AlertEvent
    after: AlertState
    effects: frozenset[Effect]


def apply(state: AlertState | str, event: AlertEvent) -> Transition:
    """The transition ``event`` makes from ``state``; raises TransitionError if illegal."""
    src = AlertState(state)
    dst = TRANSITIONS.get((src, event))
    if dst is None:
        raise TransitionError(src, event)
    return Transition(src, event, dst, EFFECTS[event])
