"""Street lights and network nodes, driven by real readings through ingest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from alerts.config import AlertConfig
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.alerts import list_alerts
from tests.support.ingest import running_ingest
from tests.support.operations import ago, publish, register, running_operations
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio
WIB = ZoneInfo("Asia/Jakarta")


def last_local(hour: int) -> str:
    """The most recent past moment that was ``hour``:00 in Jakarta."""
    now = datetime.now(WIB)
    t = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if t > now - timedelta(minutes=1):
        t -= timedelta(days=1)
    return t.astimezone(UTC).isoformat()


async def test_feeder_outage_is_one_alert_and_lone_failures_and_day_burners_are_their_own(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    feeder = [f"PJU-F{i}-{uid}" for i in range(8)]
    lone, burner, fine = f"PJU-LONE-{uid}", f"PJU-DAY-{uid}", f"PJU-OK-{uid}"
    await register(pool, "streetlight", [*feeder, lone, burner, fine])
    config = AlertConfig(
        feeders={d: f"GARDU-{uid}" for d in [*feeder, fine]},
        feeder_min_lamps=5,
        lamp_settle_s=0.5,
        evaluate_every_s=3600,
    )
    night, noon = last_local(20), last_local(12)
    dark = {"power_state": "off", "active_power": 0.0}
    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config) as ops,
    ):
        for d in [*feeder, lone]:
            await publish(settings, "streetlight", d, [{"ts": night, **dark}])
        await publish(
            settings,
            "streetlight",
            fine,
            [{"ts": night, "power_state": "on", "active_power": 80.0}],
        )
        await publish(
            settings,
            "streetlight",
            burner,
            [{"ts": noon, "power_state": "on", "active_power": 80.0}],
        )
        outage = await eventually(
            lambda: list_alerts(pool, rule="feeder_outage"),
            lambda a: any(
                x.subject == f"feeder:GARDU-{uid}" and len(x.details["lamps"]) == 8 for x in a
            ),
        )
        await ops.idle()
        await ops.evaluator.settle()
        await ops.evaluator.lamps()  # a second pass changes nothing
    mine = [a for a in outage if a.subject == f"feeder:GARDU-{uid}"]
    assert [a.status for a in mine] == ["open"]
    failures = [a for a in await list_alerts(pool, rule="lamp_failure") if uid in a.subject]
    assert [(a.device_id, a.status) for a in failures] == [(lone, "open")]
    burners = [a for a in await list_alerts(pool, rule="day_burner") if uid in a.subject]
    assert [a.device_id for a in burners] == [burner]


async def test_node_latency_and_loss_sustained_over_a_window(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    slow, lossy, brief, good = (f"NODE-{n}-{uid}" for n in ("SLOW", "LOSS", "BLIP", "GOOD"))
    await register(pool, "network_node", [slow, lossy, brief, good])
    config = AlertConfig(evaluate_every_s=3600)
    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config) as ops,
    ):
        await publish(
            settings,
            "network_node",
            slow,
            [{"ts": ago(6 - i), "latency": 300.0, "packet_loss": 0.0} for i in range(6)],
        )
        await publish(
            settings,
            "network_node",
            lossy,
            [{"ts": ago(4 - i), "latency": 40.0, "packet_loss": 20.0} for i in range(4)],
        )
        # one bad minute among good ones is not sustained
        await publish(
            settings,
            "network_node",
            brief,
            [
                {"ts": ago(4 - i), "latency": 40.0, "packet_loss": 30.0 if i == 3 else 0.0}
                for i in range(4)
            ],
        )
        await publish(
            settings,
            "network_node",
            good,
            [{"ts": ago(4 - i), "latency": 40.0, "packet_loss": 0.0} for i in range(4)],
        )
        await eventually(
            lambda: list_alerts(pool, rule="node_loss", device_id=lossy), lambda a: len(a) == 1
        )
        await eventually(
            lambda: list_alerts(pool, rule="node_latency", device_id=slow), lambda a: len(a) == 1
        )
        await ops.idle()
    for rule in ("node_latency", "node_loss"):
        hit = {a.device_id for a in await list_alerts(pool, rule=rule) if uid in a.subject}
        assert hit == ({slow} if rule == "node_latency" else {lossy})
