"""Late data, grouped by cause: pure, no I/O.

Late data of one device is a state on that device (/state shows ``stale``), not an alarm.
Many devices late at once is one alarm about the cause: one per uplink node with
``uplink_min`` late devices behind it, and one about ingest for the rest when ``fleet_min``
or more are late. A device is late when its newest reading was already old when it arrived
(a quiet device is not late, it is silent) and no backlog has moved it forward lately.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.storage.alert_inputs import Liveness


@dataclass(frozen=True, slots=True)
class LateGroup:
    subject: str
    """``uplink:<node>`` or ``ingest``: the alarm's subject."""
    variant: str
    """The message template: ``uplink`` or ``ingest``."""
    cause: str
    devices: tuple[Liveness, ...]


def late_devices(
    rows: list[Liveness],
    now: datetime,
    *,
    silence: Callable[[str], timedelta],
    advanced: Mapping[str, datetime],
    started: datetime,
    backlog_window: timedelta,
) -> list[Liveness]:
    """The reporting devices whose data is late (see the module docstring)."""
    late: list[Liveness] = []
    for r in rows:
        limit = silence(r.kind)
        if now - r.time <= limit:
            continue
        if r.received_at - r.time <= limit:
            continue  # it was current when it arrived: a quiet device, not late data
        if now - advanced.get(r.device_id, started) <= backlog_window:
            continue  # a backlog is still arriving: give it time
        late.append(r)
    return late


def late_groups(
    late: list[Liveness],
    *,
    uplink_of: Callable[[str], str | None],
    uplink_min: int,
    fleet_min: int,
) -> list[LateGroup]:
    """One group per uplink with ``uplink_min`` late devices behind it, then one for the
    rest if ``fleet_min`` or more; fewer late devices make no group (no alarm)."""
    by_uplink: dict[str, list[Liveness]] = {}
    for r in late:
        up = uplink_of(r.device_id)
        if up is not None:
            by_uplink.setdefault(up, []).append(r)
    groups: list[LateGroup] = []
    explained: set[str] = set()
    for up, group in sorted(by_uplink.items()):
        if len(group) >= uplink_min:
            groups.append(LateGroup(f"uplink:{up}", "uplink", up, tuple(group)))
            explained |= {r.device_id for r in group}
    rest = tuple(r for r in late if r.device_id not in explained)
    if len(rest) >= fleet_min:
        groups.append(LateGroup("ingest", "ingest", "ingest", rest))
    return groups
