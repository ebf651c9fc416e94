"""Offline devices, a down uplink node (one alert, not one per device), late data (a state on
one device, one alarm about the cause when many are late; held back while a backlog
arrives); and webhook notifications that survive a failing receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import pytest

from alerts.config import AlertConfig
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.alerts import list_alerts
from tests.support.ingest import running_ingest
from tests.support.operations import Clock, ago, publish, register, running_operations
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_uplink_down_gives_one_node_alert_not_one_per_device(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    node = f"NODE-UP-{uid}"
    behind = [f"AWLR-B{i}-{uid}" for i in range(5)]
    alone = f"AWLR-ALONE-{uid}"
    await register(pool, "network_node", [node])
    await register(pool, "flood_gauge", [*behind, alone])
    config = AlertConfig(uplinks={d: node for d in behind}, evaluate_every_s=3600)
    clock = Clock()
    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config, clock=clock) as ops,
    ):
        await publish(settings, "network_node", node, [{"ts": ago(1), "latency": 30.0}])
        for d in [*behind, alone]:
            await publish(settings, "flood_gauge", d, [{"ts": ago(1), "water_level": 50.0}])
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM latest_state WHERE device_id LIKE $1", f"%{uid}"
            ),
            lambda n: n == 7,
        )
        await ops.idle()
        await ops.evaluator.tick()
        assert [a for a in await list_alerts(pool) if uid in a.subject] == []

        clock.offset = timedelta(hours=2)  # two hours of silence from everyone
        await ops.evaluator.tick()
        await ops.evaluator.tick()  # evaluating again changes nothing
        mine = [a for a in await list_alerts(pool) if uid in a.subject]
        assert sorted((a.rule, a.subject) for a in mine) == [
            ("device_offline", alone),
            ("node_down", node),
        ]
        [down] = [a for a in mine if a.rule == "node_down"]
        assert sorted(down.details["behind"]) == behind

        clock.offset = timedelta()  # the node is back
        await publish(settings, "network_node", node, [{"ts": ago(0.5), "latency": 30.0}])
        await eventually(
            lambda: list_alerts(pool, rule="node_down", device_id=node),
            lambda a: a[0].status == "resolved",
        )


async def test_late_data_is_a_device_state_and_many_late_behind_one_node_one_alarm(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    node = f"NODE-LATE-{uid}"
    behind = [f"AWLR-LATE{i}-{uid}" for i in range(3)]
    alone = f"AWLR-LATEA-{uid}"
    await register(pool, "network_node", [node])
    await register(pool, "flood_gauge", [*behind, alone])
    config = AlertConfig(
        uplinks={d: node for d in behind},
        backlog_window_s=2,
        stale_uplink_min=3,
        evaluate_every_s=3600,
    )
    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config) as ops,
    ):
        await publish(settings, "network_node", node, [{"ts": ago(0.5), "latency": 30.0}])
        # each gauge resends what it buffered while its uplink was down: two hours ago on
        for d in [*behind, alone]:
            await publish(
                settings,
                "flood_gauge",
                d,
                [{"ts": ago(120 - 5 * i), "water_level": 60.0} for i in range(6)],
            )
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM readings_flood_gauge WHERE device_id LIKE $1", f"%{uid}"
            ),
            lambda n: n == 24,
        )
        await ops.idle()
        await ops.evaluator.tick()
        assert [a for a in await list_alerts(pool) if uid in a.subject] == [], "backlog arriving"

        async def mine() -> list[tuple[str, str, str]]:
            await ops.evaluator.tick()
            return [
                (a.rule, a.subject, a.status) for a in await list_alerts(pool) if uid in a.subject
            ]

        # the backlog stopped, data still 2 h old: one alarm about the uplink, none per device
        assert await eventually(mine, lambda a: a != []) == [
            ("stale_data", f"uplink:{node}", "open")
        ]
        # (the database is shared: other tests' late devices may make an "ingest" alarm)
        [late] = [
            a
            for a in await list_alerts(pool, rule="stale_data", status="open")
            if a.subject == f"uplink:{node}"
        ]
        assert late.details["devices"] == behind
        assert late.priority == "medium"
        assert "terlambat" in late.message
        assert "WIB" in late.message

        for d in behind:
            await publish(settings, "flood_gauge", d, [{"ts": ago(0.5), "water_level": 61.0}])
        assert await eventually(mine, lambda a: a[0][2] == "resolved") == [
            ("stale_data", f"uplink:{node}", "resolved")
        ]


@pytest.fixture
def flaky_webhook() -> Iterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A receiver that fails its first two requests with 503, then accepts."""
    received: list[dict[str, Any]] = []
    codes: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            code = 503 if len(codes) < 2 else 200
            codes.append(code)
            if code == 200:
                received.append(json.loads(body))
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received, codes
    finally:
        server.shutdown()
        server.server_close()


async def test_webhook_notification_is_retried_until_delivered(
    settings: Settings,
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    uid: str,
    flaky_webhook: tuple[str, list[dict[str, Any]], list[int]],
) -> None:
    url, received, codes = flaky_webhook
    g = f"AWLR-HOOK-{uid}"
    await register(pool, "flood_gauge", [g])
    config = AlertConfig.model_validate(
        {
            "webhook_url": url,
            "webhook_backoff_s": 0.05,
            "evaluate_every_s": 3600,
            "flood_stations": {g: {"waspada": 100, "siaga": 200, "awas": 300}},
        }
    )
    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config, notifiers=None) as ops,
    ):
        await publish(settings, "flood_gauge", g, [{"ts": ago(1), "water_level": 250.0}])
        await eventually(lambda: _async(len(received)), lambda n: n >= 1, within=20)
        await ops.dispatcher.drain()
    assert codes[:3] == [503, 503, 200]
    assert received[0]["event"] == "opened"
    assert received[0]["alert"]["device_id"] == g
    assert received[0]["alert"]["details"]["level"] == "SIAGA"
    assert ops.dispatcher.stats.retries == 2


async def _async(value: int) -> int:
    return value
