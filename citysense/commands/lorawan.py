"""``citysense lorawan run``: bridge a LoRaWAN network server's MQTT integration."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings

log = logging.getLogger(__name__)

PASSWORD_ENV = "CITYSENSE_LORAWAN_PASSWORD"  # noqa: S105 (a variable name, not a secret)


def cmd_run(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.pool import create_pool
    from lorawan.bridge import Bridge, BridgeError, Broker
    from lorawan.codec import CodecError, load_codecs
    from lorawan.servers import Server

    try:
        codecs = load_codecs(kinds, args.codecs)
    except (OSError, CodecError) as exc:
        raise UsageError(f"codecs: {exc}") from None
    broker = Broker(
        args.host,
        args.port,
        args.username,
        os.environ.get(PASSWORD_ENV) or None,
        args.client_id,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        pool = await create_pool(settings.database_url, min_size=1, max_size=4)
        try:
            bridge = Bridge(
                settings,
                pool,
                kinds,
                server=Server(args.server),
                broker=broker,
                codecs=codecs,
                application=args.application,
            )
            await bridge.run(stop)
            log.info("lorawan bridge stopped: %s", bridge.stats)
        finally:
            await pool.close()

    try:
        asyncio.run(main())
    except BridgeError as exc:
        raise UsageError(str(exc)) from None
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("lorawan", help="bridge a LoRaWAN network server (ChirpStack, TTS)")
    cmds = p.add_subparsers(dest="lorawan_command", required=True)
    run = cmds.add_parser(
        "run",
        help="store uplinks from the network server's MQTT integration; send commands as downlinks",
        description=f"The broker password is read from {PASSWORD_ENV} (never a flag).",
    )
    run.add_argument(
        "--server",
        required=True,
        choices=("chirpstack", "tts"),
        help="ChirpStack v4 or The Things Stack v3 (its MQTT integration's topics and format)",
    )
    run.add_argument("--host", default="127.0.0.1", help="the network server's MQTT broker")
    run.add_argument("--port", type=int, default=1883, help="its port (default 1883)")
    run.add_argument(
        "--username", help="ChirpStack: the integration's user; TTS: {application id}@{tenant}"
    )
    run.add_argument(
        "--client-id",
        default="citysense-lorawan",
        help="MQTT client id; fixed, so the broker keeps the bridge's session",
    )
    run.add_argument("--codecs", type=Path, help="codecs JSON (default: the bundled ones)")
    run.add_argument(
        "--application",
        help="application id for downlinks to devices not heard from since the bridge started",
    )
    run.set_defaults(func=cmd_run, needs=("db",))
