"""``citysense enrol``: enrol a technician's phone by QR code, list and revoke enrolments."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from core.kinds import KindRegistry
from core.settings import Settings

T = TypeVar("T")


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from core.storage.pool import create_pool

    async def go() -> T:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(go())


def cmd_create(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    import segno

    from core.storage.enrolments import create_enrolment

    base = args.base_url or f"http://{settings.api_host}:{settings.api_port}"
    e, code = _run(
        settings,
        lambda pool: create_enrolment(
            pool,
            technician=args.name,
            created_by=f"cli:{getpass.getuser()}",
            ttl=timedelta(minutes=args.ttl),
        ),
    )
    link = f"{base.rstrip('/')}/technician/#enrol={code}"
    print(f"enrolment {e.id} for {e.technician!r}, valid until {e.expires_at:%Y-%m-%d %H:%M %Z}")
    print(f"open on the phone (once): {link}")
    segno.make_qr(link, error="m").terminal(out=sys.stdout, compact=True)
    return 0


def cmd_list(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.enrolments import list_enrolments

    for e in _run(settings, list_enrolments):
        state = (
            "revoked" if e.revoked_at else "used" if e.used_at else f"until {e.expires_at:%H:%M}"
        )
        print(f"{e.id:>5}  {e.technician:<24} {state:<14} by {e.created_by}")
    return 0


def cmd_revoke(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.enrolments import revoke_enrolment

    e = _run(settings, lambda pool: revoke_enrolment(pool, args.id))
    if e is None:
        print(f"citysense enrol: no enrolment {args.id}", file=sys.stderr)
        return 1
    print(f"enrolment {e.id} ({e.technician}) revoked, with the key it issued")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("enrol", help="enrol technicians' phones by QR code")
    cmds = p.add_subparsers(dest="enrol_command", required=True)
    create = cmds.add_parser("create", help="a one-time enrolment link and QR code")
    create.add_argument("--name", required=True, help="the technician: names their changes")
    create.add_argument("--ttl", type=int, default=30, help="minutes the link is valid")
    create.add_argument("--base-url", help="the API as the phone reaches it")
    create.set_defaults(func=cmd_create)
    cmds.add_parser("list", help="enrolments, newest first").set_defaults(func=cmd_list)
    revoke = cmds.add_parser("revoke", help="revoke an enrolment and its key")
    revoke.add_argument("id", type=int, help="the enrolment id (citysense enrol list)")
    revoke.set_defaults(func=cmd_revoke)
