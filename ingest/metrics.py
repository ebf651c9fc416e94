"""Prometheus metrics of one ingest worker, on a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

# Publish-to-commit lag, fine enough to read p50/p99 at the 5 k/s target.
LAG_BUCKETS = (
    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0,
    3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 86400.0,
)  # fmt: skip


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
        self.lag = Histogram(
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
