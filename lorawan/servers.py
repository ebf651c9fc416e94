"""The two network servers' MQTT integrations: uplink events in, downlinks out.

ChirpStack v4 (JSON marshaler): uplinks on ``application/{application_id}/device/{dev_eui}
/event/up`` with ``deviceInfo.devEui``, ``time``, ``fCnt``, ``fPort``, ``data`` (base64),
``object`` (decoded, when the device profile has a codec) and ``rxInfo`` (one entry per
receiving gateway, with ``gatewayId`` and ``gwTime``/``nsTime``); downlinks are enqueued by
publishing ``{"devEui", "confirmed", "fPort", "data"}`` to ``application/{application_id}
/device/{dev_eui}/command/down``.

The Things Stack v3: uplinks on ``v3/{application_id}[@{tenant}]/devices/{device_id}/up``
with ``end_device_ids.dev_eui``, ``received_at``, ``uplink_message.f_cnt``, ``f_port``,
``frm_payload`` (base64), ``decoded_payload`` (when a payload formatter is set) and
``rx_metadata`` (per gateway, ``gateway_ids.gateway_id``, ``time``); downlinks are pushed
with ``{"downlinks": [{"f_port", "frm_payload", "priority"}]}`` to ``v3/{application_id}
[@{tenant}]/devices/{device_id}/down/push``.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Server(StrEnum):
    CHIRPSTACK = "chirpstack"
    TTS = "tts"


class UplinkError(ValueError):
    """An event that is not a usable uplink; the message says why."""


@dataclass(frozen=True, slots=True)
class Uplink:
    dev_eui: str
    """Lower-case, 16 hex digits."""
    time: datetime
    f_cnt: int | None
    f_port: int | None
    data: bytes
    decoded: dict[str, Any] | None
    gateways: tuple[str, ...]
    application: str
    """ChirpStack application id / TTS application id (with @tenant): the downlink's address."""
    ns_device_id: str
    """ChirpStack: the DevEUI; TTS: the end device id."""


UPLINK_FILTER = {
    Server.CHIRPSTACK: "application/+/device/+/event/up",
    Server.TTS: "v3/+/devices/+/up",
}


def _time(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    text = raw.strip().replace("Z", "+00:00")
    # Go prints nanoseconds; Python keeps microseconds.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = tail[: len(tail) - len(tail.lstrip("0123456789"))]
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _eui(raw: Any) -> str:
    text = str(raw or "").replace("-", "").replace(":", "").lower()
    if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
        raise UplinkError(f"DevEUI {raw!r} is not 16 hex digits")
    return text


def _b64(raw: Any) -> bytes:
    if raw in (None, ""):
        return b""
    try:
        return base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError):
        raise UplinkError("payload is not base64") from None


def _earliest(times: list[datetime | None]) -> datetime | None:
    found = [t for t in times if t is not None]
    return min(found) if found else None


