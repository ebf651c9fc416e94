"""Command and reply messages on the wire (see the README's wire contract).

Command, on ``<root>/<kind>/<id>/commands`` (QoS 1, MQTT 5 message expiry = seconds left
until the deadline)::

    {"id": "<uuid>", "command": "dim", "args": {"level": 50}, "deadline": "<ISO 8601>"}

Reply, on ``<root>/<kind>/<id>/reply`` (QoS 1)::

    {"id": "<uuid>", "status": "delivered" | "done" | "failed", "detail": "...", "ts": ...}
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from commands.model import CommandStatus, Reply
from core.wire_schema import REPLY_DETAIL_MAX
from devices.model import DEVICE_ID

MAX_REPLY_BYTES = 1024


class ReplyError(ValueError):
    """A reply that cannot be understood; the message says why."""


@dataclass(frozen=True, slots=True)
class ReplyTopic:
    kind: str
    device_id: str


class CommandTopics:
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")

    def commands(self, kind: str, device_id: str) -> str:
        return f"{self.root}/{kind}/{device_id}/commands"

    def reply(self, kind: str, device_id: str) -> str:
        return f"{self.root}/{kind}/{device_id}/reply"

    def reply_filter(self) -> str:
        return f"{self.root}/+/+/reply"

    def parse_reply(self, topic: str) -> ReplyTopic | None:
        if not topic.startswith(self.root + "/"):
            return None
        rest = topic[len(self.root) + 1 :].split("/")
        if len(rest) != 3 or rest[2] != "reply" or not DEVICE_ID.match(rest[1]):
            return None
        return ReplyTopic(rest[0], rest[1])


def encode_command(
    command_id: str, command: str, args: dict[str, Any], deadline: datetime
) -> bytes:
    body = {"id": command_id, "command": command, "args": args, "deadline": deadline.isoformat()}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_command(payload: bytes) -> dict[str, Any]:
    """For devices and simulators: the command as a dict (raises ValueError when broken)."""
    body = json.loads(payload)
    if not isinstance(body, dict) or not {"id", "command", "args", "deadline"} <= set(body):
        raise ValueError("not a command message")
    return body


def encode_reply(command_id: str, status: str, detail: str | None = None) -> bytes:
    body: dict[str, Any] = {"id": command_id, "status": status}
    if detail:
        body["detail"] = detail[:REPLY_DETAIL_MAX]
    return json.dumps(body, separators=(",", ":")).encode()


def decode_reply(payload: bytes) -> Reply:
    if len(payload) > MAX_REPLY_BYTES:
        raise ReplyError(f"reply is {len(payload)} bytes; at most {MAX_REPLY_BYTES}")
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReplyError("reply is not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise ReplyError("reply must be a JSON object")
    raw_id, status, detail = body.get("id"), body.get("status"), body.get("detail")
    try:
        command_id = str(uuid.UUID(str(raw_id)))
    except ValueError:
        raise ReplyError(f"reply id {raw_id!r} is not a command id (UUID)") from None
    if status not in ("delivered", "done", "failed"):
        raise ReplyError(f"reply status must be delivered, done or failed, not {status!r}")
    if detail is not None and not isinstance(detail, str):
        raise ReplyError("reply detail must be a string")
    return Reply(command_id, CommandStatus(status), detail[:REPLY_DETAIL_MAX] if detail else None)
