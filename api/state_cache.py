"""The latest state of every device, kept rendered in the API process.

A wall screen asks for all 10,000 devices at once; rendering them costs far more than
finding what changed. So each device's JSON is rendered once, and every request first
re-renders only the devices whose reading, registry row or flood level changed since the
previous look (with a margin for batches that commit out of order), then appends the
time-dependent ``online``/``stale`` flags. A full reload every ``full_every_s`` drops
deleted devices.

Requests are served from memory: no lock and no database round trip per request. A
snapshot younger than ``max_age_s`` is served as it is; an older one starts one refresh in
the background (never more than one at a time), which a request waits for at most
``wait_s`` before it is served the snapshot it has. So when the database is slow (heavy
history queries, a vacuum), ``/state`` answers late by at most ``wait_s`` and stale by
at most the refresh's duration, instead of queueing behind the database. Each rendered
answer is kept per filter until the next refresh (or for a second, the precision of the
online/stale flags), so a wall of screens asking the same question costs one render and one
compression (sent to every client that accepts gzip; a client repeating its ETag gets 304).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import asyncpg

from core.storage.state import LIVENESS, Fragment, StateFilter, state_fragments

MARGIN = timedelta(seconds=10)
FLAGS_EVERY_S = 1.0
"""A rendered answer is reused for at most this long (its online/stale flags age)."""
MEMO_ENTRIES = 64

log = logging.getLogger(__name__)


class Rendered:
    """One rendered answer, with its entity tag and its gzip form (compressed off the loop)."""

    __slots__ = ("body", "etag", "gzip")

    def __init__(self, body: bytes, gzipped: bytes) -> None:
        self.body = body
        # weak: the gzip and the plain answer are the same representation for a client
        self.etag = 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        self.gzip = gzipped

    @classmethod
    async def of(cls, body: bytes) -> Rendered:
        # zlib lets go of the GIL: requests keep being served while a large answer compresses
        gz = await asyncio.to_thread(gzip.compress, body, 1, mtime=0) if len(body) > 1024 else b""
        return cls(body, gz)


class StateCache:
    def __init__(
        self,
        pool: asyncpg.Pool,
        limits: Mapping[str, float],
        *,
        max_age_s: float = 1.0,
        wait_s: float = 0.1,
        full_every_s: float = 60.0,
    ) -> None:
        self._pool = pool
        self._limits = {k: timedelta(seconds=v) for k, v in limits.items()}
        self._max_age = max_age_s
        self._wait = wait_s
        self._full_every = full_every_s
        self._entries: dict[str, Fragment] = {}
        self._order: list[str] = []
        self._seen_at: datetime | None = None
        self._loaded = 0.0
        self._fresh_at = float("-inf")
        self._version = 0
        self._task: asyncio.Task[None] | None = None
        self._memo: dict[tuple[StateFilter, str], tuple[int, float, Rendered]] = {}
        self._rendering: set[tuple[StateFilter, str]] = set()
        self.refreshes = 0

    async def _refresh(self) -> None:
        started = time.monotonic()
        since: datetime | None = None
        full = self._seen_at is None or started - self._loaded > self._full_every
        if not full and self._seen_at is not None:
            since = self._seen_at - MARGIN
        at, frags = await state_fragments(self._pool, since)
        entries = {} if full else dict(self._entries)
        new = [f for f in frags if f.device_id not in entries]
        for f in frags:
            entries[f.device_id] = f
        if full or new:
            self._order = sorted(entries)
        self._entries = entries
        if full:
            self._loaded = started
        if full or frags:
            self._version += 1
        self._seen_at = at
        self._fresh_at = started
        self.refreshes += 1

    def _done(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("state: refresh failed, serving the last snapshot: %s", task.exception())

    async def _current(self) -> None:
        """Make the snapshot as fresh as ``max_age_s`` allows, waiting at most ``wait_s``
        (except for the very first load, which every request needs)."""
        if self._task is None and time.monotonic() - self._fresh_at > self._max_age:
            self._task = asyncio.get_running_loop().create_task(self._refresh())
            self._task.add_done_callback(self._done)
        task = self._task
        if task is None:
            return
        if self._seen_at is None:
            await asyncio.shield(task)
        else:
            await asyncio.wait({task}, timeout=self._wait)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})

    async def rendered(self, flt: StateFilter, fmt: str) -> Rendered:
        """The answer for ``flt`` as ``json`` or ``geojson``, rendered once per snapshot (and
        per second, for the flags). While one request renders a newer answer, the others
        are served the previous one."""
        await self._current()
        now = time.monotonic()
        key = (flt, fmt)
        hit = self._memo.get(key)
        if hit is not None and (
            (hit[0] == self._version and now - hit[1] < FLAGS_EVERY_S) or key in self._rendering
        ):
            return hit[2]
        self._rendering.add(key)
        try:
            version = self._version
            body = (self._json(flt) if fmt == "json" else self._geojson(flt)).encode()
            out = await Rendered.of(body)
        finally:
            self._rendering.discard(key)
        if len(self._memo) >= MEMO_ENTRIES:
            self._memo.clear()
        self._memo[key] = (version, now, out)
        return out

    async def json(self, flt: StateFilter) -> str:
        return (await self.rendered(flt, "json")).body.decode()

    async def geojson(self, flt: StateFilter) -> str:
        return (await self.rendered(flt, "geojson")).body.decode()

    def _flags(self, f: Fragment, now: datetime) -> tuple[bool, bool]:
        limit = self._limits.get(f.kind, timedelta(seconds=900 * 3))
        online = f.received_at is not None and now - f.received_at < limit
        stale = f.time is None or now - f.time > limit
        return online, stale

    def _selected(self, flt: StateFilter, now: datetime) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for device_id in self._order:
            f = self._entries[device_id]
            if flt.kind is not None and f.kind != flt.kind:
                continue
            if flt.district is not None and f.district != flt.district:
                continue
            online, stale = self._flags(f, now)
            if flt.status in LIVENESS:
                keep = {"online": online, "offline": not online, "stale": stale}[flt.status]
                if not keep:
                    continue
            elif flt.status is not None:
                if f.status != flt.status:
                    continue
            elif f.status == "decommissioned":
                continue
            out.append(
                (
                    device_id,
                    f'{f.body},"online":{"true" if online else "false"},'
                    f'"stale":{"true" if stale else "false"}}}',
                )
            )
        return out

    def _json(self, flt: StateFilter) -> str:
        return "[" + ",".join(t for _, t in self._selected(flt, datetime.now(UTC))) + "]"

    def _geojson(self, flt: StateFilter) -> str:
        now = datetime.now(UTC)
        features = []
        for device_id, p in self._selected(flt, now):
            geometry = self._entries[device_id].geometry
            features.append(
                '{"type":"Feature","id":'
                + json.dumps(device_id)
                + ',"geometry":'
                + geometry
                + ',"properties":'
                + p
                + "}"
            )
        return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"
