from __future__ import annotations

import argparse

from core.kinds import KindRegistry
from core.settings import Settings


def cmd_api(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    app = create_app(settings, kinds)
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser(
        "api", help="serve the HTTP API and pages on CITYSENSE_API_HOST:CITYSENSE_API_PORT"
    ).set_defaults(func=cmd_api, needs=("db",))
