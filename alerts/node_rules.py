"""The network-node rules as data: a statistic of one field over a window of readings, a
limit that trips the alarm and a lower one that clears it (the deadband between them keeps
a node hovering at the limit from chattering)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from alerts.config import AlertConfig
from alerts.vocabulary import Rule
from core.storage.alert_inputs import NodeWindow


@dataclass(frozen=True, slots=True)
class WindowRule:
    rule: Rule
    field: str
    """The node reading's field (a column of readings_network_node)."""
    window_min: float
    min_samples: int
    """Readings the window must hold before the rule may trip."""
    trip_on: Literal["avg", "min"]
    """The statistic that must exceed ``limit``: ``min`` means every reading did."""
    limit: float
    clear_below: float
    """The window's average under this clears the alarm."""
    digits: int
    """Decimals of the average in the alert's text."""
    clear_note: str

    def trips(self, w: NodeWindow) -> bool | None:
        """True: in alarm; False: clear; None: neither (inside the deadband, or no data)."""
        stat = w.avg if self.trip_on == "avg" else w.min
        if w.avg is None or stat is None:
            return None
        if w.samples >= self.min_samples and stat > self.limit:
            return True
        if w.avg < self.clear_below:
            return False
        return None


def node_rules(c: AlertConfig) -> tuple[WindowRule, ...]:
    return (
        WindowRule(
            Rule.NODE_LATENCY,
            "latency",
            c.latency_window_min,
            c.latency_min_samples,
            "avg",
            c.latency_ms,
            c.latency_clear_ms,
            1,
            "latency back to normal",
        ),
        WindowRule(
            Rule.NODE_LOSS,
            "packet_loss",
            c.loss_window_min,
            c.loss_min_samples,
            "min",
            c.loss_pct,
            c.loss_clear_pct,
            2,
            "packet loss back to normal",
        ),
    )
