from __future__ import annotations

import argparse
import sys

from core.kinds import KindRegistry
from core.settings import Settings


def env_example() -> str:
    """Every setting as a commented ``CITYSENSE_*`` line with its default."""
    lines = [
        "# Citysense settings: each is read from CITYSENSE_<NAME>, or from this file as .env.",
        "# Values shown are the defaults.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        if field.description:
            lines.append(f"# {field.description}")
        default = field.default
        if default is None or hasattr(default, "get_secret_value"):
            default = ""
        lines.append(f"# CITYSENSE_{name.upper()}={default}")
    return "\n".join(lines) + "\n"


def cmd_env_example(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    sys.stdout.write(env_example())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="settings").add_subparsers(
        dest="config_command", required=True
    )
    config.add_parser("env-example", help="print .env.example").set_defaults(func=cmd_env_example)
