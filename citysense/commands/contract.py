from __future__ import annotations

import argparse
import json
import sys

from core.kinds import KindRegistry
from core.settings import Settings


def cmd_schema(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.wire_schema import wire_schema

    sys.stdout.write(json.dumps(wire_schema(kinds), indent=2, ensure_ascii=False) + "\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    contract = sub.add_parser("contract", help="the MQTT wire contract").add_subparsers(
        dest="contract_command", required=True
    )
    contract.add_parser(
        "schema", help="print the JSON Schema (docs/wire-contract.schema.json)"
    ).set_defaults(func=cmd_schema)
