"""``citysense dashboards``: generate the Grafana JSON, publish it, grant the read-only role."""

from __future__ import annotations

import argparse
import json
import os
import sys

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings

PASSWORD_ENV = "CITYSENSE_GRAFANA_DB_PASSWORD"  # noqa: S105 (a variable name)


def cmd_generate(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from dashboards import generate
    from dashboards.i18n import LANGS

    langs = LANGS if args.lang == "all" else (args.lang,)
    if args.check:
        stale = [p for p in generate.stale(kinds) if p.parent.name in langs]
        for p in stale:
            print(f"out of date: {p}", file=sys.stderr)
        return 1 if stale else 0
    written = generate.write(kinds, langs)
    for p in written:
        print(f"wrote {p}")
    if not written:
        print("dashboards up to date")
    return 0


def cmd_publish(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from dashboards import generate
    from dashboards.datasource import DatabaseAddress, datasource_json
    from dashboards.publish import PublishError, publish

    token = args.token or os.environ.get("CITYSENSE_GRAFANA_TOKEN")
    if not token:
        raise UsageError(
            "give --token or CITYSENSE_GRAFANA_TOKEN (a Grafana service-account token)"
        )
    db = DatabaseAddress.from_url(settings.database_url, host=args.db_host)
    boards = [generate.to_json(b) for b in generate.boards(kinds, args.lang)]
    try:
        changes = publish(
            args.url,
            token,
            datasource_json(db, timescaledb=args.timescaledb),
            boards,
            password=os.environ.get(PASSWORD_ENV),
        )
    except PublishError as exc:
        print(f"citysense: {exc}", file=sys.stderr)
        return 1
    for c in changes:
        print(f"{c.action:9} {c.what}")
    return 0


def cmd_grant(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.grafana_role import grant_grafana_role, readable_tables

    grant_grafana_role(settings.database_url)
    print(
        json.dumps(
            {"role": "citysense_grafana", "can_read": readable_tables(settings.database_url)}
        )
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("dashboards", help="Grafana dashboards as code").add_subparsers(
        dest="dashboards_command", required=True
    )
    g = d.add_parser("generate", help="write dashboards/grafana/<lang>/*.json from the code")
    g.add_argument(
        "--lang",
        choices=("id", "en", "all"),
        default="all",
        help="Bahasa Indonesia, English, or both (default)",
    )
    g.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is stale")
    g.set_defaults(func=cmd_generate)
    p = d.add_parser(
        "publish",
        help="push the data source and dashboards to a running Grafana (idempotent)",
        description=f"The database password for the data source comes from ${PASSWORD_ENV}.",
    )
    p.add_argument("--url", required=True, help="Grafana base URL, e.g. http://grafana:3000")
    p.add_argument("--token", help="service-account token (or $CITYSENSE_GRAFANA_TOKEN)")
    p.add_argument(
        "--lang",
        choices=("id", "en"),
        default="id",
        help="dashboard language (default id: Bahasa Indonesia)",
    )
    p.add_argument("--db-host", help="database host as Grafana reaches it (default: from URL)")
    p.add_argument("--timescaledb", action="store_true", help="mark the data source TimescaleDB")
    p.set_defaults(func=cmd_publish)
    d.add_parser(
        "grant", help="(re)grant the read-only citysense_grafana role on every readings table"
    ).set_defaults(func=cmd_grant, needs=("db",))
