"""Flood warning levels for one gauge's episode: rise at a threshold at once; step down only
when the water is clearly below the threshold (the deadband, ``hysteresis_cm``) and has stayed
there for the station's minimum dwell, measured in reading time.

So one low reading never ends a flood, and two feeds that mix (one high, one low) cannot make
the level chatter: every reading at the current level restarts the dwell. Readings older than
the newest one judged (a backlog arriving shuffled) never move the level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.config import FloodThresholds
from alerts.vocabulary import FloodLevel

LEVELS = tuple(FloodLevel)


def next_level(value: float, current: FloodLevel | str, th: FloodThresholds) -> FloodLevel:
    """The level ``value`` calls for from ``current``, with the deadband but no dwell."""
    bounds = (th.waspada, th.siaga, th.awas)
    raw = sum(1 for b in bounds if value >= b)
    cur = FloodLevel(current).rank if current in FloodLevel.__members__ else 0
    if raw >= cur:
        return LEVELS[raw]
    new = cur
    while new > raw and value < bounds[new - 1] - th.hysteresis_cm:
        new -= 1
    return LEVELS[new]


def threshold_of(level: FloodLevel | str, th: FloodThresholds) -> float | None:
    return {
        FloodLevel.WASPADA: th.waspada,
        FloodLevel.SIAGA: th.siaga,
        FloodLevel.AWAS: th.awas,
    }.get(FloodLevel(level))


@dataclass(frozen=True, slots=True)
class GaugeState:
    level: FloodLevel = FloodLevel.NORMAL
    newest: datetime | None = None
    """Reading time of the newest reading judged."""
    pending: FloodLevel | None = None
    """A lower level the water has called for since ``pending_since``, not yet held long
    enough; the highest such level seen since then."""
    pending_since: datetime | None = None


def step(state: GaugeState, value: float, t: datetime, th: FloodThresholds) -> GaugeState:
    """The gauge's state after a reading of ``value`` cm at reading time ``t``."""
    if state.newest is not None and t < state.newest:
        return state
    target = next_level(value, state.level, th)
    if target.rank >= state.level.rank:
        return GaugeState(target, t)
    if state.pending is None or state.pending_since is None:
        pending, since = target, t
    else:
        pending = max(state.pending, target, key=lambda lv: lv.rank)
        since = state.pending_since
    if t - since >= timedelta(minutes=th.dwell_min):
        return GaugeState(pending, t)
    return GaugeState(state.level, t, pending, since)
