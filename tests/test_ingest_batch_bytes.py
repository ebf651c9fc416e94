"""A batch closes when it is full by bytes, not only by message count.

Backlog messages (a hundred readings each, ~12 KB) fill BATCH_MAX_BYTES long before
ingest_batch_size messages, and the inbox (INBOX_MAX_BYTES) cannot even hold that many:
waiting for the count meant every backlog batch sat out the batch age timer.
"""

from __future__ import annotations

import asyncio
import threading

import asyncpg
import pytest

from core.kinds import KindRegistry
from core.settings import Settings
from ingest.service import BATCH_MAX_BYTES, IngestService

pytestmark = pytest.mark.anyio


async def test_a_batch_full_by_bytes_is_taken_without_waiting_for_its_age(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry
) -> None:
    slow = settings.model_copy(
        update={"ingest_batch_max_age_ms": 60_000, "ingest_batch_size": 5000}
    )
    service = IngestService(slow, pool, kinds)
    service._loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    piece = BATCH_MAX_BYTES // 4
    topic = f"{slow.topic_root}/flood_gauge/AWLR-BYTES/telemetry".encode()
    first = asyncio.ensure_future(service._next_batch(stop))  # waiting for a first message
    await asyncio.sleep(0.05)

    def network_thread() -> None:  # as paho's thread hands messages over, a few at a time
        for mid in range(1, 6):
            service._on_publishes([(topic, b"x" * piece, mid, 1)])

    thread = threading.Thread(target=network_thread)
    thread.start()
    await asyncio.to_thread(thread.join)
    batch = await asyncio.wait_for(first, timeout=10)  # the age timer would take 60 s
    assert len(batch) == 4
    assert sum(len(m.payload) for m in batch) == BATCH_MAX_BYTES
    assert service.buffered_bytes == piece  # the fifth waits for the next batch
