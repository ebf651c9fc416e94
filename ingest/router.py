"""Turns raw MQTT messages into readings to store and dead letters to keep.

Pure apart from the device lookup it is handed, so every rejection rule is testable
without a broker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.kinds import KindRegistry
from core.storage.dead_letters import DeadLetter
from core.storage.devices import DeviceRow
from core.wire import DecodeLimits, Reading, Topics, decode_telemetry


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int


@dataclass(slots=True)
class Routed:
    readings: list[Reading] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


def device_ids(topics: Topics, messages: Sequence[Incoming]) -> list[str]:
    ids = set()
    for m in messages:
        parts = topics.parse(m.topic)
        if parts is not None:
            ids.add(parts.device_id)
    return sorted(ids)


def route(
    messages: Sequence[Incoming],
    *,
    topics: Topics,
    kinds: KindRegistry,
    devices: Mapping[str, DeviceRow],
    limits: DecodeLimits,
    now: datetime,
) -> Routed:
    out = Routed()

    def reject(m: Incoming, device_id: str | None, code: str, reason: str) -> None:
        out.dead_letters.append(DeadLetter(now, m.topic, device_id, code, reason, m.payload))

    for m in messages:
        try:
            parts = topics.parse(m.topic)
            if parts is None or parts.channel != "telemetry":
                reject(
                    m, None, "bad_topic", f"topic is not {topics.root}/<kind>/<device_id>/telemetry"
                )
                continue
            device = devices.get(parts.device_id)
            if device is None:
                reject(
                    m,
                    parts.device_id,
                    "unknown_device",
                    f"device {parts.device_id!r} is not registered; register or claim it",
                )
                continue
            if device.status == "decommissioned":
                reject(
                    m,
                    parts.device_id,
                    "decommissioned",
                    f"device {parts.device_id!r} is decommissioned; re-activate it to ingest",
                )
                continue
            if parts.kind != device.kind or device.kind not in kinds:
                reject(
                    m,
                    parts.device_id,
                    "wrong_kind",
                    f"device {parts.device_id!r} is registered as {device.kind!r} but"
                    f" published on a {parts.kind!r} topic",
                )
                continue
            readings, rejections = decode_telemetry(
                kinds[device.kind], parts.device_id, m.payload, now, limits
            )
            out.readings.extend(readings)
            for rej in rejections:
                reject(m, parts.device_id, rej.code, rej.reason)
        except Exception as exc:  # a bad message never stops the rest
            reject(m, None, "internal", f"ingest could not process this message: {exc!r}"[:500])
    return out
