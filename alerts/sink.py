"""Raises and clears alerts from findings; notifies and announces only when something changed.

A finding is a rule, a subject and its facts. The sink derives the priority and list rank
(alerts/policy.py), renders the texts in both languages (alerts/messages.py), and moves the
alert through the lifecycle in one transaction with its history row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from alerts.messages import render
from alerts.notify import Dispatcher, Notification
from alerts.policy import priority_of
from alerts.vocabulary import SEVERITY_OF, FloodLevel, Rule
from core.storage.alerts import Alert, active_alerts, clear_active, raise_alert, unshelve_due
from core.storage.events import announce


def _jsonable(facts: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()}


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
        priority, rank = priority_of(rule, level=level, affected=affected)
        message, message_en = render(rule, facts, tz=self._tz, variant=variant)
        details = _jsonable(facts)
        cur = self.active.get((rule, subject))
        new_peak = value is not None and (
            cur is None or cur.peak_value is None or value > cur.peak_value
        )
        if (
            cur is not None
            and not new_peak
            and (cur.priority, cur.rank, cur.level, cur.message, cur.details)
            == (priority, rank, level, message, details)
        ):
            return
        async with self._pool.acquire() as conn, conn.transaction():
            alert, change = await raise_alert(
                conn,
                rule=rule,
                subject=subject,
                device_id=device_id,
                priority=priority,
                severity=SEVERITY_OF[priority],
                rank=rank,
                message=message,
                message_en=message_en,
                details=details,
                level=level,
                value=value,
                observed_at=observed_at,
            )
        self.active[(rule, subject)] = alert
        if change in ("opened", "escalated"):
            self._dispatcher.submit(Notification(change, alert.as_json()))
        if change != "unchanged":
            await announce(self._pool, "alert", [alert.as_json()])

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
