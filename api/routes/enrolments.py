"""Enrolling a technician's phone without typing a key.

An admin creates an enrolment (``POST /enrolments``) and shows its link as a QR code; the
phone opens ``/technician/#enrol=<code>`` and the page trades the code (``POST /enrol``) for
a technician key named after the technician. The code is in the link's fragment, so it
never reaches a server log or a Referer. Admins list and revoke enrolments; revoking one
also revokes the key it issued.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.auth import Admin
from api.deps import PoolDep
from api.models import Problem
from core.storage import enrolments as store
from devices.labels import qr_path


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": Problem.model_json_schema()}},
    }


router = APIRouter(
    tags=["enrolment"],
    responses={
        400: _problem("The body could not be parsed."),
        401: _problem("No API key, or not a valid one."),
        403: _problem("Only an admin may do this."),
    },
)
MAX_TTL_MINUTES = 24 * 60
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""The link and the key exist in clear only in these answers: no cache keeps them."""


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    technician: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="Who gets the key: it names every change they make."
    )
    ttl_minutes: StrictInt = Field(default=30, ge=1, le=MAX_TTL_MINUTES)


class EnrolmentOut(BaseModel):
    id: int
    technician: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    state: str = Field(description="waiting, used, expired or revoked")

    @classmethod
    def of(cls, e: store.Enrolment, now: datetime) -> EnrolmentOut:
        if e.revoked_at is not None:
            state = "revoked"
        elif e.used_at is not None:
            state = "used"
        elif e.expires_at <= now:
            state = "expired"
        else:
            state = "waiting"
        return cls(
            id=e.id,
            technician=e.technician,
            created_by=e.created_by,
            created_at=e.created_at,
            expires_at=e.expires_at,
            used_at=e.used_at,
            revoked_at=e.revoked_at,
            state=state,
        )


class EnrolmentCreated(EnrolmentOut):
    link: str = Field(description="Open on the phone (shown once).")
    qr_svg: str = Field(description="The link as a QR code (SVG).")


class EnrolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Field(min_length=10, max_length=100)]


class Enrolled(BaseModel):
    api_key: str = Field(description="Kept on the phone; shown once.")
    name: str
    role: str


def _qr_svg(link: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="60mm" height="60mm"'
        f' viewBox="0 0 60 60"><rect width="60" height="60" fill="#fff"/>{qr_path(link, 60)}</svg>'
    )


@router.post("/enrolments", status_code=201, response_model=EnrolmentCreated)
async def create(
    body: EnrolmentIn, request: Request, response: Response, pool: PoolDep, who: Admin
) -> EnrolmentCreated:
    """A one-time enrolment link for a technician's phone, valid ``ttl_minutes``."""
    e, code = await store.create_enrolment(
        pool,
        technician=body.technician.strip(),
        created_by=who.name,
        ttl=timedelta(minutes=body.ttl_minutes),
    )
    response.headers.update(NO_STORE)
    link = f"{str(request.base_url).rstrip('/')}/technician/#enrol={code}"
    out = EnrolmentOut.of(e, e.created_at)
    return EnrolmentCreated(**out.model_dump(), link=link, qr_svg=_qr_svg(link))


@router.get("/enrolments", response_model=list[EnrolmentOut])
async def list_all(pool: PoolDep, _: Admin) -> list[EnrolmentOut]:
    now = datetime.now(UTC)
    return [EnrolmentOut.of(e, now) for e in await store.list_enrolments(pool)]


@router.post(
    "/enrolments/{enrolment_id}/revoke",
    response_model=EnrolmentOut,
    responses={404: {"model": Problem}},
)
async def revoke(enrolment_id: int, pool: PoolDep, _: Admin) -> EnrolmentOut:
    """Revoke the enrolment and the key it issued (the phone is signed out at once)."""
    e = await store.revoke_enrolment(pool, enrolment_id)
    if e is None:
        raise HTTPException(404, f"no enrolment {enrolment_id}")
    return EnrolmentOut.of(e, e.revoked_at or e.created_at)


@router.post("/enrol", response_model=Enrolled, responses={410: {"model": Problem}})
async def enrol(body: EnrolIn, response: Response, pool: PoolDep) -> Enrolled:
    """Trade a one-time enrolment code for the technician's API key."""
    response.headers.update(NO_STORE)
    found = await store.redeem(pool, body.code.strip())
    if found is None:
        raise HTTPException(
            410,
            "kode pendaftaran tidak berlaku (sudah dipakai, kedaluwarsa atau dicabut); minta"
            " tautan baru ke admin / enrolment code not valid (used, expired or revoked);"
            " ask the admin for a new link",
        )
    e, key = found
    return Enrolled(api_key=key, name=e.technician, role=store.ENROLLED_ROLE)
