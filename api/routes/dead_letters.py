"""Refused messages (dead letters) for operators: what each device sent that ingest refused,
and why, so a technician can be sent to a gauge whose firmware is broken.

Responses are bounded: at most 200 rows, each payload shown as a preview of at most 256
bytes (with its full size).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api import params
from api.auth import Reader
from api.deps import PoolDep
from api.models import Problem
from core.storage.dead_letter_reads import (
    PREVIEW_BYTES,
    newest_refusal_per_device,
    refused_messages,
)

router = APIRouter(tags=["dead letters"])
_WHEN = "{} (ISO 8601 with a UTC offset, e.g. 2026-12-06T07:00:00+07:00)."


def _when(raw: str | None, name: str) -> datetime | None:
    """An aware time from ``raw``; a 422 naming the parameter and the form if it is not."""
    if raw is None:
        return None
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise HTTPException(
            422, f"'{name}' must be ISO 8601 with a UTC offset, e.g. 2026-12-06T07:00:00+07:00"
        )
    return t.astimezone(UTC)


class RefusedOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    device_id: str | None
    code: str = Field(description="Why, as a code: not_json, invalid, unknown_device, ...")
    reason: str = Field(description="Why, for a person: what was wrong and how to fix it.")
    payload_preview: str = Field(
        description=f"The first {PREVIEW_BYTES} bytes, decoded as UTF-8 with replacements."
    )
    payload_bytes: int


class RefusedPage(BaseModel):
    items: list[RefusedOut]
    next_before_id: int | None = Field(
        description="Pass as before_id for the next (older) page; null on the last page."
    )


class NewestOut(BaseModel):
    device_id: str | None
    received_at: datetime
    topic: str
    code: str
    reason: str
    count: int = Field(description="Refusals from this device in the window.")


class NewestPage(BaseModel):
    since: datetime
    items: list[NewestOut]


@router.get("/dead-letters", response_model=RefusedPage, responses={422: {"model": Problem}})
async def list_dead_letters(
    pool: PoolDep,
    _: Reader,
    device: Annotated[str | None, Query(description="Device id.")] = None,
    reason: Annotated[str | None, Query(description="Reason code, e.g. invalid.")] = None,
    since: Annotated[str | None, Query(alias="from", description=_WHEN.format("From"))] = None,
    until: Annotated[str | None, Query(alias="to", description=_WHEN.format("Until"))] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RefusedPage:
    """Refused messages, newest first, filtered by device, reason code and time."""
    ids = params.device_ids([device] if device else None)
    found = await refused_messages(
        pool,
        device_id=ids[0] if ids else None,
        code=params.text(reason, "reason", 64),
        since=_when(since, "from"),
        until=_when(until, "to"),
        before_id=before_id,
        limit=limit,
    )
    items = [
        RefusedOut(
            id=m.id,
            received_at=m.received_at,
            topic=m.topic,
            device_id=m.device_id,
            code=m.code,
            reason=m.reason,
            payload_preview=m.payload_preview.decode("utf-8", errors="replace"),
            payload_bytes=m.payload_bytes,
        )
        for m in found
    ]
    return RefusedPage(
        items=items, next_before_id=found[-1].id if len(found) == limit and found else None
    )


@router.get("/dead-letters/latest", response_model=NewestPage, responses={422: {"model": Problem}})
async def newest_per_device(
    pool: PoolDep,
    _: Reader,
    hours: Annotated[float, Query(gt=0, le=24 * 30, description="Window, in hours.")] = 24,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> NewestPage:
    """Each device's newest refused message in the window, newest first: the /ops section."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    found = await newest_refusal_per_device(pool, since=since, limit=limit)
    return NewestPage(
        since=since,
        items=[
            NewestOut(
                device_id=x.device_id,
                received_at=x.received_at,
                topic=x.topic,
                code=x.code,
                reason=x.reason,
                count=x.count,
            )
            for x in found
        ],
    )
