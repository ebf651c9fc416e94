"""A batch's readings as runs: the consecutive readings of one device, as ingest lists a
message's readings.

The per-device passes over a batch (latest state, rollup hours, the live picture) cost a
Python step per reading. A backlog message brings tens or hundreds of readings of one
device, so those passes work per run there, with the per-reading work left to C (``map``,
``min``, ``max`` over a run's times), and cost follows messages rather than readings. Live
traffic (a run per reading, devices in turn) keeps the per-reading passes, which are cheaper
than runs of one: :func:`runs_of` says which a batch is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby, islice
from operator import attrgetter, le, ne

from core.wire import Reading

LONG = 8
"""Readings per run, on average, from which a batch is worked per run."""

_ID = attrgetter("device_id")
_DEVICE_KIND = attrgetter("device_id", "kind")
_TIME = attrgetter("time")


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive readings of one device (and kind) in a batch."""

    device_id: str
    kind: str
    readings: list[Reading]
    times: list[datetime]
    ordered: bool
    """Times never go back within the run (ties allowed)."""


def runs_of(readings: Sequence[Reading], long: int = LONG) -> list[Run] | None:
    """The batch's runs in batch order, or ``None`` when they average under ``long``
    readings (the per-reading passes are cheaper there)."""
    n = len(readings)
    if not n or n < long:
        return None
    ids = list(map(_ID, readings))
    changes = sum(map(ne, ids, islice(ids, 1, None)))
    if n < long * (changes + 1):
        return None
    out = []
    for (device_id, kind), group in groupby(readings, _DEVICE_KIND):
        run = list(group)
        times = list(map(_TIME, run))
        ordered = all(map(le, times, islice(times, 1, None)))
        out.append(Run(device_id, kind, run, times, ordered))
    return out
