"""API keys over HTTP, for admins: issue (the key is in that answer only), list (never the
key), set an expiry, revoke. ``citysense keys`` does the same from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from api import params
from api.auth import Admin
from api.deps import PoolDep
from api.models import Problem
from core.roles import Role
from core.storage import api_keys as store

router = APIRouter(tags=["api keys"])

KeyId = Annotated[int, Path(ge=1, le=2**63 - 1, description="API key id.")]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body could not be parsed"},
    401: {"model": Problem, "description": "No API key, or not a valid one"},
    403: {"model": Problem, "description": "Only admins manage keys"},
    422: {"model": Problem},
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class KeyOut(BaseModel):
    id: int
    name: str
    role: Role
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: store.ApiKey) -> KeyOut:
        return cls(
            id=k.id,
            name=k.name,
            role=Role(k.role),
            prefix=k.prefix,
            created_at=k.created_at,
            expires_at=k.expires_at,
            revoked_at=k.revoked_at,
        )


class KeyIssued(KeyOut):
    key: str = Field(description="The key itself: shown in this answer only, store it now.")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="Who or what will use it.")
    role: Role
    expires_at: datetime | None = Field(
        default=None, description="When it stops working (with an offset); default: never."
    )


class KeyExpiry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expires_at: datetime | None = Field(
        default=None, description="When the key stops working (with an offset); default: now."
    )


@router.get("/api-keys", response_model=list[KeyOut], responses=ERRORS)
async def list_keys(pool: PoolDep, _: Admin, include_revoked: bool = False) -> list[KeyOut]:
    """Every key (revoked ones too if asked), never the key itself."""
    return [KeyOut.of(k) for k in await store.list_api_keys(pool, include_revoked=include_revoked)]


@router.post("/api-keys", status_code=201, response_model=KeyIssued, responses=ERRORS)
async def create_key(body: KeyCreate, pool: PoolDep, response: Response, _: Admin) -> KeyIssued:
    """Issue a key with a role; the answer carries the key, once (and is never cached)."""
    response.headers.update(NO_STORE)
    name = params.text(body.name, "name", 100)
    assert name is not None
    expires = params.aware(body.expires_at, "expires_at") if body.expires_at else None
    if expires is not None and expires <= datetime.now(UTC):
        raise HTTPException(422, "'expires_at' is in the past; give a future time or none")
    stored, key = await store.create_api_key(pool, name, body.role.value, expires)
    return KeyIssued(**KeyOut.of(stored).model_dump(), key=key)


@router.post(
    "/api-keys/{key_id}/expire",
    response_model=KeyOut,
    responses={**ERRORS, 404: {"model": Problem, "description": "No such live key"}},
)
async def expire_key(key_id: KeyId, body: KeyExpiry, pool: PoolDep, _: Admin) -> KeyOut:
    """Set when the key stops working (default: now). A revoked key stays revoked."""
    at = params.aware(body.expires_at, "expires_at") if body.expires_at else None
    found = await store.expire_api_key(pool, key_id, at)
    if found is None:
        raise HTTPException(404, f"no live API key {key_id}; list them with GET /api-keys")
    return KeyOut.of(found)


@router.post(
    "/api-keys/{key_id}/revoke",
    response_model=KeyOut,
    responses={**ERRORS, 404: {"model": Problem, "description": "No such live key"}},
)
async def revoke_key(key_id: KeyId, pool: PoolDep, _: Admin) -> KeyOut:
    """The key stops working at once, for good."""
    if not await store.revoke_api_key(pool, key_id):
        raise HTTPException(404, f"no live API key {key_id}; list them with GET /api-keys")
    found = await store.get_api_key(pool, key_id)
    assert found is not None
    return KeyOut.of(found)
