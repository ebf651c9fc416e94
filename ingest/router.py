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
from core.storage.device_status import StatusChange
from core.storage.devices import DeviceRow
from core.wire import DecodeLimits, Reading, Rejection, Topics, decode_telemetry


@dataclass(slots=True)  # not frozen: built for every message, and frozen init costs 2.5x
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int = 0
    """Which broker connection delivered it: acks go only on the connection they came from."""


@dataclass(slots=True)
class Routed:
    readings: list[Reading] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    statuses: list[StatusChange] = field(default_factory=list)
    repeated: int = 0
    """Readings of messages repeated in the batch, left out as duplicates before decoding."""


STATUS_VALUES = {"online": True, "offline": False}


def parse_status(payload: bytes) -> bool | None:
    """``online``/``offline`` (plain, or as a JSON string); ``None`` if it is neither."""
    text = payload.strip()
    if text.startswith(b'"') and text.endswith(b'"'):
        text = text[1:-1]
    return STATUS_VALUES.get(text.decode("utf-8", "replace").lower())


SHOWN_ITEMS = 5
"""Item indexes listed per reason in a summarised dead letter."""


def summarise(rejections: Sequence[Rejection], items: int) -> tuple[str, str]:
    """One dead letter's code and reason for all of a message's rejected items.

    A single rejection keeps its own code and reason. Several: the most frequent code, and
    a count per code with its first few item indexes, then the first item's full reason.
    """
    if len(rejections) == 1:
        return rejections[0].code, rejections[0].reason
    by_code: dict[str, list[int | None]] = {}
    for r in rejections:
        by_code.setdefault(r.code, []).append(r.item)
    code = max(by_code, key=lambda c: len(by_code[c]))  # first seen wins a tie
    parts = []
    for c, indexes in by_code.items():
        shown = ", ".join(str(i) for i in indexes[:SHOWN_ITEMS] if i is not None)
        more = ", ..." if len(indexes) > SHOWN_ITEMS else ""
        parts.append(f"{c} x{len(indexes)} (items {shown}{more})")
    return code, (
        f"{len(rejections)} of {items} items rejected: {'; '.join(parts)}."
        f" First: {rejections[0].reason}"
    )


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
    known = dict(kinds.items())  # plain dict lookups per message (a Mapping's are Python calls)

    def reject(m: Incoming, device_id: str | None, code: str, reason: str) -> None:
        out.dead_letters.append(DeadLetter(now, m.topic, device_id, code, reason, m.payload))

    # Telemetry messages taken whole, by (topic, payload): their readings count
    accepted: dict[tuple[str, bytes], int] = {}
    for m in messages:
        key = (m.topic, m.payload)
        repeat = accepted.get(key)
        if repeat is not None:
            # A QoS 1 redelivery (or a resend) of a message already taken whole in this
            # batch: the same readings again, counted as duplicates without decoding. Left
            # out here, the batch keeps the COPY fast path, which a repeated (device, time)
            # sends to the slower INSERT .. ON CONFLICT fallback. (A refused message is
            # decoded and dead-lettered again each time: the operator sees every one.)
            out.repeated += repeat
            continue
        try:
            parts = topics.parse(m.topic)
            if parts is None:
                if topics.is_other_channel(m.topic):
                    continue  # a watermark, a command or a reply: not ingest's to store
                reject(
                    m,
                    None,
                    "bad_topic",
                    f"topic is not {topics.root}/<kind>/<device_id>/telemetry (or /status);"
                    " the broker accepted it but nothing stores it: publish on your"
                    " device's telemetry topic",
                )
                continue
            if parts.channel == "status" and not m.payload:
                continue  # an empty retained message clears the retained status; nothing to keep
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
                    f"device {parts.device_id!r} is decommissioned, which is final; register"
                    " the replacement device under its own label and send from that",
                )
                continue
            kind = known.get(device.kind)
            if parts.kind != device.kind or kind is None:
                reject(
                    m,
                    parts.device_id,
                    "wrong_kind",
                    f"device {parts.device_id!r} is registered as {device.kind!r} but"
                    f" published on a {parts.kind!r} topic",
                )
                continue
            if parts.channel == "status":
                online = parse_status(m.payload)
                if online is None:
                    reject(
                        m,
                        parts.device_id,
                        "invalid",
                        "status payload must be 'online' or 'offline' (retained, QoS 1)",
                    )
                else:
                    out.statuses.append(StatusChange(parts.device_id, device.kind, online, now))
                continue
            readings, rejections = decode_telemetry(kind, parts.device_id, m.payload, now, limits)
            out.readings.extend(readings)
            if rejections:
                code, reason = summarise(rejections, len(readings) + len(rejections))
                reject(m, parts.device_id, code, reason)
            else:
                accepted[key] = len(readings)
        except Exception as exc:  # a bad message never stops the rest
            reject(m, None, "internal", f"ingest could not process this message: {exc!r}"[:500])
    return out
