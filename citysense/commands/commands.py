"""``citysense commands``: send commands to devices, follow them, and run the dispatcher."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import signal
from datetime import UTC, datetime
from typing import Any

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings

log = logging.getLogger(__name__)


def _args(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"argument {pair!r}: write NAME=VALUE, e.g. level=50")
        out[name] = value
    return out


def _target(args: argparse.Namespace) -> Any:
    from commands.model import CommandError, Target, TargetKind

    for by in TargetKind:
        value = getattr(args, by.value)
        if value:
            try:
                return Target(by, value)
            except CommandError as exc:
                raise UsageError(str(exc)) from None
    raise UsageError("name a target: --device ID, --feeder F, --district D or --kind K")


def cmd_send(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from commands.model import CommandError
    from commands.sending import send
    from core.storage.pool import create_pool

    target = _target(args)

    async def main() -> Any:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            return await send(
                pool,
                kinds,
                target=target,
                command=args.name,
                args=_args(args.arg),
                ttl_s=args.ttl,
                actor=args.actor or f"cli:{getpass.getuser()}",
                now=datetime.now(UTC),
            )
        finally:
            await pool.close()

    try:
        sent = asyncio.run(main())
    except CommandError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"{sent.command} {json.dumps(sent.args)} to {sent.target}: {len(sent.commands)}"
        f" device(s), deadline {sent.deadline.isoformat(timespec='seconds')}"
        f" (request {sent.request_id})"
    )
    for device_id, command_id in sent.commands:
        print(f"  {device_id}  {command_id}")
    print("`citysense commands run` publishes them; follow with `citysense commands list`.")
    return 0


def _line(c: Any) -> str:
    when = c.finished_at or c.delivered_at or c.sent_at or c.created_at
    detail = f"  {c.detail}" if c.detail else ""
    return (
        f"{c.id}  {c.device_id:<20} {c.command:<12} {json.dumps(c.args):<20}"
        f" {c.status:<9} {when.astimezone(UTC).isoformat(timespec='seconds')}{detail}"
    )


def cmd_list(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage import commands as store
    from core.storage.pool import create_pool

    async def main() -> list[Any]:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            f = store.CommandFilter(
                device_id=args.device, request_id=args.request, status=args.status
            )
            return await store.list_commands(pool, f, limit=args.limit)
        finally:
            await pool.close()

    for c in asyncio.run(main()):
        print(_line(c))
    return 0


def cmd_show(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    import uuid

    from core.storage import commands as store
    from core.storage.pool import create_pool

    try:
        command_id = str(uuid.UUID(args.id))
    except ValueError:
        raise UsageError(f"{args.id!r} is not a command id (a UUID)") from None

    async def main() -> Any:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            return await store.get_command(pool, command_id)
        finally:
            await pool.close()

    c = asyncio.run(main())
    if c is None:
        raise UsageError(f"no command {command_id}")
    for name in (
        "id", "request_id", "device_id", "kind", "command", "args", "target", "actor",
        "status", "detail", "created_at", "deadline", "sent_at", "delivered_at", "finished_at",
    ):  # fmt: skip
        value = getattr(c, name)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat(timespec="seconds")
        elif isinstance(value, dict):
            value = json.dumps(value)
        print(f"{name:<13} {'-' if value is None else value}")
    return 0


def cmd_run(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from commands.service import Dispatcher, DispatchError
    from core.storage.pool import create_pool

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        pool = await create_pool(settings.database_url, min_size=1, max_size=4)
        password = settings.commands_mqtt_password
        try:
            d = Dispatcher(
                settings,
                pool,
                client_id=args.client_id,
                username=settings.commands_mqtt_username,
                password=password.get_secret_value() if password else None,
            )
            await d.run(stop)
            log.info("commands stopped: %d published, %d replies", d.published, d.replies)
        finally:
            await pool.close()

    try:
        asyncio.run(main())
    except DispatchError as exc:
        raise UsageError(str(exc)) from None
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("commands", help="send commands to devices and follow them")
    cmds = p.add_subparsers(dest="commands_command", required=True)

    send = cmds.add_parser(
        "send",
        help="send a command to a device or a group",
        description="e.g. citysense commands send --feeder F-07 dim level=50",
    )
    where = send.add_mutually_exclusive_group(required=True)
    for by in ("device", "feeder", "district", "kind"):
        where.add_argument(f"--{by}", metavar=by.upper())
    send.add_argument("name", help="command, as the kind declares it (dim, switch, reboot, ...)")
    send.add_argument("arg", nargs="*", help="NAME=VALUE arguments, e.g. level=50")
    send.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    send.add_argument("--actor", help="who sends it (journal); default cli:<user>")
    send.set_defaults(func=cmd_send)

    ls = cmds.add_parser("list", help="commands, newest first")
    ls.add_argument("--device")
    ls.add_argument("--request", help="one send's request id")
    ls.add_argument(
        "--status", choices=("queued", "sent", "delivered", "done", "failed", "expired")
    )
    ls.add_argument("--limit", type=int, default=50)
    ls.set_defaults(func=cmd_list)

    show = cmds.add_parser("show", help="one command and where it stands")
    show.add_argument("id")
    show.set_defaults(func=cmd_show)

    run = cmds.add_parser(
        "run", help="publish stored commands (QoS 1, with expiry) and record devices' replies"
    )
    run.add_argument("--client-id", default="citysense-commands")
    run.set_defaults(func=cmd_run)
