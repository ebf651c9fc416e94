"""Broken firmware: the ways real devices get the wire contract wrong.

Each defect turns one good reading into bytes that ingest must reject (and keep in
``dead_letters``) without losing the device's good messages around it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from core.wire import Value
from simulators.models import Item

DEFECTS = (
    "epoch_seconds",
    "no_offset",
    "nan",
    "number_as_text",
    "truncated",
    "unknown_field",
    "out_of_range",
)


def _plain(item: Item) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for k, v in item.items():
        out[k] = (
            v.astimezone(UTC).isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v
        )
    return out


def malformed(item: Item, n: int) -> bytes:
    """The ``n``-th defect (cycling) applied to ``item``."""
    defect = DEFECTS[n % len(DEFECTS)]
    ts = item["ts"]
    assert isinstance(ts, datetime)
    doc = _plain(item)
    first = next(k for k in doc if k != "ts")
    if defect == "epoch_seconds":
        doc["ts"] = int(ts.timestamp())
    elif defect == "no_offset":
        doc["ts"] = ts.astimezone(UTC).replace(tzinfo=None).isoformat()
    elif defect == "nan":
        return json.dumps({**doc, first: float("nan")}).encode()
    elif defect == "number_as_text":
        number = next((k for k, v in doc.items() if isinstance(v, float) and k != "ts"), first)
        doc[number] = str(doc[number])
    elif defect == "truncated":
        raw = json.dumps(doc).encode()
        return raw[: len(raw) // 2]
    elif defect == "unknown_field":
        doc[first.upper()] = doc.pop(first)
    else:
        doc[first] = 1e12  # a sensor's error code, far outside any valid range
    return json.dumps(doc, separators=(",", ":")).encode()
