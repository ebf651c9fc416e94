"""One batch holding gauges and nodes: the flood and node rules run side by side, and a
failure in either reaches the service's loop as its own exception class."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from alerts.config import AlertConfig
from alerts.evaluator import AlertEvaluator, _together
from alerts.notify import Dispatcher
from alerts.sink import AlertSink, Finding
from alerts.vocabulary import Rule
from core.kinds import KindRegistry
from core.storage.alerts import active_alerts
from core.storage.batches import write_batch
from core.storage.errors import is_transient
from core.storage.events import CHANNEL, decode_notification, reading_items
from core.wire import Reading
from tests.support.operations import register
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_a_mixed_batch_raises_the_flood_and_the_latency_alert(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    gauge, node = f"AWLR-MIX-{uid}", f"NODE-MIX-{uid}"
    await register(pool, "flood_gauge", [gauge])
    await register(pool, "network_node", [node])
    now = datetime.now(UTC)
    batch = [Reading(gauge, "flood_gauge", now, {"water_level": 420.0})]
    batch += [
        Reading(node, "network_node", now - timedelta(minutes=m), {"latency": 250.0})
        for m in range(6)
    ]
    await write_batch(pool, kinds, batch, [], now)
    sink = AlertSink(pool, Dispatcher([]), tz="Asia/Jakarta")
    await sink.load()
    evaluator = AlertEvaluator(pool, kinds, AlertConfig(), sink)
    await evaluator.on_readings(reading_items(batch, now))
    assert sink.is_open(Rule.FLOOD_LEVEL, gauge)
    assert sink.is_open(Rule.NODE_LATENCY, node)


async def test_a_failing_rule_cancels_the_other_and_keeps_its_exception_class() -> None:
    other_cancelled = asyncio.Event()

    async def database_gone() -> None:
        await asyncio.sleep(0)
        raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")

    async def slow_rule() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            other_cancelled.set()
            raise

    with pytest.raises(asyncpg.ConnectionDoesNotExistError) as caught:
        await _together(database_gone(), slow_rule())
    assert is_transient(caught.value)  # the alert loop retries, as for one rule alone
    assert other_cancelled.is_set()


async def test_findings_raised_together_are_announced_once_and_unchanged_ones_cost_nothing(
    pool: asyncpg.Pool, database_url: str, uid: str
) -> None:
    sink = AlertSink(pool, Dispatcher([]), tz="Asia/Jakarta")
    await sink.load()
    nodes = [f"NODE-RA{i}-{uid}" for i in range(3)]

    def finding(node: str, avg: float) -> Finding:
        facts = {"name": node, "avg": avg, "samples": 6, "window": 60, "limit": 100.0}
        return Finding(Rule.NODE_LATENCY, node, device_id=node, facts=facts)

    got: list[str] = []
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener(CHANNEL, lambda *args: got.append(args[3]))
        await sink.raise_all([finding(n, 250.0) for n in nodes])
        await sink.raise_all([finding(n, 250.0) for n in nodes])  # nothing new: no query
        await sink.raise_all([finding(nodes[0], 300.0)])  # one alert's text moves

        def mine() -> list[list[str]]:
            decoded = [decode_notification(p) for p in got if uid in p]
            return [[it["subject"] for it in items] for kind, items in decoded if kind == "alert"]

        async def announced() -> list[list[str]]:
            return mine()

        await eventually(announced, lambda batches: len(batches) >= 2)
        await asyncio.sleep(0.2)  # a third notification, were there one, would be here
    finally:
        await listener.close()
    assert mine() == [nodes, [nodes[0]]]
    assert all(sink.is_open(Rule.NODE_LATENCY, n) for n in nodes)
    (moved,) = [a for a in await active_alerts(pool) if a.subject == nodes[0]]
    assert moved.details["avg"] == 300.0
