"""Flood warning levels with hysteresis: rise at a threshold, fall only clearly below it."""

from __future__ import annotations

from alerts.config import FloodThresholds

LEVELS = ("NORMAL", "WASPADA", "SIAGA", "AWAS")
SEVERITY = {"WASPADA": "info", "SIAGA": "warning", "AWAS": "critical"}


def next_level(value: float, current: str, th: FloodThresholds) -> str:
    bounds = (th.waspada, th.siaga, th.awas)
    raw = sum(1 for b in bounds if value >= b)
    cur = LEVELS.index(current) if current in LEVELS else 0
    if raw >= cur:
        return LEVELS[raw]
    new = cur
    while new > raw and value < bounds[new - 1] - th.hysteresis_cm:
        new -= 1
    return LEVELS[new]


def threshold_of(level: str, th: FloodThresholds) -> float | None:
    return {"WASPADA": th.waspada, "SIAGA": th.siaga, "AWAS": th.awas}.get(level)
