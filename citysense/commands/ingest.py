from __future__ import annotations

import argparse

from citysense.commands import UsageError
from core.broker_accounts import MAX_INGEST_WORKERS
from core.kinds import KindRegistry
from core.settings import Settings


def cmd_ingest(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from ingest.service import BrokerRefusedError
    from ingest.workers import run_worker, supervise

    if not 1 <= args.workers <= MAX_INGEST_WORKERS:
        raise UsageError(
            f"--workers must be 1..{MAX_INGEST_WORKERS} (the broker has one login per worker)"
        )
    json_logs = args.log_format == "json"
    if args.workers == 1:
        try:
            run_worker(settings, kinds, 0, json_logs)
        except BrokerRefusedError as exc:
            raise UsageError(str(exc)) from None
        return 0
    if json_logs:
        from ingest.logs import use_json_logs

        use_json_logs(worker="supervisor")
    code = supervise(settings, kinds, args.workers, json_logs)
    if code == 2:
        raise UsageError(
            "the MQTT broker refused ingest's login; set CITYSENSE_MQTT_USERNAME /"
            " CITYSENSE_MQTT_PASSWORD to an account it accepts"
        )
    return code


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help="consume MQTT telemetry into the database")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the MQTT subscription ($share group), each with its"
        " own client id <CITYSENSE_INGEST_CLIENT_ID>-<i> (with a service password: its own"
        " login <CITYSENSE_MQTT_USERNAME>-<i>, which the broker makes its client id)",
    )
    p.add_argument(
        "--log-format",
        choices=("json", "text"),
        default="json",
        help="json lines for a log collector (default), or text for a terminal",
    )
    p.set_defaults(func=cmd_ingest, needs=("db", "mqtt"))
