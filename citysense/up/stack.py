"""Start the platform's parts in order, announce the URL, and stop them in reverse on a signal.

Ingest, the alert evaluator (what ``citysense alerts`` runs), the commands dispatcher, the
work-order watcher (``citysense jobs watch``), the API and the demo fleet start in that
order and stop in reverse. The database and broker are embedded unless their setting was
given explicitly (pydantic-settings records that in ``model_fields_set``):
``CITYSENSE_DATABASE_URL`` points at an external database,
``CITYSENSE_MQTT_HOST``/``_PORT`` at an external broker. Ingest, alerts, the API and the
demo fleet run in this process, on one event loop and one connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import uvicorn

from alerts.config import AlertConfig
from citysense import instance
from citysense.commands import UsageError
from citysense.reach import redact
from citysense.up import broker, database, datadir
from citysense.up.demo import DRILL_NOTE, start_demo
from citysense.up.ports import api_socket
from core.kinds import KindRegistry
from core.settings import Settings

log = logging.getLogger("citysense.up")


@dataclass(frozen=True, slots=True)
class UpOptions:
    data_dir: Path
    api_port: int | None = None
    demo: bool = True
    per_kind: int = 3
    interval_s: float = 2.0
    alerts: AlertConfig | None = None
    """Alert rules and thresholds (``--alerts-config``); the defaults when ``None``."""


class _StoppedError(Exception):
    """A signal arrived while starting: unwind what was started, exit cleanly."""


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``citysense up`` decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serves(app: Any, path: str) -> bool:
    """Does the app answer GET ``path``? Asked of its router, as a request would be.

    FastAPI 0.165 keeps an included router's routes behind one ``_IncludedRouter`` entry
    of ``app.routes`` (no ``path``), so reading paths off that list misses them; matching
    a request scope works whatever the nesting.
    """
    from starlette.routing import Match

    scope = {
        "type": "http",
        "path": path,
        "method": "GET",
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }
    return any(r.matches(scope)[0] == Match.FULL for r in app.router.routes)


def main_url(host: str, port: int, app: Any) -> str:
    """The first URL to open: the operations room when the app serves it, else the API docs."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    return base + ("/ops" if serves(app, "/ops") else "/docs")


