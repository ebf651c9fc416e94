"""The node rules as data: when a window trips, clears, or sits in the deadband."""

from __future__ import annotations

from alerts.config import AlertConfig
from alerts.node_rules import node_rules
from alerts.vocabulary import Rule
from core.storage.alert_inputs import NodeWindow


def test_latency_trips_on_the_average_and_clears_only_below_the_deadband() -> None:
    latency, _ = node_rules(AlertConfig())  # 100 ms limit, 80 ms clear, 5 samples
    assert latency.rule is Rule.NODE_LATENCY
    assert latency.trips(NodeWindow("N", 5, 101.0, 20.0)) is True
    assert latency.trips(NodeWindow("N", 4, 150.0, 120.0)) is None  # too few samples yet
    assert latency.trips(NodeWindow("N", 6, 90.0, 20.0)) is None  # deadband: stays as it is
    assert latency.trips(NodeWindow("N", 6, 79.0, 20.0)) is False
    assert latency.trips(NodeWindow("N", 0, None, None)) is None


def test_loss_trips_only_when_every_reading_of_the_window_was_over_the_limit() -> None:
    _, loss = node_rules(AlertConfig())  # 5 % limit on the minimum, clears under 2.5 % avg
    assert loss.rule is Rule.NODE_LOSS
    assert loss.trips(NodeWindow("N", 3, 9.0, 6.0)) is True
    assert loss.trips(NodeWindow("N", 3, 9.0, 0.0)) is None  # one clean reading: no alarm
    assert loss.trips(NodeWindow("N", 3, 2.0, 0.0)) is False
