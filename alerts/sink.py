"""Raises and clears alerts; notifies and announces only when something changed."""

from __future__ import annotations

from typing import Any

import asyncpg

from alerts.notify import Dispatcher, Notification
from core.storage.alerts import Alert, active_alerts, raise_alert, resolve_active
from core.storage.events import announce


class AlertSink:
    def __init__(self, pool: asyncpg.Pool, dispatcher: Dispatcher) -> None:
        self._pool = pool
        self._dispatcher = dispatcher
        self.active: dict[tuple[str, str], Alert] = {}

    async def load(self) -> None:
        """Re-read active alerts (operators may have resolved some through the API)."""
        self.active = {(a.rule, a.subject): a for a in await active_alerts(self._pool)}

    def subjects(self, rule: str) -> set[str]:
        return {s for (r, s) in self.active if r == rule}

    async def raise_(
        self,
        rule: str,
        subject: str,
        *,
        device_id: str | None,
        severity: str,
        message: str,
        details: dict[str, Any],
        level: int = 0,
    ) -> None:
        cur = self.active.get((rule, subject))
        if (
            cur is not None
            and cur.severity == severity
            and cur.message == message
            and cur.details.get("level_rank", 0) == level
        ):
            return
        alert, change = await raise_alert(
            self._pool,
            rule=rule,
            subject=subject,
            device_id=device_id,
            severity=severity,
            message=message,
            details=details,
            level=level,
        )
        self.active[(rule, subject)] = alert
        if change in ("opened", "escalated"):
            self._dispatcher.submit(Notification(change, alert.as_json()))
        if change != "unchanged":
            await announce(self._pool, "alert", [alert.as_json()])

    async def clear(self, rule: str, subject: str, note: str) -> None:
        if (rule, subject) not in self.active:
            return
        self.active.pop((rule, subject))
        alert = await resolve_active(self._pool, rule=rule, subject=subject, by="system", note=note)
        if alert is not None:
            self._dispatcher.submit(Notification("resolved", alert.as_json()))
            await announce(self._pool, "alert", [alert.as_json()])
