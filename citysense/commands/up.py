"""``citysense up``: the whole platform on this machine, with nothing to set up first."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings, settings_error


def cmd_up(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from alerts.config import load_config
    from citysense.up.datadir import default_data_dir
    from citysense.up.stack import UpOptions, run_stack

    if args.per_kind < 1:
        raise UsageError(f"--per-kind must be at least 1, got {args.per_kind}")
    if args.interval <= 0:
        raise UsageError(f"--interval must be positive, got {args.interval}")
    if not args.verbose:
        # The summary says what runs; per-round and per-connection chatter is for -v.
        for name in ("simulators", "ingest", "alerts", "core", "api"):
            logging.getLogger(name).setLevel(logging.WARNING)
    config_path = Path(args.alerts_config) if args.alerts_config else None
    try:
        alerts = load_config(config_path)
    except ValidationError as exc:  # not pydantic's message: it echoes a webhook's token
        raise UsageError(
            f"alert configuration {config_path}: {settings_error(exc, None)}"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"alert configuration {config_path}: {exc}") from exc
    options = UpOptions(
        data_dir=Path(args.data_dir) if args.data_dir else default_data_dir(),
        api_port=args.port,
        demo=not args.no_demo,
        per_kind=args.per_kind,
        interval_s=args.interval,
        alerts=alerts,
    )
    code: int = asyncio.run(run_stack(settings, kinds, options, announce=_say))
    return code


def _say(text: str) -> None:
    print(text, flush=True)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = sub.add_parser(
        "up",
        help="run everything here: database, broker, ingest, API and a demo fleet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""Starts an embedded PostgreSQL and Mosquitto unless CITYSENSE_DATABASE_URL /
CITYSENSE_MQTT_HOST name external ones, migrates, and runs ingest, the alert evaluator,
the API and simulated devices (ids DEMO-*) until Ctrl-C.

It records how to reach what it started in DATA_DIR/instance.json (readable by you only),
so other commands (citysense status, devices list, simulate ...) find it without settings;
on the first run it issues an operator and a technician API key, printed once and kept in
DATA_DIR/keys.json.

Data directory: --data-dir; else $CITYSENSE_DATA_DIR; else $XDG_DATA_HOME/citysense; else
~/.local/share/citysense, or /var/lib/citysense as root (PostgreSQL and Mosquitto then run
as their own users, who cannot enter /root). After a crash, a PostgreSQL or Mosquitto
left running on it is reported with the command that stops it.""",
    )
    up.add_argument(
        "--port",
        type=int,
        default=None,
        help="API port (default CITYSENSE_API_PORT, else 8000, else any free port)",
    )
    up.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="where the embedded database and broker keep data (default: see above)",
    )
    up.add_argument("--no-demo", action="store_true", help="do not run simulated devices")
    up.add_argument(
        "--per-kind", type=int, default=3, metavar="N", help="simulated devices of each kind"
    )
    up.add_argument(
        "--interval", type=float, default=2.0, metavar="S", help="seconds between demo readings"
    )
    up.add_argument(
        "--alerts-config",
        default=None,
        help="alert rules/thresholds (JSON, as for 'citysense alerts --config')",
    )
    up.set_defaults(func=cmd_up)
