from __future__ import annotations

import argparse

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings


def cmd_load(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from simulators.load import run_load

    try:
        result = run_load(
            settings,
            devices=args.devices,
            rate=args.rate,
            duration_s=args.duration,
            readings_per_message=args.readings_per_message,
            processes=args.processes,
            kind=args.kind,
            seed=args.seed,
            device_prefix=args.prefix,
            register=not args.no_register,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"published {result.sent_messages} messages ({result.sent_readings} readings) in"
        f" {result.seconds:.2f}s: {result.achieved_rate:.0f} msg/s"
        f" (target {result.target_rate:.0f})",
        flush=True,
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("load", help="load generator: many devices at a paced message rate")
    p.add_argument("--devices", type=int, required=True, help="how many simulated devices")
    p.add_argument("--rate", type=float, required=True, help="messages/s, all devices together")
    p.add_argument("--duration", type=float, required=True, help="seconds")
    p.add_argument("--readings-per-message", type=int, default=1, help="backlog size K")
    p.add_argument("--processes", type=int, default=1, help="publisher processes")
    from core.kinds import builtin_kinds

    p.add_argument(
        "--kind",
        default="flood_gauge",
        choices=list(builtin_kinds()),
        help="kind of every device (default flood_gauge)",
    )
    p.add_argument("--seed", type=int, default=1, help="same seed, same readings")
    p.add_argument("--prefix", default="LOAD", help="device id prefix")
    p.add_argument("--no-register", action="store_true", help="don't register the devices")
    p.set_defaults(func=cmd_load, needs=lambda a: ("mqtt",) if a.no_register else ("db", "mqtt"))
