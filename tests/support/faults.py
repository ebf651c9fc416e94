"""A private broker, PostgreSQL and ``citysense ingest`` to break: the faults of the
delivery guarantee, each injected at once, without waiting for anything to come back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from citysense.local.mosquitto import LocalMosquitto
from tests.support.private_pg import PrivatePg
from tests.support.procs import Proc, settings_env


class Rig:
    def __init__(
        self, pg: PrivatePg, broker: LocalMosquitto, workdir: Path, *, workers: int = 1
    ) -> None:
        self.workers = workers
        self.pg = pg
        self.broker = broker
        self.workdir = workdir
        self.client_id = f"chaos-{uuid.uuid4().hex[:6]}"
        self._starts = 0
        self.ingest: Proc | None = None

    def start_ingest(self, *, wait: bool = False) -> Proc:
        self._starts += 1
        env = settings_env(
            self.pg.url,
            self.broker.port,
            ingest_client_id=self.client_id,
            ingest_batch_size="500",
            ingest_batch_max_age_ms="50",
            ingest_prune_interval_s="0",
            ingest_watermark_hold_s="12",  # the traffic's devices retry every 5 s
        )
        self.ingest = Proc(
            ["ingest", "--log-format", "json", "--workers", str(self.workers)],
            env,
            self.workdir / f"ingest{self._starts}.log",
        )
        if wait:
            self.ingest.wait_for(r"subscribed to ", timeout=30)
        return self.ingest

    def stop(self) -> int:
        code = self.ingest.stop() if self.ingest else 0
        self.pg.ensure_running()
        return code

    # -- the faults; each returns when the broken part has been started again ---------

    def broker_sigterm(self) -> None:
        self.broker.restart()

    def broker_sigkill(self) -> None:
        self.broker.kill()
        time.sleep(0.2)
        self.broker.start()

    def ingest_sigkill(self) -> None:
        assert self.ingest is not None
        self.ingest.kill()
        time.sleep(0.2)
        self.start_ingest()  # not waited for: the traffic goes on meanwhile

    def postgres_restart(self) -> None:
        self.pg.server.stop("immediate")
        time.sleep(0.2)
        self.pg.server.start()


FAULTS: dict[str, Callable[[Rig], None]] = {
    "broker_sigterm": Rig.broker_sigterm,
    "broker_sigkill": Rig.broker_sigkill,
    "ingest_sigkill": Rig.ingest_sigkill,
    "postgres_restart": Rig.postgres_restart,
}
