"""What one caller may cost the others: a cap on concurrent heavy queries, and a byte cap on
the answers they stream.

Heavy queries (history over many devices or a long range) hold a *slot* from when their
database work starts until the last byte is sent. A process has ``slots`` of them; a few
more callers may wait up to ``wait_s`` for one, and anyone beyond that is told to come back
(429 with ``Retry-After``) instead of piling up. Light requests (``/state``, ``/healthz``,
``/stream``) never take a slot, so a burst of heavy ones cannot starve them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import HTTPException

from api.models import Problem

BUSY_DETAIL = (
    "too many heavy queries are running (server sibuk / busy); retry after {after} s,"
    " or ask for less: a coarser bucket, fewer devices or fields, a shorter range"
)

BUSY: dict[str, Any] = {
    "model": Problem,
    "description": "Too many heavy queries at once; retry after the Retry-After seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
}


class Slot:
    """One held place among the heavy queries; released once, however often asked."""

    def __init__(self, sem: asyncio.Semaphore) -> None:
        self._sem: asyncio.Semaphore | None = sem

    def release(self) -> None:
        if self._sem is not None:
            self._sem.release()
            self._sem = None

    def __del__(self) -> None:
        # a response dropped before its body started still gives its place back
        self.release()


class HeavyLimiter:
    def __init__(self, slots: int, queue: int, wait_s: float) -> None:
        self.slots = slots
        self._sem = asyncio.Semaphore(slots)
        self._queue = queue
        self._wait_s = wait_s
        self._waiting = 0
        self.refused = 0

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self._wait_s))

    def _busy(self) -> HTTPException:
        self.refused += 1
        after = self.retry_after
        return HTTPException(
            429, BUSY_DETAIL.format(after=after), headers={"Retry-After": str(after)}
        )

    def check(self) -> None:
        """Refuse now, before any database work, a caller who would be refused a slot."""
        if self._sem.locked() and self._waiting >= self._queue:
            raise self._busy()

    async def slot(self) -> Slot:
        """A slot, or a 429 once ``queue`` callers are already waiting or ``wait_s`` passed."""
        self.check()
        self._waiting += 1
        try:
            await asyncio.wait_for(self._sem.acquire(), self._wait_s)
        except TimeoutError:
            raise self._busy() from None
        finally:
            self._waiting -= 1
        return Slot(self._sem)


def _fitting(batch: list[str], sep: str, room: int, max_bytes: int) -> tuple[bytes, str]:
    kept: list[bytes] = []
    for piece in batch:
        data = (sep + piece).encode()
        if len(data) > room:
            break
        room -= len(data)
        kept.append(data)
    return b"".join(kept), (
        f"answer cut at {max_bytes} bytes (batas ukuran jawaban / response size limit);"
        " ask for a coarser bucket, fewer fields or devices, or a shorter range"
    )


SEND_BYTES = 64 * 1024
"""Pieces are gathered into writes of about this size."""


async def capped(
    pieces: AsyncIterator[list[str]],
    *,
    sep: str = "",
    head: str,
    tail: Callable[[str | None], str],
    max_bytes: int,
    slot: Slot,
) -> AsyncIterator[bytes]:
    """``head``, the pieces (rows, each whole or not at all) with ``sep`` between them, then
    ``tail(None)``; if the next piece would pass ``max_bytes``, the stream stops there and
    ends with ``tail(reason)``. The slot and the pieces' source (a database cursor) are released
    however the stream ends."""
    try:
        out = [head.encode()]
        sent = pending = len(out[0])
        reason: str | None = None
        lead = ""
        async for batch in pieces:
            if not batch:
                continue
            data = (lead + sep.join(batch)).encode()
            if sent + len(data) > max_bytes:  # the last batch: keep the pieces that fit
                data, reason = _fitting(batch, sep, max_bytes - sent, max_bytes)
                if not lead and data.startswith(sep.encode()):
                    data = data[len(sep) :]
            lead = sep
            sent += len(data)
            pending += len(data)
            out.append(data)
            if reason is not None:
                break
            if pending >= SEND_BYTES:
                yield b"".join(out)
                out, pending = [], 0
        out.append(tail(reason).encode())
        yield b"".join(out)
    finally:
        with contextlib.suppress(Exception):
            await pieces.aclose()  # type: ignore[attr-defined]
        slot.release()
