"""Sending a command: resolve the target, validate the arguments, store one row per device.

The API and the CLI both call :func:`send`; the dispatcher (:mod:`commands.service`)
publishes what is stored. Nothing reaches a device unless it passed validation here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from commands.model import (
    MAX_TARGET_DEVICES,
    MAX_TTL_S,
    CommandError,
    Target,
    TargetKind,
    kinds_accepting,
    spec_for,
    validate_args,
)
from core.kinds import KindRegistry
from core.storage import commands as store
from core.storage.registry import existing_kinds


@dataclass(frozen=True, slots=True)
class Sent:
    request_id: str
    command: str
    args: dict[str, Any]
    target: str
    deadline: datetime
    commands: list[tuple[str, str]]
    """(device id, command id) per addressed device."""


async def send(
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    *,
    target: Target,
    command: str,
    args: Mapping[str, Any],
    ttl_s: int,
    actor: str,
    now: datetime,
) -> Sent:
    if not 1 <= ttl_s <= MAX_TTL_S:
        raise CommandError(f"ttl_s must be between 1 and {MAX_TTL_S} seconds, not {ttl_s}")
    if target.kind is TargetKind.DEVICE:
        found = await existing_kinds(pool, [target.value])
        if target.value not in found:
            raise CommandError(f"device {target.value!r} is not registered", 404)
        spec = spec_for(kinds, command, found[target.value])
        accepting = [found[target.value]]
    elif target.kind is TargetKind.KIND:
        spec = spec_for(kinds, command, target.value)
        accepting = [target.value]
    else:
        spec = spec_for(kinds, command)
        accepting = [k.name for k in kinds_accepting(kinds, command)]
    clean = validate_args(spec, args)
    devices = await store.target_devices(
        pool, kinds=accepting, by=target.kind.value, value=target.value,
        limit=MAX_TARGET_DEVICES + 1,
    )  # fmt: skip
    if not devices:
        raise CommandError(
            f"no device in service that accepts {command!r} matches {target}"
            " (decommissioned devices are never addressed)",
            404,
        )
    if len(devices) > MAX_TARGET_DEVICES:
        raise CommandError(
            f"{target} names more than {MAX_TARGET_DEVICES} devices; send to smaller groups"
        )
    return await _store(pool, devices, command, clean, str(target), actor, now, ttl_s)


async def _store(
    pool: asyncpg.Pool,
    devices: list[tuple[str, str]],
    command: str,
    args: dict[str, Any],
    target: str,
    actor: str,
    now: datetime,
    ttl_s: int,
) -> Sent:
    request_id = str(uuid.uuid4())
    deadline = now + timedelta(seconds=ttl_s)
    rows = [
        store.NewCommand(str(uuid.uuid4()), device_id, kind, command, args)
        for device_id, kind in devices
    ]
    async with pool.acquire() as conn, conn.transaction():
        await store.insert_commands(
            conn, rows, request_id=request_id, target=target, actor=actor, deadline=deadline
        )
    return Sent(request_id, command, args, target, deadline, [(r.device_id, r.id) for r in rows])


async def send_to_lights(
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    device_ids: Sequence[str],
    *,
    command: str,
    args: Mapping[str, Any],
    label: str,
    actor: str,
    ttl_s: int,
    now: datetime,
) -> Sent:
    """One command to a list of street lights (the dimming schedules' own sends)."""
    clean = validate_args(spec_for(kinds, command, "streetlight"), args)
    devices = [(d, "streetlight") for d in device_ids]
    return await _store(pool, devices, command, clean, label, actor, now, ttl_s)
