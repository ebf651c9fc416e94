"""``citysense alerts``: evaluate alert rules, send notifications, keep rollups current."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import ValidationError

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings, settings_error

if TYPE_CHECKING:
    from alerts.config import AlertConfig

log = logging.getLogger("citysense.alerts")


def with_webhook(config: AlertConfig, settings: Settings) -> AlertConfig:
    """``CITYSENSE_ALERTS_WEBHOOK_URL`` (a secret: the URL often carries a token) wins."""
    url = settings.alerts_webhook_url.get_secret_value() if settings.alerts_webhook_url else ""
    if not url.strip():
        return config
    from alerts.config import AlertConfig

    try:
        return AlertConfig.model_validate({**config.model_dump(), "webhook_url": url.strip()})
    except ValidationError:
        # Not pydantic's message: it would echo the URL, token and all, into the logs.
        raise UsageError(
            "CITYSENSE_ALERTS_WEBHOOK_URL is not an http(s) URL"
            " (e.g. https://ops.example/hooks/citysense); leave it empty for no webhook"
        ) from None


def _redacted(url: str) -> str:
    """Scheme and host only: a webhook's path or query usually carries its token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/... (path and query hidden)"


def cmd_alerts(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from alerts.config import load_config
    from alerts.service import OperationsService
    from core.storage.pool import create_pool

    path = args.config or (Path(settings.alerts_config) if settings.alerts_config else None)
    try:
        config = with_webhook(load_config(path), settings)
    except ValidationError as exc:  # not pydantic's message: it echoes a webhook's token
        raise UsageError(f"alert configuration {path}: {settings_error(exc, None)}") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"alert configuration {path}: {exc}") from exc
    if args.check:
        shown = config.model_dump(mode="json")
        if shown.get("webhook_url"):
            shown["webhook_url"] = _redacted(str(shown["webhook_url"]))
        print(json.dumps(shown, indent=2))
        return 0

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        pool = await create_pool(settings.database_url, min_size=1, max_size=4)
        try:
            service = OperationsService(settings.database_url, pool, kinds, config)
            await service.run(stop)
            log.info("alerts stopped: %s", service.evaluator.stats)
        finally:
            await pool.close()

    asyncio.run(main())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "alerts", help="evaluate alert rules, notify, and keep hourly rollups current"
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="alert rules/thresholds (JSON); default: CITYSENSE_ALERTS_CONFIG, else built-in",
    )
    p.add_argument("--check", action="store_true", help="print the effective config and exit")
    p.set_defaults(func=cmd_alerts, needs=lambda a: () if a.check else ("db",))
