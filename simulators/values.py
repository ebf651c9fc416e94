"""Plausible telemetry drawn from a kind's declaration (typical ranges, choices)."""

from __future__ import annotations

import random

from core.kinds import DeviceKind, FieldType
from core.wire import Value


def typical_values(kind: DeviceKind, rng: random.Random) -> dict[str, Value]:
    values: dict[str, Value] = {}
    for f in kind.fields:
        if f.type is FieldType.ENUM:
            values[f.name] = f.choices[0]
        elif f.type is FieldType.BOOL:
            values[f.name] = False
        else:
            lo, hi = f.typical or f.valid or (0.0, 1.0)
            x = rng.uniform(lo, hi)
            values[f.name] = round(x) if f.type is FieldType.INT else round(x, 3)
    return values
