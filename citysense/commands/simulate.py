"""``citysense simulate``: build a fleet, register it, and publish what it would send.

Live (``--speed``), scenario (``--scenario``), backfill (``--from/--to``) or quick rounds
(``--rounds``). Load mode for benchmarks is ``citysense load``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings

if TYPE_CHECKING:
    import asyncpg

    from simulators.fleet import SimDevice
    from simulators.publisher import Stats
    from simulators.scenario import Scenario

T = TypeVar("T")

REGISTRY_SETTLE_S = 6.0
"""Pause after registering, so a running alert evaluator has read the new details."""

DEFAULT_COUNTS = {"streetlight": 12, "flood_gauge": 4, "network_node": 4}


def _counts(
    kinds: KindRegistry, args: argparse.Namespace, scenario: Scenario | None
) -> dict[str, int]:
    if args.per_kind is not None:
        if args.per_kind < 1:
            raise UsageError(f"--per-kind must be at least 1, got {args.per_kind}")
        counts = {k: args.per_kind for k in kinds}
    elif scenario is not None and scenario.counts:
        counts = dict(scenario.counts)
    else:
        counts = {k: DEFAULT_COUNTS.get(k, 0) for k in kinds}
    for raw in args.count or ():
        kind, sep, n = raw.partition("=")
        if not sep or kind not in kinds:
            raise UsageError(
                f"--count {raw!r}: expected KIND=N with KIND one of {', '.join(kinds)}"
            )
        try:
            counts[kind] = int(n)
        except ValueError:
            raise UsageError(f"--count {raw!r}: N must be a whole number, got {n!r}") from None
        if counts[kind] < 0:
            raise UsageError(f"--count {raw!r}: N must be >= 0")
    return counts


def _when(raw: str, flag: str) -> datetime:
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(
            f"{flag} {raw!r}: expected ISO 8601, e.g. 2026-11-27T18:00+07:00"
        ) from None
    if t.tzinfo is None:
        raise UsageError(f"{flag} {raw!r}: add a UTC offset, e.g. +07:00 for WIB")
    return t.astimezone(UTC)


def default_prefix(scenario: Scenario | None) -> str:
    """A scenario's own id prefix (``node-down`` -> ``NODEDOWN``), else ``SIM``.

    ``citysense up``'s demo fleet uses ``DEMO``, so none of them collide.
    """
    if scenario is None:
        return "SIM"
    return "".join(ch for ch in scenario.name.upper() if ch.isalnum()) or "SIM"


def _db(settings: Settings, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    from core.storage.pool import create_pool

    async def go() -> T:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(go())


def _register(settings: Settings, kinds: KindRegistry, fleet: list[SimDevice], prefix: str) -> None:
    from devices.registry import RegistryError
    from simulators.fleet import FleetError
    from simulators.registration import register_sim_fleet

    try:
        done = _db(settings, lambda pool: register_sim_fleet(pool, settings, kinds, fleet, prefix))
    except (FleetError, RegistryError) as exc:
        raise UsageError(f"cannot register the simulated fleet: {exc}") from None
    print(
        f"registered {len(fleet)} simulated devices ({done.new} new, {done.updated} updated;"
        f" ids {prefix}-*) with their stations, thresholds, feeders and uplinks",
        flush=True,
    )
    if done.updated:
        print(
            f"note: {prefix}-* ran before and keep that run's newest readings, so offline and"
            " node_down checks only start once this run has caught up with them; for a run"
            f" judged like the first, retire them (--cleanup {prefix}) and pass"
            f" --id-prefix {prefix}2",
            flush=True,
        )
    if done.new or done.updated:
        # The alert evaluator re-reads the registry every few seconds (registry_refresh_s,
        # 5 s by default); until it has, it would judge these devices without their feeders,
        # uplinks and thresholds.
        time.sleep(REGISTRY_SETTLE_S)


def cmd_cleanup(settings: Settings, kinds: KindRegistry, prefix: str) -> int:
    from simulators.registration import cleanup

    n = _db(settings, lambda pool: cleanup(pool, settings, kinds, prefix))
    print(
        f"decommissioned {n} simulated devices of prefix {prefix} (their credentials are"
        " revoked; their readings stay)"
    )
    return 0


def cmd_simulate(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from simulators import engine, publisher
    from simulators.credentials import CredentialsError, load_credentials
    from simulators.fleet import FleetError, FleetSpec, build_sim_fleet, fleet_csv
    from simulators.progress import Progress
    from simulators.scenario import (
        ScenarioError,
        bundled,
        conditions_for,
        load_scenario,
        parse_duration,
    )
    from simulators.timeline import live_window

    if args.list_scenarios:
        for name, about in bundled().items():
            print(f"{name:16} {about}")
        return 0
    if args.cleanup:
        from citysense.reach import preflight

        preflight(settings, ("db",), getattr(args, "instance_note", ""))
        return cmd_cleanup(settings, kinds, args.cleanup)
    if args.speed <= 0:
        raise UsageError(f"--speed must be > 0, got {args.speed:g}")
    try:
        scenario = load_scenario(args.scenario, list(kinds)) if args.scenario else None
        spec = FleetSpec(
            counts=_counts(kinds, args, scenario),
            districts=(
                tuple(x.strip() for x in args.districts.split(",") if x.strip())
                if args.districts
                else (scenario.districts if scenario else ())
            ),
            rivers=scenario.rivers if scenario else (),
            id_prefix=args.id_prefix or default_prefix(scenario),
            where=(
                ""
                if args.count or args.per_kind or args.districts or not scenario
                else f"scenario {scenario.source}: fleet"
            ),
        )
        fleet = build_sim_fleet(kinds, spec, args.seed)
    except (ScenarioError, FleetError) as exc:
        raise UsageError(str(exc)) from None
    if args.csv:
        sys.stdout.write(fleet_csv(fleet))
        return 0

    now = datetime.now(UTC)
    backfill = args.start is not None or args.end is not None
    duration = None
    try:
        if args.duration is not None:
            duration = parse_duration(args.duration, "--duration")
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    if backfill:
        if args.start is None or args.end is None or args.rounds is not None:
            raise UsageError("a backfill needs both --from and --to (and no --rounds)")
        start, end = _when(args.start, "--from"), _when(args.end, "--to")
        if start >= end:
            raise UsageError("--from must be before --to")
        if end > now:
            raise UsageError("--to is in the future; a backfill replays a past period")
        if now - start > timedelta(days=settings.retention_days):
            raise UsageError(
                f"--from is older than the retention period ({settings.retention_days} days);"
                " ingest would reject every reading"
            )
    elif scenario is not None or duration is not None or args.speed != 1:
        span = duration or (scenario.duration if scenario else timedelta(days=1))
        start, end = live_window(now, span, args.speed, scenario.start_local if scenario else None)
    else:
        start, end = now.replace(microsecond=0), datetime.max.replace(tzinfo=UTC)

    try:
        conditions = conditions_for(scenario, fleet, start, end, args.seed)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None

    credentials = None
    if args.credentials:
        try:
            credentials = load_credentials(Path(args.credentials))
        except CredentialsError as exc:
            raise UsageError(str(exc)) from None

    from citysense.reach import preflight

    preflight(settings, _needs(args), getattr(args, "instance_note", ""))
    prefix = args.id_prefix or default_prefix(scenario)
    if not args.no_register:
        _register(settings, kinds, fleet, prefix)
    label = f"scenario {scenario.name}" if scenario else "fleet"
    if args.rounds is None:
        print(
            f"{label}: {len(fleet)} devices, simulated {start.isoformat()}"
            f" .. {'open-ended' if end.year == 9999 else end.isoformat()}"
            f"{' (backfill)' if backfill else f' at {args.speed:g}x'}",
            flush=True,
        )

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    progress = Progress(sys.stdout, len(fleet), conditions.phase)
    sender = publisher.Sender(settings, fleet, credentials)
    stats: Stats
    try:
        sender.open()
        try:
            if args.rounds is not None:
                stats = publisher.run_rounds(
                    sender,
                    engine.rounds(fleet, kinds, conditions, args.rounds, args.seed),
                    interval_s=args.interval,
                    stop=stop,
                    tick=progress.tick,
                    clock=lambda: datetime.now(UTC),
                )
            else:
                plan = engine.plan(fleet, kinds, conditions, start, end, args.seed)
                if backfill:
                    stats = publisher.run_backfill(sender, plan, stop=stop, tick=progress.tick)
                else:
                    stats = publisher.run_live(
                        sender,
                        plan,
                        sim_start=start,
                        speed=args.speed,
                        stop=stop,
                        tick=progress.tick,
                    )
        finally:
            progress.finish()
            sender.close()
    except publisher.PublishError as exc:
        raise UsageError(str(exc)) from None
    if stats.messages == 0 and not stop.is_set():
        raise UsageError("published nothing: the fleet produced no readings in that period")
    print(
        f"published {stats.messages} messages ({stats.readings} readings, {stats.backlogs}"
        f" backlogs, {stats.malformed} malformed) from {len(fleet)} devices",
        flush=True,
    )
    if not args.no_register:
        print(f"retire them when done: citysense simulate --cleanup {prefix}", flush=True)
    return 0


def _needs(args: argparse.Namespace) -> tuple[str, ...]:
    if args.csv or args.list_scenarios:
        return ()
    if args.cleanup:
        return ("db",)
    mqtt = "mqtt-listens" if args.credentials else "mqtt"  # devices log in as themselves
    return (mqtt,) if args.no_register else ("db", mqtt)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser(
        "simulate",
        help="register and run simulated devices (load mode: citysense load)",
        description="Registers a simulated Muara Enim fleet as real devices (stations,"
        " thresholds, feeders, uplinks) and publishes what it would send over MQTT: live"
        " (--speed), a scenario (--scenario; ends at the present), a backfill (--from/--to)"
        " or quick rounds (--rounds). Each scenario uses its own id prefix (node-down:"
        " NODEDOWN-*), and a run never overwrites devices it did not create;"
        " --cleanup PREFIX retires a run's devices afterwards.",
    )
    sim.add_argument(
        "--scenario", metavar="NAME|FILE", help="a bundled scenario name or a .toml file"
    )
    sim.add_argument("--list-scenarios", action="store_true", help="list bundled scenarios")
    sim.add_argument(
        "--count",
        action="append",
        metavar="KIND=N",
        help="devices of a kind, e.g. --count streetlight=40 (repeatable)",
    )
    sim.add_argument(
        "--per-kind", type=int, default=None, metavar="N", help="the same count for every kind"
    )
    sim.add_argument("--districts", help="comma-separated districts for lights and nodes")
    sim.add_argument(
        "--id-prefix",
        default=None,
        metavar="PREFIX",
        help="device id prefix (default: the scenario's name, e.g. NODEDOWN; else SIM)",
    )
    sim.add_argument("--seed", type=int, default=1, help="same seed, same fleet and readings")
    sim.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (faster runs are placed in the past and end"
        " now; alerts judge simulated devices by simulated time)",
    )
    sim.add_argument("--duration", help="simulated time to run, e.g. 6h (default: scenario's)")
    sim.add_argument("--from", dest="start", help="backfill from this time (ISO 8601)")
    sim.add_argument("--to", dest="end", help="backfill up to this time (ISO 8601)")
    sim.add_argument(
        "--rounds", type=int, default=None, metavar="N", help="N quick rounds of one reading each"
    )
    sim.add_argument("--interval", type=float, default=5.0, help="seconds between --rounds")
    sim.add_argument("--csv", action="store_true", help="print the fleet as CSV and exit")
    sim.add_argument(
        "--no-register", action="store_true", help="do not register the devices (they exist)"
    )
    sim.add_argument("--credentials", help="JSON/CSV of per-device MQTT logins")
    sim.add_argument(
        "--cleanup",
        metavar="PREFIX",
        help="decommission the devices an earlier run with this id prefix registered, and exit",
    )
    # Options are checked first; then cmd_simulate checks the database and broker itself.
    sim.set_defaults(func=cmd_simulate, needs=_needs, checks_reach_itself=True)
