"""``citysense keys``: issue, list, expire and revoke API keys (the admin API does the same).

A key is printed once, when it is issued; ``list`` shows each key's id, role, first
characters and dates, never the key.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.roles import Role
from core.settings import Settings

T = TypeVar("T")
ROLES = tuple(r.value for r in Role)


def _with_pool(settings: Settings, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    from core.storage.pool import create_pool

    async def run() -> T:
        pool = await create_pool(settings.database_url, min_size=1, max_size=1)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def _when(value: str | None, days: float | None) -> datetime | None:
    if value is not None and days is not None:
        raise UsageError("give --expires or --days, not both")
    if days is not None:
        if days <= 0:
            raise UsageError(f"--days must be positive, got {days}")
        return datetime.now(UTC) + timedelta(days=days)
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--expires {value!r} is not a time; e.g. 2027-01-31T00:00:00+07:00"
        ) from None
    if at.tzinfo is None:
        raise UsageError("--expires needs a UTC offset, e.g. 2027-01-31T00:00:00+07:00")
    return at


def _show(k: object) -> str:
    from core.storage.api_keys import ApiKey

    assert isinstance(k, ApiKey)
    state = (
        f"revoked {k.revoked_at:%Y-%m-%d %H:%M}"
        if k.revoked_at
        else f"expires {k.expires_at:%Y-%m-%d %H:%M %Z}"
        if k.expires_at
        else "no expiry"
    )
    return f"{k.id:>5}  {k.role:<10}  {k.prefix}...  {k.name}  ({state})"


def cmd_create(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.api_keys import create_api_key

    expires = _when(args.expires, args.days)
    if expires is not None and expires <= datetime.now(UTC):
        raise UsageError("--expires is in the past")
    stored, key = _with_pool(settings, lambda p: create_api_key(p, args.name, args.role, expires))
    print(f"API key {stored.id} for {args.name!r} ({args.role}); shown once, store it now:\n{key}")
    return 0


def cmd_list(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.api_keys import list_api_keys

    found = _with_pool(settings, lambda p: list_api_keys(p, include_revoked=args.all))
    print("   id  role        key          name")
    for k in found:
        print(_show(k))
    return 0


def cmd_expire(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.api_keys import expire_api_key

    at = _when(args.at, args.days)
    found = _with_pool(settings, lambda p: expire_api_key(p, args.id, at))
    if found is None:
        raise UsageError(f"no live API key {args.id}; see `citysense keys list`")
    print(_show(found))
    return 0


def cmd_revoke(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.api_keys import revoke_api_key

    if not _with_pool(settings, lambda p: revoke_api_key(p, args.id)):
        raise UsageError(f"no live API key {args.id}; see `citysense keys list`")
    print(f"API key {args.id} revoked")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="API keys: create, list, expire, revoke").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="issue an API key with a role (printed once)")
    create.add_argument("--name", required=True, help="who or what will use it")
    create.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="admin: everything; supervisor: thresholds, decommissioning, device credentials;"
        " technician: register and install devices; operator: acknowledge and resolve alerts;"
        " viewer: read only",
    )
    create.add_argument("--expires", help="when it stops working, e.g. 2027-01-31T00:00+07:00")
    create.add_argument("--days", type=float, help="or: how many days it works")
    create.set_defaults(func=cmd_create, needs=("db",))
    ls = keys.add_parser("list", help="every live key (id, role, first characters, dates)")
    ls.add_argument("--all", action="store_true", help="revoked keys too")
    ls.set_defaults(func=cmd_list, needs=("db",))
    expire = keys.add_parser("expire", help="set when a key stops working (default: now)")
    expire.add_argument("id", type=int, help="the key's id, from 'citysense keys list'")
    expire.add_argument("--at", help="a time with offset; default now")
    expire.add_argument("--days", type=float, help="or: in this many days")
    expire.set_defaults(func=cmd_expire, needs=("db",))
    revoke = keys.add_parser("revoke", help="a key stops working at once, for good")
    revoke.add_argument("id", type=int, help="the key's id, from 'citysense keys list'")
    revoke.set_defaults(func=cmd_revoke, needs=("db",))
