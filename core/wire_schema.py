"""JSON Schema of the wire contract, generated from the kind declarations.

Devices' firmware teams and integrators validate payloads against it without reading
Python; `citysense contract schema` prints it and the committed copy in
``docs/wire-contract.schema.json`` is checked against this generator by a test.
"""

from __future__ import annotations

from typing import Any

from core.kinds import DeviceKind, FieldType, KindRegistry

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
ISO_WITH_OFFSET = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"
EPOCH_MS_MIN = 946_684_800_000  # 2000-01-01: anything smaller is epoch seconds or garbage
EPOCH_MS_MAX = 4_102_444_800_000  # 2100-01-01 (exclusive)


def _field_schema(f: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if f.type is FieldType.FLOAT:
        doc["type"] = "number"
    elif f.type is FieldType.INT:
        doc["type"] = "integer"
    elif f.type is FieldType.BOOL:
        doc["type"] = "boolean"
    else:
        doc["enum"] = list(f.choices)
    if f.valid is not None and f.type in (FieldType.FLOAT, FieldType.INT):
        doc["minimum"], doc["maximum"] = f.valid
    description = f.description + (f" [{f.unit}]" if f.unit else "")
    if description:
        doc["description"] = description
    if f.unit:
        doc["x-unit"] = f.unit
    return doc


def _reading_schema(kind: DeviceKind) -> dict[str, Any]:
    return {
        "title": f"One {kind.label} reading",
        "type": "object",
        "required": ["ts"],
        "minProperties": 2,
        "additionalProperties": False,
        "properties": {
            "ts": {"$ref": "#/$defs/timestamp"},
            **{f.name: _field_schema(f) for f in kind.fields},
        },
    }


REPLY_STATUSES = ("delivered", "done", "failed")
"""What a device may say about a command (core copy of commands.model.REPLY_STATUSES)."""
REPLY_DETAIL_MAX = 200


def _command_schema(kind: DeviceKind) -> dict[str, Any]:
    variants = []
    for c in kind.commands:
        variants.append(
            {
                "title": f"{c.name}: {c.label}",
                "description": c.description,
                "type": "object",
                "required": ["id", "command", "args", "deadline"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "command": {"const": c.name},
                    "args": {
                        "type": "object",
                        "required": [a.name for a in c.args],
                        "additionalProperties": False,
                        "properties": {a.name: _field_schema(a) for a in c.args},
                    },
                    "deadline": {
                        "type": "string",
                        "pattern": ISO_WITH_OFFSET,
                        "description": "Do not act on the command after this time.",
                    },
                },
            }
        )
    return {"title": f"A command to a {kind.label}", "oneOf": variants}


def wire_schema(kinds: KindRegistry, *, topic_root: str = "citysense/v1") -> dict[str, Any]:
    """The whole contract: one ``<kind>.telemetry`` definition per kind, plus status;
    ``<kind>.command`` for kinds that accept commands, and the device's ``reply``."""
    defs: dict[str, Any] = {
        "timestamp": {
            "description": "The device's own time: ISO 8601 with a UTC offset, or epoch ms.",
            "oneOf": [
                {"type": "string", "pattern": ISO_WITH_OFFSET},
                {"type": "number", "minimum": EPOCH_MS_MIN, "exclusiveMaximum": EPOCH_MS_MAX},
            ],
        },
        "status": {
            "description": "Payload of the retained status topic (plain text, not JSON).",
            "enum": ["online", "offline"],
        },
        "stored": {
            "title": "Stored-up-to watermark (ingest writes, retained; the device reads)",
            "description": (
                "After each commit ingest publishes, retained, the newest device time of this"
                " device's readings stored so far. Keep every telemetry message until a"
                " watermark at or after its newest ts arrives; subscribe to this topic on"
                " every connect and, once the retained watermark has arrived, resend the"
                " kept messages newer than it (also any still unconfirmed after a minute)."
                " A watermark never un-confirms: keep the largest one seen."
            ),
            "type": "object",
            "required": ["stored_up_to", "stored_up_to_ms"],
            "properties": {
                "stored_up_to": {"type": "string", "pattern": ISO_WITH_OFFSET},
                "stored_up_to_ms": {
                    "type": "integer",
                    "minimum": EPOCH_MS_MIN,
                    "exclusiveMaximum": EPOCH_MS_MAX,
                },
            },
        },
        "reply": {
            "description": (
                "A device's answer to a command, on its reply topic (QoS 1): 'delivered' on"
                " receipt, then 'done' or 'failed' (with a short detail) once carried out."
            ),
            "type": "object",
            "required": ["id", "status"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "status": {"enum": list(REPLY_STATUSES)},
                "detail": {"type": "string", "maxLength": REPLY_DETAIL_MAX},
                "ts": {"$ref": "#/$defs/timestamp"},
            },
        },
    }
    topics: dict[str, Any] = {}
    for name in sorted(kinds):
        kind = kinds[name]
        defs[f"{name}.reading"] = _reading_schema(kind)
        defs[f"{name}.telemetry"] = {
            "title": f"{kind.label} telemetry message",
            "oneOf": [
                {"$ref": f"#/$defs/{name}.reading"},
                {
                    "type": "array",
                    "description": "A backlog: readings the device buffered while offline.",
                    "minItems": 1,
                    "items": {"$ref": f"#/$defs/{name}.reading"},
                },
            ],
        }
        topics[name] = {
            "telemetry": f"{topic_root}/{name}/{{device_id}}/telemetry",
            "telemetry_schema": f"#/$defs/{name}.telemetry",
            "status": f"{topic_root}/{name}/{{device_id}}/status",
            "status_schema": "#/$defs/status",
            "stored": f"{topic_root}/{name}/{{device_id}}/stored",
            "stored_schema": "#/$defs/stored",
            "interval_s": kind.interval_s,
        }
        if kind.commands:
            defs[f"{name}.command"] = _command_schema(kind)
            topics[name] |= {
                "commands": f"{topic_root}/{name}/{{device_id}}/commands",
                "commands_schema": f"#/$defs/{name}.command",
                "reply": f"{topic_root}/{name}/{{device_id}}/reply",
                "reply_schema": "#/$defs/reply",
            }
    return {
        "$schema": SCHEMA_DRAFT,
        "$id": "urn:citysense:wire:v1",
        "title": "Citysense MQTT wire contract v1",
        "description": (
            "Publish telemetry with QoS 1 to the kind's telemetry topic, one JSON object or an"
            " array of them; publish 'online' (retained) on connect and set 'offline'"
            " (retained) as the last will. device_id matches x-device-id-pattern. A broker"
            " acknowledgement is not storage: keep each message until the retained"
            " watermark on the stored topic covers it (store-and-forward). Commands"
            " arrive with QoS 1 on the kind's commands topic (subscribe with a persistent"
            " session to receive those sent while offline); answer each on the reply topic."
        ),
        "x-device-id-pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        "x-topics": topics,
        "anyOf": [{"$ref": f"#/$defs/{name}.telemetry"} for name in sorted(kinds)],
        "$defs": defs,
    }
