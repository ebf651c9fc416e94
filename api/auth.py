"""Who is calling, and may they? API keys with roles.

Send ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Roles are ordered:
viewer < operator < technician < admin, except that technicians manage devices and
operators handle alerts, so endpoints name the roles they accept (:func:`require`).
Reads are open without a key while ``CITYSENSE_PUBLIC_READ`` is true (a wall screen).
The bootstrap key ``CITYSENSE_ADMIN_API_KEY`` acts as admin; production refuses a default.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.deps import PoolDep, SettingsDep
from core.storage.api_keys import digest, find_api_key


class Role(StrEnum):
    ADMIN = "admin"
    TECHNICIAN = "technician"
    OPERATOR = "operator"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role


ANONYMOUS = Principal(name="anonymous", role=Role.VIEWER)


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


async def current_principal(
    request: Request, pool: PoolDep, settings: SettingsDep
) -> Principal | None:
    key = _presented_key(request)
    if key is None:
        return None
    admin = settings.admin_api_key
    if admin is not None and hmac.compare_digest(digest(key), digest(admin.get_secret_value())):
        return Principal(name="bootstrap-admin", role=Role.ADMIN)
    found = await find_api_key(pool, key)
    if found is None:
        raise HTTPException(401, "API key not recognised or revoked; ask an admin for a key")
    return Principal(name=found.name, role=Role(found.role))


MaybePrincipal = Annotated[Principal | None, Depends(current_principal)]


def require(*roles: Role) -> object:
    """A dependency admitting callers with one of ``roles`` (admin is always admitted)."""
    allowed = {Role.ADMIN, *roles}

    async def dependency(principal: MaybePrincipal) -> Principal:
        if principal is None:
            raise HTTPException(
                401,
                "authentication required: send 'Authorization: Bearer <API key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(
                403, f"role {principal.role.value!r} may not do this; needs one of: {names}"
            )
        return principal

    return Depends(dependency)


async def reader(principal: MaybePrincipal, settings: SettingsDep) -> Principal:
    """Any authenticated caller; anyone at all while public reads are on."""
    if principal is not None:
        return principal
    if settings.public_read:
        return ANONYMOUS
    raise HTTPException(
        401,
        "authentication required: send 'Authorization: Bearer <API key>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


Reader = Annotated[Principal, Depends(reader)]
Admin = Annotated[Principal, require()]
Technician = Annotated[Principal, require(Role.TECHNICIAN)]
Operator = Annotated[Principal, require(Role.OPERATOR, Role.TECHNICIAN)]
