"""Storage pieces of ingest: retention/prune, the dead-letter bound, unregistered publishers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.batches import write_batch
from core.storage.dead_letters import DeadLetter, unregistered_publishers
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.maintenance import prune
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.storage.readings import latest_rows, write_latest_state
from core.wire import Reading, Topics, decode_watermark
from tests.support.ingest import running_ingest
from tests.support.mqtt import publish_all
from tests.support.mqtt_auth import session
from tests.support.services import scratch_database
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


@pytest.fixture
def own_db(pg_server_url: str) -> Iterator[str]:
    """A database of its own: prune deletes by age and count across the whole table."""
    with scratch_database(pg_server_url, "citysense_prune") as url:
        migrate(url, retention_days=730)
        yield url


@pytest.fixture
async def own_pool(own_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(own_db)
    try:
        yield pool
    finally:
        await pool.close()


async def test_prune_applies_retention_and_bounds_dead_letters(
    own_db: str, own_pool: asyncpg.Pool, kinds: KindRegistry, storage_path: str
) -> None:
    """Plain PostgreSQL: prune deletes old readings. TimescaleDB: prune leaves them to the
    retention policy, which drops the old chunks when its job runs."""
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    readings = [
        Reading("G1", "flood_gauge", old + timedelta(seconds=i), {"rain": 1.0}) for i in range(5)
    ] + [
        Reading("G1", "flood_gauge", recent + timedelta(seconds=i), {"rain": 1.0}) for i in range(3)
    ]
    letters = [DeadLetter(old, "t/old", None, "not_json", "r", b"x") for _ in range(4)] + [
        DeadLetter(recent, "t/new", None, "not_json", "r", b"x") for _ in range(2500)
    ]
    await write_batch(own_pool, kinds, readings, letters, now)
    result = await prune(
        own_pool,
        kinds,
        now=now,
        retention_days=30,
        dead_letter_retention_days=14,
        dead_letter_max_rows=1000,
    )
    assert result.ran
    if storage_path == "timescaledb":
        assert result.readings_deleted == 0
        assert await own_pool.fetchval("SELECT count(*) FROM readings_flood_gauge") == 8
        migrate(own_db, retention_days=30)  # the policy follows the setting
        job = await own_pool.fetchval(
            "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'"
            " AND hypertable_name = 'readings_flood_gauge'"
        )
        async with own_pool.acquire() as conn:
            await conn.execute(f"CALL run_job({int(job)})")
    else:
        assert result.readings_deleted == 5
    assert await own_pool.fetchval("SELECT count(*) FROM readings_flood_gauge") == 3
    # 4 too old by age, then the oldest of the rest until 1,000 are left
    assert result.dead_letters_deleted == 4 + 1500
    assert await own_pool.fetchval("SELECT count(*) FROM dead_letters") == 1000
    assert await own_pool.fetchval("SELECT count(*) FROM dead_letters WHERE topic = 't/old'") == 0


async def test_prune_keeps_to_one_process_at_a_time(
    own_pool: asyncpg.Pool, kinds: KindRegistry
) -> None:
    from core.storage.maintenance import PRUNE_LOCK_KEY

    async with own_pool.acquire() as holder:
        await holder.execute("SELECT pg_advisory_lock($1)", PRUNE_LOCK_KEY)
        result = await prune(
            own_pool,
            kinds,
            now=datetime.now(UTC),
            retention_days=30,
            dead_letter_retention_days=14,
            dead_letter_max_rows=1000,
        )
        await holder.execute("SELECT pg_advisory_unlock($1)", PRUNE_LOCK_KEY)
    assert not result.ran


async def test_unregistered_publishers_lists_unknown_ids_with_counts_and_last_seen(
    own_pool: asyncpg.Pool, kinds: KindRegistry
) -> None:
    t0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)

    def unknown(device: str, kind: str, minutes: int) -> DeadLetter:
        return DeadLetter(
            t0 + timedelta(minutes=minutes),
            f"citysense/v1/{kind}/{device}/telemetry",
            device,
            "unknown_device",
            "not registered",
            b"{}",
        )

    letters = [
        unknown("NEW-1", "flood_gauge", 0),
        unknown("NEW-1", "flood_gauge", 5),
        unknown("NEW-1", "network_node", 9),
        unknown("NEW-2", "streetlight", 3),
        unknown("LATER-REGISTERED", "flood_gauge", 20),
        DeadLetter(t0, "citysense/v1/flood_gauge/NEW-3/telemetry", "NEW-3", "invalid", "r", b"{}"),
    ]
    await write_batch(own_pool, kinds, [], letters, t0)
    await upsert_devices(
        own_pool, [DeviceRow("LATER-REGISTERED", "flood_gauge", "", "active", None, None, None)]
    )
    found = await unregistered_publishers(own_pool, limit=10)
    assert [p.device_id for p in found] == ["NEW-1", "NEW-2"]
    new1 = found[0]
    assert new1.messages == 3
    assert new1.kinds == ["flood_gauge", "network_node"]
    assert new1.first_seen == t0
    assert new1.last_seen == t0 + timedelta(minutes=9)
    assert new1.last_topic == "citysense/v1/network_node/NEW-1/telemetry"
    assert len(await unregistered_publishers(own_pool, limit=1)) == 1


async def test_a_message_the_database_refuses_is_dead_lettered_and_its_batch_still_lands(
    own_db: str, own_pool: asyncpg.Pool, settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    url = own_db
    await own_pool.execute(
        """
        CREATE FUNCTION refuse_1234() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.water_level = 1234.5 THEN
                RAISE EXCEPTION 'gauge calibration table says 1234.5 is impossible';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_1234 BEFORE INSERT ON readings_flood_gauge
            FOR EACH ROW EXECUTE FUNCTION refuse_1234();
        """
    )
    gauge = f"AWLR-{uid}"
    await upsert_devices(
        own_pool, [DeviceRow(gauge, "flood_gauge", "", "active", None, None, None)]
    )
    settings = settings.model_copy(
        update={
            "database_url": url,
            "ingest_batch_max_age_ms": 300,
            "ingest_prune_interval_s": 0,
            "ingest_watermark_hold_s": 0,
        }
    )
    topic = Topics(settings.topic_root).telemetry("flood_gauge", gauge)
    now = datetime.now(UTC).replace(microsecond=0)

    def msg(i: int, level: float) -> tuple[str, bytes]:
        ts = (now - timedelta(seconds=i)).isoformat()
        return topic, json.dumps({"ts": ts, "water_level": level}).encode()

    first = [msg(i, 100.0 + i) for i in range(10)] + [msg(10, 1234.5)]
    async with running_ingest(settings, own_pool, kinds) as service:
        await asyncio.to_thread(publish_all, settings.mqtt_port, first)
        await eventually(
            lambda: own_pool.fetchval(
                "SELECT count(*) FROM dead_letters WHERE device_id = $1", gauge
            ),
            lambda n: n >= 1,
        )
        await asyncio.to_thread(publish_all, settings.mqtt_port, [msg(20, 99.0)])
        stored = await eventually(
            lambda: own_pool.fetchval(
                "SELECT count(*) FROM readings_flood_gauge WHERE device_id = $1", gauge
            ),
            lambda n: n >= 11,
        )
        # The messages written one by one still tell the gauge how far it is stored.
        await eventually(lambda: asyncio.sleep(0, service.watermarks.published), lambda n: n >= 1)
        with session(settings.mqtt_port, None, None) as s:
            assert not isinstance(s, int)
            s.client.subscribe(Topics(settings.topic_root).stored("flood_gauge", gauge), qos=1)
            marks = await asyncio.to_thread(s.wait_received, 1)
        assert [decode_watermark(payload) for _, payload in marks] == [now]
    assert stored == 11
    # (retained status messages of other tests' devices are dead letters here too)
    letters = await own_pool.fetch(
        "SELECT device_id, code, reason, payload FROM dead_letters WHERE device_id = $1", gauge
    )
    assert len(letters) == 1
    letter = letters[0]
    assert letter is not None
    assert letter["code"] == "storage_error"
    assert letter["device_id"] == gauge
    assert "1234.5 is impossible" in letter["reason"]
    assert bytes(letter["payload"]) == first[-1][1]
    assert service.stats.inserted == 11


async def test_latest_state_updates_in_place_without_index_writes(
    pool: asyncpg.Pool, uid: str
) -> None:
    """Migration 0008: a batch's latest_state updates are HOT (no new index entry, no new
    page); with the default fillfactor every one of them was a full update."""
    t0 = datetime.now(UTC) - timedelta(hours=1)
    ids = [f"HOT-{uid}-{i:04d}" for i in range(300)]

    def batch(seconds: int) -> list[Reading]:
        t = t0 + timedelta(seconds=seconds)
        return [Reading(d, "flood_gauge", t, {"water_level": 100.0 + seconds}) for d in ids]

    async with pool.acquire() as conn:
        async with conn.transaction():
            await write_latest_state(conn, latest_rows(batch(0)), t0)
        async with conn.transaction():
            await write_latest_state(conn, latest_rows(batch(60)), t0 + timedelta(seconds=60))
            hot, updated = await conn.fetchrow(
                "SELECT pg_stat_get_xact_tuples_hot_updated('latest_state'::regclass),"
                " pg_stat_get_xact_tuples_updated('latest_state'::regclass)"
            )
    assert updated == len(ids)
    assert hot == len(ids)
    values = await pool.fetchval(
        "SELECT count(*) FROM latest_state WHERE device_id = ANY($1)"
        " AND (\"values\"->>'water_level')::float = 160.0",
        ids,
    )
    assert values == len(ids)


async def test_a_batch_names_each_devices_newest_reading_for_its_watermark(
    own_pool: asyncpg.Pool, kinds: KindRegistry
) -> None:
    """What ingest tells each device after the commit: the time of its newest reading in the
    batch, whether the batch is live traffic, backlogs in order, or a backlog going back."""
    now = datetime.now(UTC).replace(microsecond=0)

    def gauge(device: str, seconds: list[int]) -> list[Reading]:
        return [
            Reading(device, "flood_gauge", now - timedelta(seconds=s), {"rain": 1.0})
            for s in seconds
        ]

    live = [r for i in range(20) for r in gauge(f"LIVE{i % 4}", [100 - i])]
    in_order = gauge("BACK1", list(range(300, 200, -1))) + gauge("BACK2", list(range(50, 0, -1)))
    going_back = gauge("BACK3", [*range(400, 350, -1), 5, *range(350, 300, -1)])
    for batch in (live, in_order, going_back, [*in_order[:30], *live, *going_back]):
        result = await write_batch(own_pool, kinds, batch, [], now)
        newest: dict[str, datetime] = {}
        for r in batch:
            newest[r.device_id] = max(r.time, newest.get(r.device_id, r.time))
        assert result.newest == [(d, "flood_gauge", newest[d]) for d in sorted(newest)]
