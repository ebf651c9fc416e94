from __future__ import annotations

import argparse
import sys
from pathlib import Path

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings


def cmd_config(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from citysense.local.mosquitto import QueueSizing, broker_config
    from devices.broker_auth import AuthPaths, mosquitto_directives

    extra = "" if args.anonymous else mosquitto_directives(AuthPaths(Path(args.auth_dir)))
    try:
        text = broker_config(
            port=args.port,
            bind=args.bind,
            persistence_dir=args.persistence_dir,
            sizing=QueueSizing(
                normal_rate=args.rate, outage_s=args.outage, payload_bytes=args.payload_bytes
            ),
            allow_anonymous=args.anonymous,
            max_payload_bytes=settings.ingest_max_payload_bytes,
            extra=extra,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    broker = sub.add_parser("broker", help="MQTT broker helpers").add_subparsers(
        dest="broker_command", required=True
    )
    bc = broker.add_parser("config", help="print the Mosquitto configuration ingest relies on")
    bc.add_argument("--port", type=int, default=1883, help="listener port (default 1883)")
    bc.add_argument("--bind", default="0.0.0.0", help="listener address (default 0.0.0.0)")
    bc.add_argument(
        "--persistence-dir",
        default="/mosquitto/data/",
        metavar="DIR",
        help="where Mosquitto keeps sessions and queued messages",
    )
    bc.add_argument("--rate", type=float, default=100.0, help="normal messages/s to size for")
    bc.add_argument("--outage", type=int, default=3600, help="ingest outage to survive, s")
    bc.add_argument("--payload-bytes", type=int, default=150, help="typical payload size")
    bc.add_argument(
        "--auth-dir",
        default="/mosquitto/auth",
        help="where `citysense devices broker-sync` writes passwd, acl (and finds the pid file)",
    )
    bc.add_argument(
        "--anonymous",
        action="store_true",
        help="no logins, no ACL: local development only, needs --bind 127.0.0.1",
    )
    bc.set_defaults(func=cmd_config)