def parse_uplink(server: Server, topic: str, payload: bytes) -> Uplink:
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise UplinkError("event is not JSON") from None
    if not isinstance(doc, dict):
        raise UplinkError("event is not a JSON object")
    parts = topic.split("/")
    if server is Server.CHIRPSTACK:
        info = doc.get("deviceInfo") or {}
        dev_eui = _eui(info.get("devEui") or (parts[3] if len(parts) > 3 else None))
        rx = [r for r in doc.get("rxInfo") or [] if isinstance(r, dict)]
        time = (
            _earliest([_time(r.get("gwTime")) for r in rx])
            or _time(doc.get("time"))
            or _earliest([_time(r.get("nsTime")) for r in rx])
        )
        decoded = doc.get("object")
        uplink = Uplink(
            dev_eui,
            _need_time(time),
            _int(doc.get("fCnt")),
            _int(doc.get("fPort")),
            _b64(doc.get("data")),
            decoded if isinstance(decoded, dict) and decoded else None,
            tuple(str(r.get("gatewayId", "")) for r in rx),
            str(info.get("applicationId") or (parts[1] if len(parts) > 1 else "")),
            dev_eui,
        )
        return uplink
    ids = doc.get("end_device_ids") or {}
    up = doc.get("uplink_message")
    if not isinstance(up, dict):
        raise UplinkError("TTS event has no uplink_message")
    meta = [r for r in up.get("rx_metadata") or [] if isinstance(r, dict)]
    time = (
        _earliest([_time(r.get("time")) for r in meta])
        or _time(up.get("received_at"))
        or _time(doc.get("received_at"))
    )
    decoded = up.get("decoded_payload")
    app = (ids.get("application_ids") or {}).get("application_id")
    return Uplink(
        _eui(ids.get("dev_eui")),
        _need_time(time),
        _int(up.get("f_cnt")),
        _int(up.get("f_port")),
        _b64(up.get("frm_payload")),
        decoded if isinstance(decoded, dict) and decoded else None,
        tuple(str((r.get("gateway_ids") or {}).get("gateway_id", "")) for r in meta),
        parts[1] if len(parts) > 1 else str(app or ""),
        str(ids.get("device_id") or (parts[3] if len(parts) > 3 else "")),
    )


def _need_time(t: datetime | None) -> datetime:
    if t is None:
        raise UplinkError("event carries no usable time (gateway or network server)")
    return t


def _int(raw: Any) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


CORRELATION_PREFIX = "citysense:command:"

ACK_FILTER = {
    Server.CHIRPSTACK: "application/+/device/+/event/ack",
    Server.TTS: "v3/+/devices/+/down/ack",
}


def downlink(
    server: Server,
    *,
    application: str,
    ns_device_id: str,
    dev_eui: str,
    fport: int,
    data: bytes,
    command_id: str,
) -> tuple[str, bytes]:
    """(topic, payload) that enqueues ``data`` for the device at its network server, as a
    confirmed downlink whose acknowledgement names ``command_id``."""
    b64 = base64.b64encode(data).decode()
    if server is Server.CHIRPSTACK:
        topic = f"application/{application}/device/{dev_eui}/command/down"
        body: dict[str, Any] = {
            "id": command_id,  # the queue item id its ack event names
            "devEui": dev_eui,
            "confirmed": True,
            "fPort": fport,
            "data": b64,
        }
    else:
        topic = f"v3/{application}/devices/{ns_device_id}/down/push"
        body = {
            "downlinks": [
                {
                    "f_port": fport,
                    "frm_payload": b64,
                    "priority": "NORMAL",
                    "confirmed": True,
                    "correlation_ids": [CORRELATION_PREFIX + command_id],
                }
            ]
        }
    return topic, json.dumps(body, separators=(",", ":")).encode()


def _uuid(raw: str) -> str | None:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Ack:
    command_id: str
    dev_eui: str | None
    acknowledged: bool


def parse_ack(server: Server, topic: str, payload: bytes) -> Ack | None:
    """The device's acknowledgement of a confirmed downlink we sent, or None if not ours."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    if server is Server.CHIRPSTACK:
        cid = doc.get("queueItemId")
        info = doc.get("deviceInfo") or {}
        cid = _uuid(cid) if isinstance(cid, str) else None
        if cid is None:
            return None
        eui = info.get("devEui") if isinstance(info, dict) else None
        return Ack(cid, str(eui).lower() if eui else None, doc.get("acknowledged") is True)
    ids = doc.get("end_device_ids") or {}
    inner = doc.get("downlink_ack") or {}
    found = [*(doc.get("correlation_ids") or []), *(inner.get("correlation_ids") or [])]
    for c in found:
        cid = _uuid(c[len(CORRELATION_PREFIX) :]) if isinstance(c, str) else None
        if cid is not None and c.startswith(CORRELATION_PREFIX):
            eui = ids.get("dev_eui") if isinstance(ids, dict) else None
            return Ack(cid, str(eui).lower() if eui else None, True)
    return None
