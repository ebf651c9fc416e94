"""The latest state of every device, kept rendered in the API process.

A wall screen asks for all 10,000 devices at once; rendering them costs far more than
finding what changed. So each device's JSON is rendered once, and every request first
re-renders only the devices whose reading, registry row or flood level changed since the
previous look (with a margin for batches that commit out of order), then appends the
time-dependent ``online``/``stale`` flags and the values' age (``age_s``, ``freshness``).
A full reload every ``full_every_s`` drops deleted devices.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import asyncpg

from core.storage.state import LIVENESS, Fragment, StateFilter, state_fragments

MARGIN = timedelta(seconds=10)


class StateCache:
    def __init__(
        self, pool: asyncpg.Pool, limits: Mapping[str, float], *, full_every_s: float = 60.0
    ) -> None:
        self._pool = pool
        self._limits = {k: timedelta(seconds=v) for k, v in limits.items()}
        self._full_every = full_every_s
        self._entries: dict[str, Fragment] = {}
        self._order: list[str] = []
        self._seen_at: datetime | None = None
        self._loaded = 0.0
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        async with self._lock:
            since: datetime | None = None
            full = self._seen_at is None or time.monotonic() - self._loaded > self._full_every
            if not full and self._seen_at is not None:
                since = self._seen_at - MARGIN
            at, frags = await state_fragments(self._pool, since)
            if full:
                self._entries = {}
                self._loaded = time.monotonic()
            new = [f for f in frags if f.device_id not in self._entries]
            for f in frags:
                self._entries[f.device_id] = f
            if full or new:
                self._order = sorted(self._entries)
            self._seen_at = at

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
            if f.time is None:
                age, freshness = "null", "no_data"
            else:
                age = str(max(0, int((now - f.time).total_seconds())))
                freshness = "stale" if stale else "current"
            out.append(
                (
                    device_id,
                    f'{f.body},"online":{"true" if online else "false"},'
                    f'"stale":{"true" if stale else "false"},'
                    f'"age_s":{age},"freshness":"{freshness}"}}',
                )
            )
        return out

    async def json(self, flt: StateFilter) -> str:
        await self._refresh()
        return "[" + ",".join(t for _, t in self._selected(flt, datetime.now(UTC))) + "]"

    async def geojson(self, flt: StateFilter) -> str:
        await self._refresh()
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
