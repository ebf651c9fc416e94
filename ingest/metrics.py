"""Prometheus metrics of one ingest worker, on a registry of its own (no global state)."""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_right
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# Publish-to-commit lag, fine enough to read p50/p99 at the 5 k/s target.
LAG_BUCKETS = (
    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0,
    3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 86400.0,
)  # fmt: skip


class BatchHistogram(Collector):
    """A Prometheus histogram observed a batch of values at a time, exposed exactly as a
    ``prometheus_client.Histogram`` with the same name, help and buckets (``_bucket``
    cumulative by ``le``, ``_count``, ``_sum``, ``_created``).

    Why: ingest observes one publish-to-commit lag per reading, and ``Histogram.observe``
    takes a lock, walks the buckets and bumps the sum per value (~10 % of a worker's CPU
    in a backlog). Here a batch is sorted once (in C) and each bound is one bisection.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds):
            raise ValueError("buckets not in sorted order")
        if bounds and bounds[-1] == math.inf:
            bounds.pop()  # +Inf is the total count, kept apart
        if not bounds:
            raise ValueError("need at least one finite bucket")
        self._name = name
        self._documentation = documentation
        self._bounds = bounds
        self._les = [floatToGoString(b) for b in bounds]  # type: ignore[no-untyped-call]
        self._cumulative = [0] * len(bounds)
        """Values ``<=`` each bound, since start."""
        self._count = 0
        self._sum = 0.0
        self._created = time.time()
        self._lock = threading.Lock()  # observed on the event loop, scraped on a server thread
        registry.register(self)

    def observe_many(self, values: Sequence[float]) -> None:
        """Add every value (seconds, not NaN), as ``Histogram.observe`` would one by one."""
        if not values:
            return
        ordered = sorted(values)
        below = [bisect_right(ordered, b) for b in self._bounds]
        total = math.fsum(ordered)
        with self._lock:
            self._cumulative = [a + b for a, b in zip(self._cumulative, below, strict=True)]
            self._count += len(ordered)
            self._sum += total

    def describe(self) -> Iterator[Metric]:
        """Lets the registry refuse a second metric of the same name, as for a Histogram."""
        yield HistogramMetricFamily(self._name, self._documentation)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            cumulative, count, total = self._cumulative, self._count, self._sum
        family = HistogramMetricFamily(self._name, self._documentation)
        buckets = [(le, float(n)) for le, n in zip(self._les, cumulative, strict=True)]
        buckets.append(("+Inf", float(count)))
        family.add_metric([], buckets, total)
        family.samples.append(Sample(f"{self._name}_created", {}, self._created))
        yield family


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_cpu_seconds_total, memory
        self.received = Counter(
            "citysense_ingest_messages_received", "MQTT messages received", registry=r
        )
        self.written = Counter(
            "citysense_ingest_readings_written", "Readings newly stored", registry=r
        )
        self.duplicates = Counter(
            "citysense_ingest_readings_duplicate",
            "Readings already stored (redelivered or resent); skipped",
            registry=r,
        )
        self.rejected = Counter(
            "citysense_ingest_rejected",
            "Messages or backlog items dead-lettered, by reason code",
            ["reason"],
            registry=r,
        )
        self.dead_letters_dropped = Counter(
            "citysense_ingest_dead_letters_dropped",
            "Rejected messages not kept: their device was over its dead-letter quota",
            registry=r,
        )
        self.statuses = Counter(
            "citysense_ingest_status_updates", "Device online/offline updates stored", registry=r
        )
        self.batch_size = Histogram(
            "citysense_ingest_batch_messages",
            "Messages per committed batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
            registry=r,
        )
        self.commit_seconds = Histogram(
            "citysense_ingest_commit_seconds",
            "Time to write and commit one batch",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.lag = BatchHistogram(
            "citysense_ingest_publish_to_commit_seconds",
            "From the reading's device timestamp to its commit (device clocks assumed in sync)",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.buffer_depth = Gauge(
            "citysense_ingest_buffer_messages",
            "Messages received and not yet committed (bounded by receive-maximum)",
            registry=r,
        )
        self.broker_connected = Gauge(
            "citysense_ingest_broker_connected", "1 while connected to the broker", registry=r
        )
        self.database_up = Gauge(
            "citysense_ingest_database_up", "0 while the database is unreachable", registry=r
        )
        self.retries = Counter(
            "citysense_ingest_db_retries", "Batch commits retried after a DB error", registry=r
        )
        self.database_up.set(1)
