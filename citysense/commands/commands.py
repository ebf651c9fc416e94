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
STATUSES = ("queued", "sent", "delivered", "done", "failed", "expired")
"""commands.model.CommandStatus's values (kept here so `--help` imports nothing heavy)."""


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


def region_centre(settings: Settings) -> tuple[float, float]:
    """The regency's position (the middle of its bounding box): dusk and dawn come from it."""
    from devices.region import load_region

    box = load_region(settings.region_file).bbox
    return (box.min_lat + box.max_lat) / 2, (box.min_lon + box.max_lon) / 2


def dispatcher_login(settings: Settings) -> tuple[str, str] | None:
    """The ``citysense-commands`` service account, with the platform's service password
    (``CITYSENSE_MQTT_PASSWORD``); anonymous when none is set (a development broker)."""
    from core.broker_accounts import COMMANDS_USER

    secret = settings.mqtt_password
    return None if secret is None else (COMMANDS_USER, secret.get_secret_value())


def cmd_run(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from commands.scheduler import ScheduleRunner
    from commands.service import Dispatcher, DispatchError
    from core.storage.pool import create_pool

    lat, lon = region_centre(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        pool = await create_pool(settings.database_url, min_size=1, max_size=4)
        try:
            d = Dispatcher(settings, pool, login=dispatcher_login(settings))
            tasks = [d.run(stop)]
            if not args.no_schedules:
                tasks.append(ScheduleRunner(pool, kinds, lat=lat, lon=lon).run(stop))
            await asyncio.gather(*tasks)
            log.info("commands stopped: %d published, %d replies", d.published, d.replies)
        finally:
            await pool.close()

    try:
        asyncio.run(main())
    except DispatchError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _steps(raw: list[str]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for item in raw:
        at, sep, level = item.partition("=")
        if not sep:
            raise UsageError(f"--step {item!r}: write AT=LEVEL, e.g. dusk=100, 23:00=50, dawn=off")
        try:
            steps.append({"at": at, "level": None if level == "off" else float(level)})
        except ValueError:
            raise UsageError(f"--step {item!r}: the level is a number or off") from None
    return steps


def cmd_schedule_set(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from commands.schedules import HEMAT, ScheduleError, parse_schedule
    from core.storage import schedules as store
    from core.storage.pool import create_pool

    steps = _steps(args.step) if args.step else HEMAT.as_json()
    try:
        schedule = parse_schedule(args.name, steps)
    except ScheduleError as exc:
        raise UsageError(str(exc)) from None

    async def main() -> None:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            await store.upsert_schedule(pool, schedule.name, schedule.as_json())
        finally:
            await pool.close()

    asyncio.run(main())
    shown = ", ".join(f"{s.at} {'off' if s.level is None else f'{s.level:g} %'}"
                      for s in schedule.steps)  # fmt: skip
    print(f"schedule {schedule.name}: {shown}")
    return 0


def cmd_schedule_assign(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage import schedules as store
    from core.storage.pool import create_pool

    scope, value = next(
        (by, getattr(args, by)) for by in ("device", "feeder", "district") if getattr(args, by)
    )

    async def main() -> bool:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            if args.schedule == "none":
                return await store.unassign(pool, scope, value)
            known = await store.schedules(pool)
            if args.schedule not in known:
                names = ", ".join(sorted(known)) or "none yet"
                raise UsageError(
                    f"no schedule {args.schedule!r} (known: {names}); create it with"
                    " `citysense commands schedule set NAME`"
                )
            actor = args.actor or f"cli:{getpass.getuser()}"
            await store.assign(pool, scope, value, args.schedule, actor)
            return True
        finally:
            await pool.close()

    done = asyncio.run(main())
    print(f"{scope} {value}: {args.schedule if done else 'had no schedule'}")
    return 0


def cmd_schedule_list(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage import schedules as store
    from core.storage.pool import create_pool

    async def main() -> tuple[dict[str, Any], list[Any]]:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            return await store.schedules(pool), await store.assignments(pool)
        finally:
            await pool.close()

    found, assigned = asyncio.run(main())
    for name, steps in sorted(found.items()):
        print(f"{name}: {json.dumps(steps)}")
    for a in assigned:
        print(f"  {a.scope} {a.value} -> {a.schedule} (by {a.assigned_by})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("commands", help="send commands to devices and follow them")
    cmds = p.add_subparsers(dest="commands_command", required=True)

    send = cmds.add_parser(
        "send",
        help="send a command to a device or a group",
        description="e.g. citysense commands send --feeder F-07 dim level=50",
    )
    from core.kinds import builtin_kinds

    where = send.add_mutually_exclusive_group(required=True)
    where.add_argument("--device", metavar="ID", help="one device")
    where.add_argument("--feeder", metavar="FEEDER", help="every light on a feeder (cabinet)")
    where.add_argument("--district", metavar="DISTRICT", help="every device in a district")
    where.add_argument("--kind", choices=list(builtin_kinds()), help="every device of a kind")
    send.add_argument("name", help="command, as the kind declares it (dim, switch, reboot, ...)")
    send.add_argument("arg", nargs="*", help="NAME=VALUE arguments, e.g. level=50")
    send.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    send.add_argument("--actor", help="who sends it (journal); default cli:<user>")
    send.set_defaults(func=cmd_send, needs=("db",))

    ls = cmds.add_parser("list", help="commands, newest first")
    ls.add_argument("--device", metavar="ID", help="only this device's commands")
    ls.add_argument("--request", help="one send's request id")
    ls.add_argument("--status", choices=STATUSES, help="only commands in this state")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.set_defaults(func=cmd_list, needs=("db",))

    show = cmds.add_parser("show", help="one command and where it stands")
    show.add_argument("id", help="the command's id, from 'citysense commands list'")
    show.set_defaults(func=cmd_show, needs=("db",))

    run = cmds.add_parser(
        "run", help="publish stored commands (QoS 1, with expiry) and record devices' replies"
    )
    run.add_argument("--no-schedules", action="store_true", help="do not run dimming schedules")
    # It logs in to the broker with its own service account, not the settings' one.
    run.set_defaults(func=cmd_run, needs=("db", "mqtt-listens"))

    sched = cmds.add_parser("schedule", help="dimming schedules for street lights")
    sc = sched.add_subparsers(dest="schedule_command", required=True)
    st = sc.add_parser(
        "set",
        help="create or change a schedule",
        description="e.g. citysense commands schedule set hemat --step dusk=100"
        " --step 23:00=50 --step 04:30=100 --step dawn=off (without --step: that default)",
    )
    st.add_argument("name", help="the schedule's name, e.g. hemat")
    st.add_argument("--step", action="append", help="AT=LEVEL; AT is dusk, dawn or HH:MM WIB")
    st.set_defaults(func=cmd_schedule_set, needs=("db",))
    sa = sc.add_parser("assign", help="put a district, feeder or light on a schedule")
    where = sa.add_mutually_exclusive_group(required=True)
    where.add_argument("--device", metavar="ID", help="one light")
    where.add_argument("--feeder", metavar="FEEDER", help="every light on a feeder (cabinet)")
    where.add_argument("--district", metavar="DISTRICT", help="every light in a district")
    sa.add_argument("schedule", help="a schedule's name, or none to take it off")
    sa.add_argument("--actor", help="who assigns it (journal); default cli:<user>")
    sa.set_defaults(func=cmd_schedule_assign, needs=("db",))
    sl = sc.add_parser("list", help="schedules and their assignments")
    sl.set_defaults(func=cmd_schedule_list, needs=("db",))
