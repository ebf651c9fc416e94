"""The operations process: LISTEN for committed batches, evaluate alerts, run the timer,
re-read the registry's details, keep the hourly rollups current, and deliver notifications.

Every loop survives what ingest survives: while the database is away
(:func:`core.storage.errors.is_transient`) a job logs and tries again next time. A loop
that cannot go on (any other error escaping it) ends :meth:`OperationsService.run` with
that error, so the process exits non-zero and its supervisor restarts it, instead of
running on with a dead loop (the operations room would silently stop getting alarms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from alerts.config import AlertConfig
from alerts.evaluator import AlertEvaluator, Clock, utc_now
from alerts.notify import Dispatcher, Notifier, WebhookNotifier
from alerts.sink import AlertSink
from core.kinds import KindRegistry
from core.storage.errors import TRANSIENT
from core.storage.events import CHANNEL, decode_notification
from core.storage.rollups import refresh_rollups

log = logging.getLogger(__name__)

_RETRY_LATER: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *TRANSIENT)
"""A job failing with these is logged and run again next time: the database is away, or
refused this one piece of work."""


class LoopStoppedError(RuntimeError):
    """A loop of the operations service ended; the process must be restarted."""


def default_notifiers(config: AlertConfig) -> list[Notifier]:
    if config.webhook_url is None:
        return []
    return [WebhookNotifier(str(config.webhook_url), timeout_s=config.webhook_timeout_s)]


class OperationsService:
    def __init__(
        self,
        dsn: str,
        pool: asyncpg.Pool,
        kinds: KindRegistry,
        config: AlertConfig,
        *,
        notifiers: list[Notifier] | None = None,
        clock: Clock = utc_now,
        refresh_rollups: bool = True,
    ) -> None:
        self._dsn = dsn
        self._pool = pool
        self._kinds = kinds
        self._config = config
        self._refresh = refresh_rollups
        self.dispatcher = Dispatcher(
            default_notifiers(config) if notifiers is None else notifiers,
            attempts=config.webhook_attempts,
            backoff_s=config.webhook_backoff_s,
        )
        self.sink = AlertSink(pool, self.dispatcher, tz=config.timezone)
        self.evaluator = AlertEvaluator(pool, kinds, config, self.sink, clock)
        self.ready = asyncio.Event()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._conn: asyncpg.Connection | None = None
        self._stopping = False
        self._reconnect: asyncio.Task[None] | None = None
        self._failed = asyncio.Event()
        self.failure: BaseException | None = None

    def backend_pid(self) -> int | None:
        return None if self._conn is None else self._conn.get_server_pid()

    async def _listen(self) -> None:
        self._conn = await asyncpg.connect(self._dsn)
        await self._conn.add_listener(CHANNEL, self._on_notify)
        self._conn.add_termination_listener(self._on_lost)

    def _on_lost(self, conn: object) -> None:
        if not self._stopping:
            self._reconnect = asyncio.get_running_loop().create_task(
                self._guard("listen", self._relisten)
            )

    async def _relisten(self) -> None:
        """Batches committed while we were away are not replayed: a tick catches liveness
        up at once, and each device's next reading re-evaluates its rules."""
        delay = 0.5
        while not self._stopping:
            try:
                await self._listen()
            except TRANSIENT as exc:
                log.warning("alerts: reconnect failed (%r); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            log.info("alerts: listening again on %s", CHANNEL)
            try:
                await self.evaluator.tick()
            except _RETRY_LATER as exc:
                log.warning("alerts: catch-up tick failed (%r); the timer runs it again", exc)
            return

    async def run(self, stop: asyncio.Event) -> None:
        await self._listen()
        self.dispatcher.start()
        await self.sink.load()
        await self.evaluator.refresh_metadata()
        tasks = [
            asyncio.create_task(self._guard("events", self._events)),
            asyncio.create_task(
                self._guard(
                    "timer", self._every(self._config.evaluate_every_s, self.evaluator.tick)
                )
            ),
            asyncio.create_task(
                self._guard(
                    "registry",
                    self._every(self._config.registry_refresh_s, self.evaluator.refresh_metadata),
                )
            ),
        ]
        if self._refresh:
            tasks.append(
                asyncio.create_task(
                    self._guard(
                        "rollups",
                        self._every(self._config.refresh_rollups_every_s, self._refresh_all),
                    )
                )
            )
        self.ready.set()
        log.info("alerts: listening on %s", CHANNEL)
        try:
            stopping = asyncio.ensure_future(stop.wait())
            failing = asyncio.ensure_future(self._failed.wait())
            await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            failing.cancel()
            if self.failure is not None:
                raise LoopStoppedError(
                    "alerts: a loop stopped; exiting so the supervisor restarts the service"
                ) from self.failure
        finally:
            self._stopping = True
            if self._reconnect is not None:
                self._reconnect.cancel()
                tasks.append(self._reconnect)
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            with contextlib.suppress(Exception):
                await self.evaluator.settle()
            if self._conn is not None and not self._conn.is_closed():
                await self._conn.close()
            await self.dispatcher.close()

    def _on_notify(self, conn: object, pid: int, channel: str, payload: object) -> None:
        self._queue.put_nowait(str(payload))

    async def idle(self) -> None:
        """Wait until every notification received so far has been evaluated (tests)."""
        await self._queue.join()

    async def _events(self) -> None:
        while True:
            payload = await self._queue.get()
            try:
                kind, items = decode_notification(payload)
                if kind == "readings":
                    await self.evaluator.on_readings(items)
                elif kind == "backlog":
                    await self.evaluator.on_backlog(items)
            except ValueError:
                log.warning("alerts: ignoring a malformed notification")
            except _RETRY_LATER:
                log.exception("alerts: evaluating a batch failed")
            finally:
                self._queue.task_done()

    async def _refresh_all(self) -> None:
        while (await refresh_rollups(self._pool, self._kinds)).buckets:
            pass

    @staticmethod
    def _every(seconds: float, job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except _RETRY_LATER:
                    log.exception("alerts: periodic job failed")

        return loop

    async def _guard(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run a loop; if it ends with an error, make :meth:`run` end with it."""
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("alerts: %s loop stopped", name)
            if self.failure is None:
                self.failure = exc
            self._failed.set()
