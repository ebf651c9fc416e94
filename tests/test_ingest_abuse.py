"""A device sending bad or huge messages costs bounded storage and memory, and delays no one.

Replays issue 13's amplification message (131 KB, 6,468 bad items: once 6,468 dead-letter
rows of the whole payload each, 591 MB on disk) and its flood of 1,000 x 1 MB messages
(once +514 MB of ingest memory and +1 GB of dead letters), and a device that keeps
sending bad messages (its dead letters stop at a quota, and a row says so).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import psutil
import pytest

from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.dead_letters import KEPT_PAYLOAD_BYTES
from core.storage.devices import DeviceRow, upsert_devices
from core.wire import encode_telemetry
from ingest import service as ingest_service
from ingest.dead_letter_quota import QUOTA_CODE
from tests.support.ingest import running_ingest
from tests.support.mqtt import publish_all
from tests.support.procs import Proc, settings_env
from tests.support.waiting import eventually

BAD_ITEMS = 6468
FLOOD_MESSAGES = 1000
FLOOD_BYTES = 1_000_000
UNDER_LIMIT_BYTES = 250_000


async def _gauges(pool: asyncpg.Pool, *ids: str) -> None:
    await upsert_devices(
        pool, [DeviceRow(d, "flood_gauge", "n", "active", None, None, None) for d in ids]
    )


def _topic(s: Settings, device_id: str) -> str:
    return f"{s.topic_root}/flood_gauge/{device_id}/telemetry"


def _good(value: float = 100.0) -> bytes:
    return encode_telemetry([{"ts": datetime.now(UTC), "water_level": value}])


async def _stored(pool: asyncpg.Pool, device_id: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM readings_flood_gauge WHERE device_id = $1", device_id
        )
    )


@pytest.mark.anyio
async def test_a_131_kb_message_of_bad_items_becomes_one_dead_letter_of_a_few_kib(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    bad, other = f"AWLR-BAD-{uid}", f"AWLR-OK-{uid}"
    await _gauges(pool, bad, other)
    payload = b"[" + b",".join([b'{"water_level":"xx"}'] * BAD_ITEMS) + b"]"
    assert 130_000 < len(payload) < 140_000
    before = await pool.fetchval("SELECT pg_total_relation_size('dead_letters')")
    async with running_ingest(settings, pool, kinds):
        started = time.monotonic()
        await asyncio.to_thread(
            publish_all,
            settings.mqtt_port,
            [(_topic(settings, bad), payload), (_topic(settings, other), _good())],
        )
        await eventually(lambda: _stored(pool, other), lambda n: n == 1, within=90)
        delay = time.monotonic() - started
        await asyncio.sleep(0.3)  # anything more from the bad message would be written by now
    rows = await pool.fetch(
        "SELECT code, reason, payload, payload_bytes, payload_sha256,"
        " pg_column_size(d.*) AS row_bytes FROM dead_letters d WHERE device_id = $1",
        bad,
    )
    after = await pool.fetchval("SELECT pg_total_relation_size('dead_letters')")
    print(f"other device's reading stored {delay:.2f}s after the bad message was published")
    print(f"dead_letters grew by {after - before} bytes; rows: {len(rows)}")
    assert len(rows) == 1
    (row,) = rows
    assert row["code"] == "invalid"
    assert row["reason"].startswith(
        f"{BAD_ITEMS} of {BAD_ITEMS} items rejected: invalid x{BAD_ITEMS}"
        " (items 0, 1, 2, 3, 4, ...). First: item 0: 'ts' is required"
    ), row["reason"]
    assert row["payload"] == payload[:KEPT_PAYLOAD_BYTES]
    assert row["payload_bytes"] == len(payload)
    assert row["payload_sha256"] == hashlib.sha256(payload).digest()
    assert row["row_bytes"] < 100_000
    assert after - before < 100_000


@pytest.mark.anyio
async def test_a_device_sending_only_bad_messages_fills_its_quota_and_no_more(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    noisy, quiet = f"AWLR-NOISY-{uid}", f"AWLR-QUIET-{uid}"
    await _gauges(pool, noisy, quiet)
    s = settings.model_copy(update={"ingest_dead_letter_quota": 20})
    messages = [(_topic(s, noisy), b"not json %d" % i) for i in range(100)]
    messages += [(_topic(s, quiet), b"nor this %d" % i) for i in range(5)]
    messages.append((_topic(s, quiet), _good()))
    async with running_ingest(s, pool, kinds) as service:
        await asyncio.to_thread(publish_all, s.mqtt_port, messages)
        await eventually(lambda: _stored(pool, quiet), lambda n: n == 1)
        await asyncio.sleep(0.3)
        dropped = service.metrics.registry.get_sample_value(
            "citysense_ingest_dead_letters_dropped_total"
        )
    rows = await pool.fetch(
        "SELECT device_id, code, reason FROM dead_letters WHERE device_id = ANY($1::text[])"
        " ORDER BY id",
        [noisy, quiet],
    )
    mine = [r for r in rows if r["device_id"] == noisy]
    assert [r["code"] for r in mine] == ["not_json"] * 20 + [QUOTA_CODE]
    assert f"device {noisy!r} reached its quota of 20 dead letters per 600 s" in mine[-1]["reason"]
    assert [r["code"] for r in rows if r["device_id"] == quiet] == ["not_json"] * 5
    assert dropped == 79  # 100 - 20 kept - the one inside the quota notice


@pytest.mark.anyio
async def test_while_the_database_is_stuck_ingest_buffers_at_most_its_byte_budget(
    settings: Settings,
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    uid: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    budget = 2 * 2**20
    monkeypatch.setattr(ingest_service, "INBOX_MAX_BYTES", budget)
    stuck = f"AWLR-STUCK-{uid}"
    await _gauges(pool, stuck)
    size = 200_000
    # 24 MB: two 4 MiB batches in the stuck database, the rest waits in the receive buffer.
    messages = [(_topic(settings, stuck), b"%05d" % i + b"z" * size) for i in range(120)]
    async with running_ingest(settings, pool, kinds) as service:
        async with pool.acquire() as conn:
            lock = conn.transaction()
            await lock.start()
            # Every batch now waits on the dead_letters table: nothing is committed or acked.
            await conn.execute("LOCK TABLE dead_letters IN ACCESS EXCLUSIVE MODE")
            publishing = asyncio.create_task(
                asyncio.to_thread(publish_all, settings.mqtt_port, messages)
            )
            peak = 0
            for _ in range(150):
                peak = max(peak, service.buffered_bytes)
                await asyncio.sleep(0.02)
            await lock.rollback()
        await publishing
        kept = await eventually(
            lambda: pool.fetchval("SELECT count(*) FROM dead_letters WHERE device_id = $1", stuck),
            lambda n: n >= 61,
            within=60,
        )
    print(f"peak receive buffer {peak} bytes (budget {budget}); {kept} dead letters")
    assert budget // 2 < peak <= budget + size + 10  # it filled, and one message at most over
    assert kept == 61  # the device's quota of 60, and the row saying it hit it


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _try_publish(port: int, topic: str, payload: bytes) -> bool:
    """A raw MQTT 3.1.1 device: connect, one QoS 1 publish; True if the broker acknowledged.

    Raw bytes, as an attacker would send them, and fast: a refusing broker just closes.
    """
    connect = _string("MQTT") + bytes([4, 2, 0, 60]) + _string(f"flood-{uuid.uuid4().hex}")
    body = _string(topic) + (1).to_bytes(2, "big") + payload
    packets = b"\x10" + _varint(len(connect)) + connect + b"\x32" + _varint(len(body)) + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(packets)
            got = b""
            while len(got) < 8:  # CONNACK (4 bytes) then PUBACK (4 bytes)
                chunk = sock.recv(8 - len(got))
                if not chunk:
                    return False
                got += chunk
        except (ConnectionResetError, BrokenPipeError):
            return False
    return got[4] == 0x40


def test_a_flood_of_a_thousand_one_megabyte_messages_leaves_ingest_memory_bounded(
    settings: Settings, database_url: str, tmp_path: Path, uid: str
) -> None:
    flooder, other = f"AWLR-FLOOD-{uid}", f"AWLR-CALM-{uid}"

    async def register() -> None:
        from core.storage.pool import create_pool

        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            await _gauges(pool, flooder, other)
        finally:
            await pool.close()

    asyncio.run(register())
    env = settings_env(
        database_url,
        settings.mqtt_port,
        ingest_client_id=f"flood-{uid}",
        ingest_batch_max_age_ms="20",
    )
    ingest = Proc(["ingest", "--log-format", "text"], env, tmp_path / "ingest.log")
    try:
        ingest.wait_for("subscribed to")
        proc = psutil.Process(ingest.popen.pid)
        baseline = proc.memory_info().rss
        peak = baseline
        sampling = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not sampling.is_set():
                peak = max(peak, proc.memory_info().rss)
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        garbage = b"x" * FLOOD_BYTES
        under = b"y" * UNDER_LIMIT_BYTES

        def flood(payload: bytes) -> int:
            topic = _topic(settings, flooder)
            with ThreadPoolExecutor(4) as pool:
                sent = pool.map(
                    lambda _: _try_publish(settings.mqtt_port, topic, payload),
                    range(FLOOD_MESSAGES),
                )
                return sum(sent)

        acked = flood(garbage)
        # Just under the broker's limit: these reach ingest (and are dead-lettered).
        acked_under = flood(under)
        # Then a reading from another device: stored once ingest has worked through it all.
        publish_all(settings.mqtt_port, [(_topic(settings, other), _good())])

        letters = None

        async def calm_stored() -> None:
            from core.storage.pool import create_pool

            nonlocal letters
            pool = await create_pool(database_url, min_size=1, max_size=1)
            try:
                await eventually(lambda: _stored(pool, other), lambda n: n == 1, within=120)
                letters = tuple(
                    await pool.fetchrow(
                        "SELECT count(*), coalesce(sum(pg_column_size(d.*)), 0)"
                        " FROM dead_letters d WHERE device_id = $1",
                        flooder,
                    )
                )
            finally:
                await pool.close()

        asyncio.run(calm_stored())
        sampling.set()
        sampler.join()
    finally:
        assert ingest.stop() == 0, ingest.output()[-3000:]
    growth = (peak - baseline) / 2**20
    print(
        f"broker acknowledged {acked} of {FLOOD_MESSAGES} x {FLOOD_BYTES} B and {acked_under}"
        f" of {FLOOD_MESSAGES} x {UNDER_LIMIT_BYTES} B; ingest RSS +{growth:.0f} MiB;"
        f" dead letters: {letters}"
    )
    assert acked == 0, "the broker refuses packets over ingest's payload limit"
    assert acked_under == FLOOD_MESSAGES
    assert growth < 100, f"ingest grew by {growth:.0f} MiB"
    assert letters is not None
    assert letters[0] <= 61  # the default quota of 60, and the row saying it was hit
    assert letters[1] < 61 * (KEPT_PAYLOAD_BYTES + 2000)
