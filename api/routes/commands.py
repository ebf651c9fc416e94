"""Commands over HTTP: operators (and above) send; anyone who may read sees their state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Operator, Reader
from api.deps import KindsDep, PoolDep
from api.models import Problem
from commands.model import DEFAULT_TTL_S, MAX_TTL_S, CommandError, CommandStatus, Target
from commands.model import TargetKind as TargetBy
from commands.sending import send
from core.storage import commands as store
from devices.model import DEVICE_ID

router = APIRouter(tags=["commands"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body could not be parsed"},
    401: {"model": Problem, "description": "No API key"},
    403: {"model": Problem, "description": "Role may not send commands"},
    404: {"model": Problem, "description": "No such device, or no device matches the target"},
    422: {"model": Problem, "description": "The command or its arguments do not fit"},
}


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: TargetBy = Field(description="What `value` names: device, feeder, district or kind.")
    value: str = Field(max_length=100, description="Device id, feeder, district or kind name.")
    command: str = Field(max_length=41, description="A command the kind declares, e.g. dim.")
    args: dict[str, Any] = Field(
        default_factory=dict, max_length=16, description='Its arguments, e.g. {"level": 50}.'
    )
    ttl_s: int = Field(
        default=DEFAULT_TTL_S,
        ge=1,
        le=MAX_TTL_S,
        description="Seconds until the deadline; a device offline longer never gets it.",
    )


class CommandOut(BaseModel):
    id: str
    request_id: str
    device_id: str
    kind: str
    command: str
    args: dict[str, Any]
    target: str
    actor: str
    status: CommandStatus
    detail: str | None
    created_at: datetime
    deadline: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    finished_at: datetime | None


class SentOut(BaseModel):
    request_id: str
    command: str
    args: dict[str, Any]
    target: str
    deadline: datetime
    devices: int
    commands: dict[str, str] = Field(description="Command id per device id.")


def _out(c: store.CommandRow) -> CommandOut:
    return CommandOut.model_validate(c, from_attributes=True)


CommandId = Annotated[uuid.UUID, Path(description="Command id.")]


@router.post("/commands", status_code=201, response_model=SentOut, responses=ERRORS)
async def send_command(body: CommandIn, pool: PoolDep, kinds: KindsDep, who: Operator) -> SentOut:
    """Send a command to one device or a group: one command (and journal entry) per device."""
    try:
        sent = await send(
            pool,
            kinds,
            target=Target(body.target, body.value),
            command=body.command,
            args=body.args,
            ttl_s=body.ttl_s,
            actor=f"api:{who.name}",
            now=datetime.now(UTC),
        )
    except CommandError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return SentOut(
        request_id=sent.request_id,
        command=sent.command,
        args=sent.args,
        target=sent.target,
        deadline=sent.deadline,
        devices=len(sent.commands),
        commands=dict(sent.commands),
    )


@router.get("/commands", response_model=list[CommandOut], responses={422: {"model": Problem}})
async def list_commands(
    pool: PoolDep,
    _: Reader,
    device: Annotated[str | None, Query(max_length=64, description="Device id.")] = None,
    request: Annotated[uuid.UUID | None, Query(description="One send's request id.")] = None,
    status: Annotated[CommandStatus | None, Query(description="Lifecycle state.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CommandOut]:
    """Commands, newest first."""
    if device is not None and not DEVICE_ID.match(device):
        raise HTTPException(422, f"device: {device!r} is not a device id")
    f = store.CommandFilter(
        device_id=device,
        request_id=None if request is None else str(request),
        status=None if status is None else status.value,
    )
    return [_out(c) for c in await store.list_commands(pool, f, limit=limit)]


@router.get(
    "/commands/{command_id}", response_model=CommandOut, responses={404: {"model": Problem}}
)
async def get_command(command_id: CommandId, pool: PoolDep, _: Reader) -> CommandOut:
    found = await store.get_command(pool, str(command_id))
    if found is None:
        raise HTTPException(404, f"no command {command_id}")
    return _out(found)


@router.get(
    "/devices/{device_id}/commands",
    response_model=list[CommandOut],
    responses={404: {"model": Problem}, 422: {"model": Problem}},
)
async def device_commands(
    device_id: Annotated[str, Path(max_length=64)],
    pool: PoolDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[CommandOut]:
    """The device's commands and where each stands, newest first."""
    if not DEVICE_ID.match(device_id):
        raise HTTPException(422, f"{device_id!r} is not a device id")
    f = store.CommandFilter(device_id=device_id)
    return [_out(c) for c in await store.list_commands(pool, f, limit=limit)]
