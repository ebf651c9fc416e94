"""Who is calling, and may they? API keys with roles (:mod:`core.roles` says what each
role may do).

Send ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Technicians manage devices,
operators handle alerts, supervisors do both plus what can silence or end a device, admins
everything; endpoints name the roles they accept (:func:`require`). Reads are open without
a key while ``CITYSENSE_PUBLIC_READ`` is true (a wall screen; off in production unless set).
The bootstrap key ``CITYSENSE_ADMIN_API_KEY`` acts as admin; production refuses a weak one.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.deps import PoolDep, SettingsDep
from core.roles import Role
from core.storage.api_keys import digest, find_api_key


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
        raise HTTPException(
            401, "API key not recognised, revoked or expired; ask an admin for a key"
        )
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


def may_silence_or_end(principal: Principal) -> bool:
    """Thresholds, decommissioning, credentials of a device in service: above technician."""
    return principal.role in (Role.ADMIN, Role.SUPERVISOR)


def forbidden(principal: Principal, what: str) -> HTTPException:
    return HTTPException(
        403,
        f"role {principal.role.value!r} may not {what}; ask a supervisor or an admin"
        " (peran ini tidak boleh; minta supervisor atau admin)",
    )


Reader = Annotated[Principal, Depends(reader)]
Admin = Annotated[Principal, require()]
Supervisor = Annotated[Principal, require(Role.SUPERVISOR)]
Technician = Annotated[Principal, require(Role.TECHNICIAN, Role.SUPERVISOR)]
Operator = Annotated[Principal, require(Role.OPERATOR, Role.TECHNICIAN, Role.SUPERVISOR)]
"""Acknowledging an alert: anyone who may go and look."""
Resolver = Annotated[Principal, require(Role.OPERATOR, Role.SUPERVISOR)]
"""Resolving an alert: the operations room, not the technician whose work it judges."""
