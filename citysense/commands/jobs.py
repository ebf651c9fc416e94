"""``citysense jobs``: work orders from the terminal, and the watcher that ties them to alarms.

``jobs watch`` runs beside the alert evaluator: it opens orders for alarms whose rule is in
``work_order_rules``, verifies done orders whose alarm resolved and returns the others.
"""

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


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from core.storage.pool import create_pool

    async def go() -> T:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(go())


def _service(pool: Any, grace_min: float = 30) -> Any:
    from workorders.service import WorkOrders

    return WorkOrders(pool, grace=timedelta(minutes=grace_min))


def cmd_list(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.work_orders import list_orders
    from workorders.service import OPEN_STATUSES

    statuses = args.status or OPEN_STATUSES
    rows = _run(settings, lambda pool: list_orders(pool, statuses=statuses))
    for o in rows:
        print(
            f"{o.id:>6}  {o.priority:<7} {o.status:<9} {o.device_id or '-':<20}"
            f" {o.holder or '-':<16} {o.title[:60]}"
        )
    if not rows:
        print("no work orders", file=sys.stderr)
    return 0


def cmd_create(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from workorders.service import WorkOrderError

    async def work(pool: Any) -> Any:
        orders = _service(pool)
        if args.alert is not None:
            return await orders.create_from_alert(
                args.alert, actor=_actor(), priority=args.priority
            )
        return await orders.create_for_device(
            args.device, title=args.title, priority=args.priority or "normal", actor=_actor()
        )

    if args.alert is None and not (args.device and args.title):
        print("citysense jobs: give --alert ID, or --device ID with --title", file=sys.stderr)
        return 2
    try:
        o = _run(settings, work)
    except WorkOrderError as exc:
        print(f"citysense jobs: {exc}", file=sys.stderr)
        return 1
    print(f"work order {o.id} opened ({o.priority}): {o.title}")
    return 0


def _step(name: str) -> Callable[[Settings, KindRegistry, argparse.Namespace], int]:
    def cmd(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
        from workorders.service import WorkOrderError

        async def work(pool: Any) -> Any:
            orders = _service(pool)
            if name == "cancel":
                return await orders.cancel(args.id, actor=_actor(), reason=args.reason)
            return await orders.verify(args.id, actor=_actor(), note=args.reason)

        try:
            o = _run(settings, work)
        except WorkOrderError as exc:
            print(f"citysense jobs: {exc}", file=sys.stderr)
            return 1
        print(f"work order {o.id} is {o.status}")
        return 0

    return cmd


def cmd_watch(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> None:
        orders = _service(pool, args.grace)
        while True:
            r = await orders.watch_once()
            if r.opened or r.verified or r.returned:
                print(f"opened {r.opened} verified {r.verified} returned {r.returned}", flush=True)
            if args.once:
                return
            await asyncio.sleep(args.interval)

    _run(settings, work)
    return 0


def cmd_rules(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.work_orders import list_rules, set_rule

    async def work(pool: Any) -> list[tuple[str, str, bool]]:
        if args.rule:
            await set_rule(pool, rule=args.rule, priority=args.priority, enabled=not args.disable)
        return await list_rules(pool)

    for rule, priority, enabled in _run(settings, work):
        print(f"{rule:<20} {priority:<7} {'on' if enabled else 'off'}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from workorders.lifecycle import OrderStatus, Priority

    priorities = [p.value for p in Priority]
    p = sub.add_parser("jobs", help="work orders for technicians")
    cmds = p.add_subparsers(dest="jobs_command", required=True)
    ls = cmds.add_parser("list", help="live work orders, most urgent first")
    ls.add_argument(
        "--status",
        action="append",
        choices=[s.value for s in OrderStatus],
        help="only orders in this status (repeatable; default: the live ones)",
    )
    ls.set_defaults(func=cmd_list)
    create = cmds.add_parser("create", help="open a work order for an alert or a device")
    create.add_argument("--alert", type=int, help="the alert id the order is for")
    create.add_argument("--device", help="or the device id (with --title)")
    create.add_argument("--title", help="what is to be done, for a device order")
    create.add_argument("--priority", choices=priorities, help="default: the rule's, else normal")
    create.set_defaults(func=cmd_create)
    for name, text in (("cancel", "cancel an order"), ("verify", "verify an order by hand")):
        c = cmds.add_parser(name, help=text)
        c.add_argument("id", type=int, help="the work order id")
        c.add_argument("--reason", default="", help="why (kept in the order's events)")
        c.set_defaults(func=_step(name))
    watch = cmds.add_parser("watch", help="open, verify and return orders from alarms")
    watch.add_argument("--interval", type=float, default=30, help="seconds between rounds")
    watch.add_argument("--grace", type=float, default=30, help="minutes before returning")
    watch.add_argument("--once", action="store_true", help="one round, then exit")
    watch.set_defaults(func=cmd_watch)
    rules = cmds.add_parser("rules", help="which alarm rules open orders by themselves")
    rules.add_argument("--rule", help="set this alert rule (else list the rules)")
    rules.add_argument(
        "--priority", choices=priorities, default="normal", help="its orders' priority"
    )
    rules.add_argument("--disable", action="store_true", help="stop opening orders for this rule")
    rules.set_defaults(func=cmd_rules)
