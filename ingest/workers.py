"""Run one ingest worker, or supervise N of them in child processes.

One worker holds a plain subscription on its persistent session, which Mosquitto keeps
across a broker restart (see README, "Delivery guarantee"). N workers join one MQTT shared
subscription (``$share/<group>/...``), so the broker splits telemetry between them; each
has its own client id and therefore its own persistent session. Mosquitto does not keep
shared subscriptions across its restart: until the workers re-subscribe (about a second)
telemetry has no subscriber, and only devices that follow the store-and-forward contract
(the ``stored`` watermark) get those readings stored. More hosts scale the same way: give
each host's workers distinct client ids (``CITYSENSE_INGEST_CLIENT_ID``) and the same
share group.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.process import BaseProcess

import asyncpg

from core.broker_accounts import worker_username
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.errors import TRANSIENT

log = logging.getLogger("citysense.ingest")


def worker_client_id(settings: Settings, index: int) -> str:
    return f"{settings.ingest_client_id}-{index}"


async def serve(
    settings: Settings, kinds: KindRegistry, index: int, stop: asyncio.Event, workers: int = 1
) -> None:
    """One worker: pool, metrics endpoint, service, until ``stop``."""
    from prometheus_client import start_http_server

    from ingest.metrics import IngestMetrics
    from ingest.service import IngestService

    metrics = IngestMetrics()
    server = None
    if settings.ingest_metrics_port:
        port = settings.ingest_metrics_port + index
        server, _ = start_http_server(port, settings.ingest_metrics_host, metrics.registry)
        log.info("metrics on http://%s:%d/metrics", settings.ingest_metrics_host, port)
    pool = await _pool_when_ready(settings, stop)
    try:
        if pool is None:
            return
        if settings.mqtt_password is not None:
            # The broker makes the login the client id: each worker has its own login.
            settings = settings.model_copy(
                update={"mqtt_username": worker_username(settings, index)}
            )
        service = IngestService(
            settings,
            pool,
            kinds,
            client_id=worker_client_id(settings, index),
            shared=workers > 1,
            subscribe_status=index == 0,
            metrics=metrics,
        )
        await service.run(stop)
    finally:
        if pool is not None:
            await pool.close()
        if server is not None:
            server.shutdown()


async def _pool_when_ready(settings: Settings, stop: asyncio.Event) -> asyncpg.Pool | None:
    """The database may start after ingest (compose, reboot): wait for it with backoff."""
    from core.storage.pool import create_pool

    delay = 0.5
    while not stop.is_set():
        try:
            return await create_pool(settings.database_url, min_size=1, max_size=4)
        except TRANSIENT as exc:
            log.warning("database not reachable (%r); retrying in %.1fs", exc, delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            delay = min(delay * 2, 10.0)
    return None


GC_THRESHOLDS = (100_000, 50, 100)
"""Young-generation allocations before a collection, then how many young and middle
collections before an older one (Python's defaults: 700, 10, 10)."""


PARENT_CHECK_S = 0.5


def _die_with_parent(parent_pid: int) -> None:
    """Stop (SIGTERM to ourselves: a graceful stop) as soon as the supervisor is gone.

    Linux delivers the signal at the parent's death (PR_SET_PDEATHSIG), even a SIGKILL; a
    thread watching the parent pid covers other systems and the race before prctl ran.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError) as exc:
            log.warning("PR_SET_PDEATHSIG unavailable (%r); watching the parent pid only", exc)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        log.error("supervisor %d is gone; stopping", parent_pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


PR_SET_PDEATHSIG = 1


def run_worker(
    settings: Settings,
    kinds: KindRegistry,
    index: int,
    json_logs: bool,
    parent_pid: int | None = None,
    workers: int = 1,
) -> None:
    """Process entry point of a worker (also used in-process for ``--workers 1``).

    ``parent_pid``: the supervisor's pid; the worker stops when that process is gone.
    """
    if json_logs:
        from ingest.logs import use_json_logs

        use_json_logs(worker=index)
    elif not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format=f"%(asctime)s %(levelname)s worker-{index} %(message)s"
        )

    # A worker allocates a few objects per reading (dict, Reading, datetime), hundreds of
    # thousands a second, and nearly all of them stay alive until their batch commits, so
    # the default young-generation threshold (700) runs collections that free nothing.
    # Measured with `python -m bench ingest`'s backlog phase, same session, two pairs of
    # runs: 19.1-20.0 -> 17.2-17.5 ms of worker CPU per 1,000 readings.
    gc.set_threshold(*GC_THRESHOLDS)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if parent_pid is not None:
            _die_with_parent(parent_pid)
        await serve(settings, kinds, index, stop, workers)

    asyncio.run(main())


REFUSED_EXIT = 3
"""A worker's exit status when the broker refused its login for good: do not restart it."""


def _worker_process(
    settings: Settings,
    kinds: KindRegistry,
    index: int,
    json_logs: bool,
    parent_pid: int,
    workers: int,
) -> None:
    from ingest.service import BrokerRefusedError

    try:
        run_worker(settings, kinds, index, json_logs, parent_pid, workers)
    except BrokerRefusedError as exc:
        log.error("%s", exc)
        raise SystemExit(REFUSED_EXIT) from None


def supervise(settings: Settings, kinds: KindRegistry, workers: int, json_logs: bool) -> int:
    """Start ``workers`` processes, restart any that dies, forward SIGTERM/SIGINT to all.

    Workers stop by themselves when the supervisor dies (even by SIGKILL), so a restarted
    supervisor never finds the old workers still holding the sessions.
    """
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start(i: int) -> BaseProcess:
        p = ctx.Process(
            target=_worker_process,
            args=(settings, kinds, i, json_logs, os.getpid(), workers),
            name=f"ingest-{i}",
        )
        p.start()
        return p

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    procs = {i: start(i) for i in range(workers)}
    log.info("started %d ingest workers", workers)
    while not stopping:
        time.sleep(0.2)
        for i, p in list(procs.items()):
            if p.exitcode == REFUSED_EXIT:
                log.error("worker %d: the broker refused the login; stopping", i)
                stopping = True
                break
            if not p.is_alive() and not stopping:
                log.error("worker %d exited with %s; restarting", i, p.exitcode)
                time.sleep(1)
                procs[i] = start(i)
    for p in procs.values():
        if p.is_alive() and p.pid is not None:
            os.kill(p.pid, signal.SIGTERM)
    code = 0
    for p in procs.values():
        p.join(60)
        if p.exitcode == REFUSED_EXIT:
            code = 2
        elif p.exitcode not in (0, None) and code == 0:
            code = 1
    return code
