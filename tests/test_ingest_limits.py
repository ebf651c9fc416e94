"""A batch the database refuses for a configured limit (SQLSTATE 53400) is not an outage.

On TimescaleDB, readings resent into a compressed day make PostgreSQL decompress their
device's segment; past ``timescaledb.max_tuples_decompressed_per_dml_transaction`` the
statement fails with 53400. The same batch fails the same way on every retry, so ingest
must split it, store what fits, and dead-letter (with the reason) what never can, rather
than hold it unacknowledged and retry it forever. On plain PostgreSQL nothing is
compressed, so a trigger raises the same SQLSTATE for the same shape of batch.
"""

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
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.wire import Reading, Topics
from tests.support.ingest import running_ingest
from tests.support.mqtt import publish_all
from tests.support.services import scratch_database
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio
LIMIT = 30
SMALL, BIG = 20, 50  # readings per device in the compressed day: under and over LIMIT

# Plain PostgreSQL stand-in: the same error for a statement that would decompress more than
# LIMIT stored rows of the day (as TimescaleDB counts them: every stored row of each device
# the statement touches in that day).
_PLAIN_LIMIT = f"""
CREATE FUNCTION limit_53400() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE touched bigint;
BEGIN
    SELECT count(*) INTO touched FROM readings_flood_gauge r
    WHERE r.device_id IN (SELECT device_id FROM new_rows) AND r.time < now() - interval '7 days';
    IF touched > {LIMIT} THEN
        RAISE EXCEPTION 'tuple decompression limit exceeded by operation'
            USING ERRCODE = '53400';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER limit_53400 AFTER INSERT ON readings_flood_gauge
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION limit_53400();
"""


@pytest.fixture
def own_db(pg_server_url: str) -> Iterator[str]:
    with scratch_database(pg_server_url, "citysense_limit") as url:
        migrate(url, retention_days=730)
        yield url


@pytest.fixture
async def own_pool(own_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(own_db)
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_batch_over_a_configured_limit_is_split_and_never_retried_forever(
    own_db: str,
    own_pool: asyncpg.Pool,
    settings: Settings,
    kinds: KindRegistry,
    uid: str,
    storage_path: str,
) -> None:
    small = [f"AWLR-S{i}-{uid}" for i in range(4)]
    big = f"AWLR-B-{uid}"
    await upsert_devices(
        own_pool,
        [DeviceRow(d, "flood_gauge", "", "active", None, None, None) for d in [*small, big]],
    )
    day = (datetime.now(UTC) - timedelta(days=10)).replace(hour=3, minute=0, second=0)
    day = day.replace(microsecond=0)
    stored = [
        Reading(d, "flood_gauge", day + timedelta(minutes=5 * i), {"water_level": 100.0})
        for d, n in [*((s, SMALL) for s in small), (big, BIG)]
        for i in range(n)
    ]
    await write_batch(own_pool, kinds, stored, [], datetime.now(UTC))
    if storage_path == "timescaledb":
        compressed = await own_pool.fetchval(
            "SELECT count(compress_chunk(c)) FROM show_chunks('readings_flood_gauge',"
            " older_than => now() - interval '7 days') c"
        )
        assert compressed >= 1
        db = own_db.rsplit("/", 1)[1]
        await own_pool.execute(
            f"ALTER DATABASE {db} SET timescaledb.max_tuples_decompressed_per_dml_transaction"
            f" = {LIMIT}"
        )
        # 2.28 filters the batches it decompresses to check a key; 2.17 (the old compose
        # image, where 1,000 resending gauges hit the limit) did not: behave as that did
        await own_pool.execute(
            f"ALTER DATABASE {db} SET timescaledb.enable_dml_decompression_tuple_filtering = off"
        )
    else:
        await own_pool.execute(_PLAIN_LIMIT)

    settings = settings.model_copy(
        update={
            "database_url": own_db,
            "ingest_batch_max_age_ms": 500,
            "ingest_prune_interval_s": 0,
        }
    )
    topics = Topics(settings.topic_root)

    def late(device: str, minute: int) -> tuple[str, bytes]:
        ts = (day + timedelta(minutes=minute)).isoformat()
        body = {"ts": ts, "water_level": 150.0}
        return topics.telemetry("flood_gauge", device), json.dumps(body).encode()

    # one late reading each into the compressed day, in one batch: 4 x 20 + 50 rows to
    # decompress, over the limit together; each small gauge's alone is under it, the big
    # gauge's alone is over it
    batch = [late(d, 2) for d in [*small, big]]
    pool = await create_pool(own_db)  # new connections: they see the database's setting
    try:
        async with running_ingest(settings, pool, kinds) as service:
            await asyncio.to_thread(publish_all, settings.mqtt_port, batch)
            await eventually(
                lambda: pool.fetchval(
                    "SELECT count(*) FROM readings_flood_gauge"
                    " WHERE device_id = ANY($1::text[]) AND water_level = 150",
                    small,
                ),
                lambda n: n == len(small),
            )
            letters = await eventually(
                lambda: pool.fetch(
                    "SELECT device_id, code, reason FROM dead_letters WHERE device_id = $1", big
                ),
                lambda rows: len(rows) == 1,
            )
            # and ingest goes on: a current reading is stored
            now = datetime.now(UTC).replace(microsecond=0)
            current = (
                topics.telemetry("flood_gauge", small[0]),
                json.dumps({"ts": now.isoformat(), "water_level": 1.0}).encode(),
            )
            await asyncio.to_thread(publish_all, settings.mqtt_port, [current])
            await eventually(
                lambda: pool.fetchval(
                    "SELECT count(*) FROM readings_flood_gauge WHERE device_id = $1 AND time = $2",
                    small[0],
                    now,
                ),
                lambda n: n == 1,
            )
            assert service.stats.retries == 0, "a configured limit is not an outage"
    finally:
        await pool.close()
    assert letters[0]["code"] == "storage_error"
    assert "decompress" in letters[0]["reason"], letters[0]["reason"]
    assert (
        await own_pool.fetchval(
            "SELECT count(*) FROM readings_flood_gauge WHERE device_id = $1", big
        )
        == BIG
    )
