"""Late data grouped by cause, on plain inputs: one device late is no alarm, many behind
one node are one alarm about that uplink, many elsewhere one alarm about ingest; a quiet
device and a backlog still arriving are not late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.late_data import late_devices, late_groups
from core.storage.alert_inputs import Liveness

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _row(d: str, *, age: timedelta, arrived_ago: timedelta = timedelta()) -> Liveness:
    return Liveness(d, "flood_gauge", d, NOW - arrived_ago, NOW - age, {})


def _late(rows: list[Liveness], advanced: dict[str, datetime] | None = None) -> list[str]:
    found = late_devices(
        rows,
        NOW,
        silence=lambda kind: timedelta(minutes=15),
        advanced=advanced or {},
        started=NOW - 10 * HOUR,
        backlog_window=timedelta(minutes=2),
    )
    return [r.device_id for r in found]


def test_only_data_that_arrived_already_old_and_is_not_still_catching_up_is_late() -> None:
    rows = [
        _row("LATE", age=16 * HOUR),
        _row("QUIET", age=20 * timedelta(minutes=1), arrived_ago=20 * timedelta(minutes=1)),
        _row("CURRENT", age=timedelta(minutes=1)),
        _row("CATCHING-UP", age=2 * HOUR),
    ]
    assert _late(rows, {"CATCHING-UP": NOW - timedelta(seconds=30)}) == ["LATE"]


def test_groups_by_uplink_then_ingest_and_none_for_a_single_device() -> None:
    uplinks = {"A1": "NODE-A", "A2": "NODE-A", "A3": "NODE-A", "B1": "NODE-B"}
    rows = [_row(d, age=3 * HOUR) for d in ("A1", "A2", "A3", "B1", "X1", "X2")]

    def groups(fleet_min: int) -> list[tuple[str, list[str]]]:
        found = late_groups(rows, uplink_of=uplinks.get, uplink_min=3, fleet_min=fleet_min)
        return [(g.subject, [r.device_id for r in g.devices]) for g in found]

    assert groups(fleet_min=3) == [
        ("uplink:NODE-A", ["A1", "A2", "A3"]),
        ("ingest", ["B1", "X1", "X2"]),
    ]
    assert groups(fleet_min=5) == [("uplink:NODE-A", ["A1", "A2", "A3"])]
    single = late_groups(rows[:1], uplink_of=uplinks.get, uplink_min=3, fleet_min=5)
    assert single == []
