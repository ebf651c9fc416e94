"""Citysense: city sensors (street lights, flood gauges, network nodes) over MQTT into PostgreSQL,
with an API, an operations room (/ops) and a technician page (/technician/).

Start with 'citysense up': it runs everything on this machine and records how to reach it,
so every other command in another terminal finds it without settings ('citysense status'
shows what it finds). Settings come from CITYSENSE_* variables or a .env file in the
current directory ('citysense config env-example' lists them); a setting given there wins
over what 'citysense up' recorded.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from citysense.commands import (
    UsageError,
    alerts,
    api,
    broker,
    commands,
    config,
    contract,
    dashboards,
    db,
    devices,
    ingest,
    keys,
    load,
    lorawan,
    simulate,
    status,
    up,
)
from citysense.instance import apply_instance, find_instance
from citysense.reach import explain, preflight
from core.kinds import builtin_kinds
from core.settings import load_settings, settings_error

log = logging.getLogger("citysense")

# Each area registers its own subcommands; add a module here to add an area.
AREAS = (
    db,
    ingest,
    api,
    simulate,
    broker,
    keys,
    config,
    devices,
    up,
    status,
    alerts,
    dashboards,
    load,
    contract,
    commands,
    lorawan,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="citysense",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log more (debug level)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for area in AREAS:
        area.register(sub)
    return p


def needs(args: argparse.Namespace) -> tuple[str, ...]:
    """What the chosen command connects to: ``"db"``, ``"mqtt"`` (set by each area)."""
    declared = getattr(args, "needs", ())
    return tuple(declared(args) if callable(declared) else declared)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"citysense: invalid settings: {settings_error(exc)}", file=sys.stderr)
        return 2
    wanted = needs(args)
    try:
        if wanted:
            found = find_instance()
            settings, filled = apply_instance(settings, found)
            if filled:
                print(f"citysense: using {found.note}", file=sys.stderr)
            elif found.instance is None and not {"database_url", "mqtt_host"} & (
                settings.model_fields_set
            ):
                log.debug("%s; using the default addresses", found.note)
            args.instance_note = found.note if not filled else ""
            if not getattr(args, "checks_reach_itself", False):
                preflight(settings, wanted, args.instance_note)
        code: int = args.func(settings, builtin_kinds(), args)
        return code
    except UsageError as exc:
        print(f"citysense: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        explained = explain(exc, settings)
        if explained is None:
            raise
        log.debug("details", exc_info=True)
        print(f"citysense: {explained}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
