"""Raises and clears alerts from findings; notifies and announces only when something changed.

A finding is a rule, a subject and its facts. The sink derives the priority and list rank
(alerts/policy.py), renders the texts in both languages (alerts/messages.py), and moves the
alert through the lifecycle in one transaction with its history row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from alerts.messages import render
from alerts.notify import Dispatcher, Notification
from alerts.policy import priority_of
from alerts.vocabulary import SEVERITY_OF, FloodLevel, Priority, Rule
from core.storage.alerts import (
    Alert,
    Change,
    active_alerts,
    clear_active,
    raise_alert,
    unshelve_due,
)
from core.storage.events import announce


def _jsonable(facts: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()}


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's verdict that ``subject`` is in alarm, with the facts its texts are made of."""

    rule: Rule
    subject: str
    device_id: str | None
    facts: dict[str, Any]
    variant: str = ""
    level: FloodLevel | None = None
    affected: int = 1
    value: float | None = None
    observed_at: datetime | None = None


class AlertSink:
    def __init__(self, pool: asyncpg.Pool, dispatcher: Dispatcher, *, tz: str) -> None:
        self._pool = pool
        self._dispatcher = dispatcher
        self._tz = tz
        self.active: dict[tuple[str, str], Alert] = {}

    async def load(self) -> None:
        """Re-read standing alerts (operators may have resolved some through the API)."""
        self.active = {(a.rule, a.subject): a for a in await active_alerts(self._pool)}

    def is_open(self, rule: Rule, subject: str) -> bool:
        """Whether ``clear`` would have anything to do (no await on the hot path)."""
        return (rule, subject) in self.active

    def subjects(self, rule: Rule) -> set[str]:
        return {s for (r, s) in self.active if r == rule}

    def peak(self, rule: Rule, subject: str) -> tuple[float | None, datetime | None]:
        cur = self.active.get((rule, subject))
        return (None, None) if cur is None else (cur.peak_value, cur.peak_at)

    async def raise_(
        self,
        rule: Rule,
        subject: str,
        *,
        device_id: str | None,
        facts: dict[str, Any],
        variant: str = "",
        level: FloodLevel | None = None,
        affected: int = 1,
        value: float | None = None,
        observed_at: datetime | None = None,
    ) -> None:
        await self.raise_all(
            [
                Finding(
                    rule,
                    subject,
                    device_id=device_id,
                    facts=facts,
                    variant=variant,
                    level=level,
                    affected=affected,
                    value=value,
                    observed_at=observed_at,
                )
            ]
        )

    async def raise_all(self, findings: Sequence[Finding]) -> None:
        """Raise (open or move) each finding's alert, all in one transaction: a rule judging
        a batch moves many alerts at once (a rising river's rate changes with every
        reading), and a commit each cost a round trip and a WAL flush per alert. Findings
        that change nothing are passed over without a query; the changes are announced in
        one notification."""
        todo: list[tuple[Finding, Priority, int, str, str, dict[str, Any]]] = []
        for f in findings:
            priority, rank = priority_of(f.rule, level=f.level, affected=f.affected)
            message, message_en = render(f.rule, f.facts, tz=self._tz, variant=f.variant)
            details = _jsonable(f.facts)
            cur = self.active.get((f.rule, f.subject))
            new_peak = f.value is not None and (
                cur is None or cur.peak_value is None or f.value > cur.peak_value
            )
            if (
                cur is not None
                and not new_peak
                and (cur.priority, cur.rank, cur.level, cur.message, cur.details)
                == (priority, rank, f.level, message, details)
            ):
                continue
            todo.append((f, priority, rank, message, message_en, details))
        if not todo:
            return
        moved: list[tuple[Finding, Alert, Change]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            for f, priority, rank, message, message_en, details in todo:
                alert, change = await raise_alert(
                    conn,
                    rule=f.rule,
                    subject=f.subject,
                    device_id=f.device_id,
                    priority=priority,
                    severity=SEVERITY_OF[priority],
                    rank=rank,
                    message=message,
                    message_en=message_en,
                    details=details,
                    level=f.level,
                    value=f.value,
                    observed_at=f.observed_at,
                )
                moved.append((f, alert, change))
        changed = []
        for f, alert, change in moved:
            self.active[(f.rule, f.subject)] = alert
            if change in ("opened", "escalated"):
                self._dispatcher.submit(Notification(change, alert.as_json()))
            if change != "unchanged":
                changed.append(alert.as_json())
        if changed:
            await announce(self._pool, "alert", changed)

    async def clear(
        self,
        rule: Rule,
        subject: str,
        note: str,
        *,
        observed_at: datetime | None = None,
        value: float | None = None,
    ) -> None:
        if (rule, subject) not in self.active:
            return
        self.active.pop((rule, subject))
        async with self._pool.acquire() as conn, conn.transaction():
            alert = await clear_active(
                conn, rule=rule, subject=subject, note=note, observed_at=observed_at, value=value
            )
        if alert is not None:
            self._dispatcher.submit(Notification("resolved", alert.as_json()))
            await announce(self._pool, "alert", [alert.as_json()])

    async def return_shelved(self, now: datetime) -> list[Alert]:
        """Shelved alerts whose time is up come back (``returned``), notified and announced."""
        async with self._pool.acquire() as conn, conn.transaction():
            back = await unshelve_due(conn, now)
        for a in back:
            self.active[(a.rule, a.subject)] = a
            self._dispatcher.submit(Notification("returned", a.as_json()))
        if back:
            await announce(self._pool, "alert", [a.as_json() for a in back])
        return back
