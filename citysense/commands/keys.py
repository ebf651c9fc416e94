from __future__ import annotations

import argparse
import asyncio

from core.kinds import KindRegistry
from core.settings import Settings

ROLES = ("admin", "technician", "operator", "viewer")


def cmd_create(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.api_keys import create_api_key
    from core.storage.pool import create_pool

    async def create() -> str:
        pool = await create_pool(settings.database_url)
        try:
            _, key = await create_api_key(pool, args.name, args.role)
            return key
        finally:
            await pool.close()

    key = asyncio.run(create())
    print(f"API key for {args.name!r} ({args.role}); shown once, store it now:\n{key}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="issue an API key with a role")
    create.add_argument("--name", required=True, help="who or what will use it")
    create.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="admin: everything; technician: register and install devices; operator:"
        " acknowledge alerts; viewer: read only",
    )
    create.set_defaults(func=cmd_create, needs=("db",))
