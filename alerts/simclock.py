"""The clock a device's silence is judged by: the wall clock, or its simulation's.

A simulation run faster than real time stamps its readings in the past and moves its own
clock ``speed`` times faster than the wall: judged by the wall clock, a node down for six
simulated hours at ``--speed 3600`` is silent for six seconds and never raises
``node_down``. Devices that ``citysense simulate`` registered (registry batch
``simulate:<PREFIX>``) are therefore judged by their run's clock: the newest reading time
of any device in that batch (never past the wall clock), against each device's newest
reading time. Every other device keeps the wall clock and the time its data arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

SIMULATED_BATCH = "simulate:"
"""Registry batch prefix of simulated devices (simulators/registration.py writes it)."""


class Seen(Protocol):
    @property
    def device_id(self) -> str: ...
    @property
    def batch(self) -> str | None: ...
    @property
    def time(self) -> datetime: ...
    @property
    def received_at(self) -> datetime: ...


def quiet_for(rows: Sequence[Seen], now: datetime) -> dict[str, float]:
    """Seconds each device has been quiet, by the clock that applies to it."""
    runs: dict[str, datetime] = {}
    for r in rows:
        if r.batch and is_simulated(r):
            runs[r.batch] = max(runs.get(r.batch, r.time), r.time)
    out: dict[str, float] = {}
    for r in rows:
        if r.batch in runs:
            out[r.device_id] = (min(runs[r.batch], now) - r.time).total_seconds()
        else:
            out[r.device_id] = (now - r.received_at).total_seconds()
    return out


def is_simulated(row: Seen) -> bool:
    return bool(row.batch and row.batch.startswith(SIMULATED_BATCH))


def last_seen(row: Seen) -> datetime:
    """When the device was last heard of, by the clock that applies to it."""
    return row.time if is_simulated(row) else row.received_at
