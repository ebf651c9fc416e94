from __future__ import annotations

import argparse

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings


def cmd_migrate(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.migrate import migrate
    from core.storage.timescale import SetupError

    try:
        result = migrate(
            settings.database_url, retention_days=settings.retention_days, storage=settings.storage
        )
    except SetupError as exc:
        raise UsageError(str(exc)) from None
    applied = ", ".join(f"{v:04d}" for v in result.applied) or "none (up to date)"
    print(f"storage path: {result.storage_path}; migrations applied: {applied}")
    return 0


def cmd_kind_sql(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.ddl import readings_table_sql

    if args.kind not in kinds:
        raise UsageError(f"unknown kind {args.kind!r}; known: {', '.join(kinds)}")
    print(readings_table_sql(kinds[args.kind]), end="")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser(
        "migrate", help="apply pending migrations (the ones not yet in the database)"
    ).set_defaults(func=cmd_migrate, needs=("db",))
    ks = db.add_parser("kind-sql", help="print the readings-table DDL of a kind")
    from core.kinds import builtin_kinds

    ks.add_argument("kind", choices=list(builtin_kinds()), help="the device kind")
    ks.set_defaults(func=cmd_kind_sql)