async def run_stack(
    settings: Settings,
    kinds: KindRegistry,
    options: UpOptions,
    *,
    announce: Callable[[str], None] = print,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                return await _run(settings, kinds, options, stack, stop, announce)
            except _StoppedError:
                return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _run(
    settings: Settings,
    kinds: KindRegistry,
    options: UpOptions,
    stack: contextlib.AsyncExitStack,
    stop: asyncio.Event,
    announce: Callable[[str], None],
) -> int:
    from alerts.service import OperationsService
    from api.app import create_app
    from core.storage.migrate import migrate
    from core.storage.pool import create_pool
    from core.storage.timescale import SetupError
    from ingest.service import IngestService

    def check() -> None:
        if stop.is_set():
            raise _StoppedError

    given = settings.model_fields_set
    port_given = options.api_port is not None or "api_port" in given
    sock = api_socket(
        settings.api_host, options.api_port or settings.api_port, configured=port_given
    )
    stack.callback(sock.close)
    data_dir = datadir.prepare(options.data_dir)
    stack.callback(datadir.lock(data_dir).close)
    updates: dict[str, Any] = {"api_port": sock.getsockname()[1]}

    if "database_url" in given:
        await asyncio.to_thread(database.check_external, settings.database_url)
        db_note = f"external database {redact(settings.database_url)}"
    else:
        pg = await asyncio.to_thread(database.start_embedded, data_dir)
        stack.callback(pg.stop)
        updates["database_url"] = pg.dsn(database.DATABASE)
        db_note = f"embedded PostgreSQL {updates['database_url']}, data in {pg.datadir}"
    check()

    if {"mqtt_host", "mqtt_port"} & given:
        await asyncio.to_thread(broker.check_external, settings.mqtt_host, settings.mqtt_port)
        mqtt_note = f"external broker {settings.mqtt_host}:{settings.mqtt_port}"
    else:
        mosquitto = await asyncio.to_thread(broker.start_embedded, data_dir)
        stack.callback(mosquitto.stop)
        updates |= {"mqtt_host": "127.0.0.1", "mqtt_port": mosquitto.port}
        mqtt_note = f"Mosquitto on 127.0.0.1:{mosquitto.port}, sessions kept in {mosquitto.workdir}"
    check()

    settings = settings.model_copy(update=updates)
    try:
        result = await asyncio.to_thread(
            migrate,
            settings.database_url,
            retention_days=settings.retention_days,
            storage=settings.storage,
        )
    except SetupError as exc:
        raise UsageError(str(exc)) from None
    except psycopg.Error as exc:
        raise UsageError(
            f"migrating the database failed: {str(exc).strip().splitlines()[0]}"
        ) from None
    check()

    pool = await create_pool(settings.database_url, min_size=1, max_size=settings.db_pool_max)
    stack.push_async_callback(pool.close)

    ingest_stop = asyncio.Event()
    service = IngestService(settings, pool, kinds)
    ingest_task = asyncio.create_task(service.run(ingest_stop), name="ingest")

    async def stop_ingest() -> None:
        ingest_stop.set()
        await _settle(ingest_task)
        log.info("ingest stopped: %s", service.stats)

    stack.push_async_callback(stop_ingest)
    await _first(
        stop, service.subscribed, within=30, what="ingest's MQTT subscription", failed=ingest_task
    )
    check()

    ops_stop = asyncio.Event()
    ops = OperationsService(settings.database_url, pool, kinds, options.alerts or AlertConfig())
    ops_task = asyncio.create_task(ops.run(ops_stop), name="alerts")

    async def stop_ops() -> None:
        ops_stop.set()
        await _settle(ops_task)
        log.info("alerts stopped: %s", ops.evaluator.stats)

    stack.push_async_callback(stop_ops)
    await _first(stop, ops.ready, within=30, what="the alert evaluator", failed=ops_task)
    check()

    from citysense.commands.commands import dispatcher_login, region_centre
    from commands.scheduler import ScheduleRunner
    from commands.service import Dispatcher

    commands_stop = asyncio.Event()
    dispatcher = Dispatcher(settings, pool, login=dispatcher_login(settings))
    lat, lon = region_centre(settings)
    schedules = ScheduleRunner(pool, kinds, lat=lat, lon=lon)

    async def run_commands() -> None:
        try:
            await asyncio.gather(dispatcher.run(commands_stop), schedules.run(commands_stop))
        except Exception as exc:  # the rest of the platform keeps running without commands
            log.error("commands dispatcher stopped: %s; commands stay queued", exc)

    commands_task = asyncio.create_task(run_commands(), name="commands")

    async def stop_commands() -> None:
        commands_stop.set()
        await _settle(commands_task)

    stack.push_async_callback(stop_commands)

    from workorders.service import WorkOrders

    jobs_stop = asyncio.Event()
    jobs_task = asyncio.create_task(
        WorkOrders(pool).run(jobs_stop, interval_s=WORK_ORDER_INTERVAL_S), name="jobs"
    )

    async def stop_jobs() -> None:
        jobs_stop.set()
        await _settle(jobs_task)

    stack.push_async_callback(stop_jobs)

    app = create_app(settings, kinds, pool=pool)
    server = EmbeddedServer(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server_task = asyncio.create_task(server.serve(sockets=[sock]), name="api")

    async def stop_server() -> None:
        server.should_exit = True
        await _settle(server_task)

    stack.push_async_callback(stop_server)
    while not server.started:
        if server_task.done():
            server_task.result()
            raise UsageError("the API did not start; run with -v to see why")
        check()
        await asyncio.sleep(0.05)

    demo_note = "none (--no-demo)"
    ids: list[str] = []
    if options.demo:
        demo_stop = threading.Event()
        demo = await start_demo(
            settings,
            kinds,
            pool,
            demo_stop,
            per_kind=options.per_kind,
            interval_s=options.interval_s,
        )

        ids = demo.ids

        async def stop_demo() -> None:
            demo_stop.set()
            await asyncio.to_thread(demo.thread.join, 30)

        stack.push_async_callback(stop_demo)
        demo_note = (
            f"{len(ids)} simulated Muara Enim devices,"
            f" one reading each every {options.interval_s:g}s"
        )
        if demo.drill_gauge:
            demo_note += f"\n             {demo.drill_gauge}: {DRILL_NOTE}"

    url = main_url(settings.api_host, updates["api_port"], app)
    base = url.rsplit("/", 1)[0]
    keys_note = await local_keys(pool, data_dir)
    recorded = instance.write_instance(
        data_dir,
        instance.Instance(
            pid=os.getpid(),
            data_dir=str(data_dir),
            database_url=settings.database_url,
            mqtt_host=settings.mqtt_host,
            mqtt_port=settings.mqtt_port,
            api_url=base,
            embedded_database="database_url" not in given,
            embedded_broker=not {"mqtt_host", "mqtt_port"} & given,
        ),
    )
    stack.callback(instance.remove_instance, data_dir)
    lines = [
        f"Citysense is up: {url}",
        f"  API docs   {base}/docs",
        f"  health     {base}/healthz",
        *([f"  readings   {base}/devices/{ids[0]}/readings"] if ids else []),
        f"  database   {db_note} (schema: {result.storage_path})",
        f"  broker     {mqtt_note}",
        f"  alerts     evaluated here; open ones at {base}/alerts and on {base}/ops",
        f"  jobs       work orders opened from alarms here; live ones at {base}/work-orders",
        f"  demo       {demo_note}",
        *keys_note,
        f"  instance   recorded in {recorded}: other commands (citysense status,"
        " citysense devices list, citysense simulate ...) find it there",
        "Press Ctrl-C to stop.",
    ]
    announce("\n".join(lines))

    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait(
        {stopper, ingest_task, ops_task, commands_task, jobs_task, server_task},
        return_when=asyncio.FIRST_COMPLETED,
    )
    stopper.cancel()
    if stopper in done:
        announce("Stopping Citysense...")
        return 0
    failed = next(iter(done))
    log.error("%s stopped unexpectedly: %r; shutting down", failed.get_name(), failed.exception())
    return 1


WORK_ORDER_INTERVAL_S = 10.0
"""Seconds between the work-order watcher's rounds (``citysense jobs watch`` defaults to 30)."""

KEY_NAMES = {"operator": "citysense up: operator", "technician": "citysense up: technician"}


async def local_keys(pool: Any, data_dir: Path) -> list[str]:
    """Operator and technician keys for this instance: issued and shown once, kept 0600.

    A later run finds them in ``keys.json`` and only says where they are; keys that no
    longer work (a database started afresh) are issued anew.
    """
    from core.storage.api_keys import create_api_key, find_api_key

    kept = instance.read_keys(data_dir)
    if kept is not None:
        valid = [await find_api_key(pool, k) for k in (kept.operator, kept.technician)]
        if all(valid):
            return [
                f"  keys       operator and technician keys in {data_dir / instance.KEYS_FILE}"
                " ('citysense env' prints them)"
            ]
    _, operator = await create_api_key(pool, KEY_NAMES["operator"], "operator")
    _, technician = await create_api_key(pool, KEY_NAMES["technician"], "technician")
    path = instance.write_keys(data_dir, instance.Keys(operator, technician))
    return [
        f"  keys       shown once (kept in {path}, readable by you only);"
        " paste one into the page's settings:",
        f"             operator   {operator}   (/ops: acknowledge, shelve alerts)",
        f"             technician {technician}   (/technician/: register, install devices)",
    ]


async def _first(
    stop: asyncio.Event,
    ready: asyncio.Event,
    *,
    within: float,
    what: str,
    failed: asyncio.Task[Any] | None = None,
) -> None:
    waiters = {asyncio.create_task(stop.wait()), asyncio.create_task(ready.wait())}
    done, pending = await asyncio.wait(
        {*waiters, *([failed] if failed else [])},
        timeout=within,
        return_when=asyncio.FIRST_COMPLETED,
    )
    for t in pending:
        if t is not failed:
            t.cancel()
    if failed is not None and failed in done:
        from ingest.service import BrokerRefusedError

        exc = failed.exception()
        if isinstance(exc, BrokerRefusedError):
            raise UsageError(str(exc))
        raise UsageError(f"{what} did not start: {exc!r}; run with -v to see why")
    if not done:
        raise UsageError(f"timed out after {within:g}s waiting for {what}; run with -v to see why")


async def _settle(task: asyncio.Task[Any], within: float = 30) -> None:
    """Let a task finish (cancelling it after ``within``); its failure is already reported."""
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        log.debug("%s ended with %r", task.get_name(), task.exception())
