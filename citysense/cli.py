"""The ``citysense`` command: the composition root that builds settings, pools and clients."""

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
    up,
)
from core.kinds import builtin_kinds
from core.settings import load_settings, settings_error

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
    alerts,
    dashboards,
    load,
    contract,
    commands,
    lorawan,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="citysense", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    for area in AREAS:
        area.register(sub)
    return p


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
    try:
        code: int = args.func(settings, builtin_kinds(), args)
        return code
    except UsageError as exc:
        print(f"citysense: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
