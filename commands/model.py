"""Command lifecycle, targets and argument validation (derived from the kind declarations).

A command row moves ``queued -> sent -> delivered -> done | failed``; any row not yet
finished becomes ``expired`` at its deadline. ``queued``: stored, not yet accepted by the
broker; ``sent``: the broker acknowledged it (QoS 1) and holds it for the device;
``delivered``/``done``/``failed``: what the device replied.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.kinds import CommandSpec, DeviceKind, FieldType, KindRegistry
from core.wire_schema import REPLY_STATUSES


class CommandStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


REPLY = tuple(CommandStatus(s) for s in REPLY_STATUSES)
"""What a device may reply (delivered, done, failed); the wire schema declares the same."""


class TargetKind(StrEnum):
    DEVICE = "device"
    FEEDER = "feeder"
    DISTRICT = "district"
    KIND = "kind"


DEFAULT_TTL_S = 3600
MAX_TTL_S = 7 * 86400
MAX_TARGET_DEVICES = 20_000
_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.,()/'-]{0,99}$")


class CommandError(ValueError):
    """A command that cannot be sent; the message says what to change."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    value: str

    def __post_init__(self) -> None:
        if not _VALUE.match(self.value):
            raise CommandError(f"{self.kind.value}: {self.value!r} is not a valid name")

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.value}"


def kinds_accepting(kinds: KindRegistry, command: str) -> list[DeviceKind]:
    return [k for k in kinds.values() if k.command(command) is not None]


def spec_for(kinds: KindRegistry, command: str, kind: str | None = None) -> CommandSpec:
    """The declaration of ``command`` (for ``kind`` if given), or a :class:`CommandError`."""
    if kind is not None:
        k = kinds.get(kind)
        if k is None:
            raise CommandError(f"unknown kind {kind!r}; known: {', '.join(sorted(kinds))}")
        found = k.command(command)
        if found is None:
            names = ", ".join(c.name for c in k.commands) or "none"
            raise CommandError(f"{k.label} devices do not accept {command!r}; they accept: {names}")
        return found
    accepting = kinds_accepting(kinds, command)
    if not accepting:
        known = sorted({c.name for k in kinds.values() for c in k.commands})
        raise CommandError(f"unknown command {command!r}; known: {', '.join(known)}")
    spec = accepting[0].command(command)
    assert spec is not None
    return spec


def validate_args(spec: CommandSpec, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as sent on the wire, or a :class:`CommandError` naming each problem."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    extra = sorted(set(args) - {a.name for a in spec.args})
    if extra:
        problems.append(f"unknown argument(s) {', '.join(extra)}")
    for a in spec.args:
        if a.name not in args:
            problems.append(f"{a.name} is required")
            continue
        v = args[a.name]
        unit = f" {a.unit}" if a.unit else ""
        if a.type is FieldType.ENUM:
            if v not in a.choices:
                problems.append(f"{a.name} must be one of {', '.join(a.choices)}, not {v!r}")
                continue
        elif a.type is FieldType.BOOL:
            if not isinstance(v, bool):
                problems.append(f"{a.name} must be true or false")
                continue
        else:
            if isinstance(v, str):
                try:
                    v = float(v)
                except ValueError:
                    problems.append(f"{a.name} must be a number, not {v!r}")
                    continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                problems.append(f"{a.name} must be a number")
                continue
            if a.type is FieldType.INT:
                if v != int(v):
                    problems.append(f"{a.name} must be a whole number")
                    continue
                v = int(v)
            else:
                v = float(v)
            if a.valid is not None and not a.valid[0] <= v <= a.valid[1]:
                lo, hi = a.valid
                problems.append(f"{a.name} must be between {lo:g} and {hi:g}{unit}, not {v:g}")
                continue
        out[a.name] = v
    if problems:
        raise CommandError(f"{spec.name}: " + "; ".join(problems))
    return out


@dataclass(frozen=True, slots=True)
class Reply:
    command_id: str
    status: CommandStatus
    detail: str | None
