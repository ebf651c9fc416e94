"""The alert evaluator: rules run on each committed batch (via NOTIFY) and on a timer.

Per batch: flood level (with hysteresis and escalation) and rate of rise, node latency and
loss over a window, and a device coming back. On the timer: offline devices and nodes (one
alert per down node, not one per device behind it), stale data (not while a backlog is
still moving a device's clock forward), and the street-light pass. Lamps are also judged a
few seconds after their readings arrive, once a whole feeder has had time to report.

Thresholds, feeders and uplinks come from the device registry, re-read every few seconds;
when a gauge's thresholds change, its level is judged again on its newest reading, so the
level /state shows always matches the thresholds the registry shows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from alerts import simclock
from alerts.config import AlertConfig, thresholds_for, uplink_of
from alerts.levels import LEVELS, SEVERITY, next_level, threshold_of
from alerts.lights import judge_lamps
from alerts.sink import AlertSink
from core.kinds import KindRegistry
from core.storage.alert_inputs import device_names, liveness, node_windows, rise_windows
from core.storage.alert_metadata import AlertMetadata, load_alert_metadata
from core.storage.alerts import get_levels, set_level
from core.storage.events import announce

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class EvaluatorStats:
    items: int = 0
    batches: int = 0
    ticks: int = 0
    lamp_passes: int = 0


def _newest_times(items: list[dict[str, Any]]) -> dict[str, datetime]:
    """Each device's newest reading time in a batch (its windows end there)."""
    newest: dict[str, datetime] = {}
    for it in items:
        t = datetime.fromisoformat(it["time"])
        if it["device_id"] not in newest or t > newest[it["device_id"]]:
            newest[it["device_id"]] = t
    return newest


class AlertEvaluator:
    def __init__(
        self,
        pool: asyncpg.Pool,
        kinds: KindRegistry,
        config: AlertConfig,
        sink: AlertSink,
        clock: Clock = utc_now,
    ) -> None:
        self._pool = pool
        self._kinds = kinds
        self._c = config
        self._sink = sink
        self._clock = clock
        self._levels: dict[str, str] = {}
        self._online: dict[str, bool] = {}
        self._newest: dict[str, datetime] = {}
        self._advanced: dict[str, datetime] = {}
        self._started = clock()
        self._late_pass = 0.0
        self._lamp_task: asyncio.Task[None] | None = None
        self._meta: AlertMetadata | None = None
        self._meta_at = 0.0
        self._meta_lock = asyncio.Lock()
        self.stats = EvaluatorStats()

    # ---- registry details ---------------------------------------------------------------

    async def metadata(self) -> AlertMetadata:
        """The registry's details, re-read when older than ``registry_refresh_s``."""
        if self._meta is None or time.monotonic() - self._meta_at >= self._c.registry_refresh_s:
            await self.refresh_metadata()
        assert self._meta is not None
        return self._meta

    async def refresh_metadata(self) -> None:
        """Re-read the registry; gauges whose thresholds changed are judged again at once."""
        async with self._meta_lock:
            old = self._meta
            self._meta = await load_alert_metadata(self._pool)
            self._meta_at = time.monotonic()
            if old is None:
                return
            changed = {
                d
                for d in set(old.thresholds) | set(self._meta.thresholds)
                if thresholds_for(self._c, old, d) != thresholds_for(self._c, self._meta, d)
            }
        if not changed:
            return
        items = [
            {
                "device_id": r.device_id,
                "kind": r.kind,
                "values": r.values,
                "time": r.time.isoformat(),
            }
            for r in await liveness(self._pool, "flood_gauge")
            if r.device_id in changed and isinstance(r.values.get("water_level"), int | float)
        ]
        if items:
            log.info("alerts: thresholds changed for %d gauge(s); judging again", len(items))
            await self._flood(items, rise=False)

    def silence(self, kind: str) -> timedelta:
        k = self._kinds.get(kind)
        return timedelta(seconds=(k.interval_s if k else 900) * self._c.offline_factor)

    # ---- as readings arrive -------------------------------------------------------------

    async def on_readings(self, items: list[dict[str, Any]]) -> None:
        self.stats.batches += 1
        self.stats.items += len(items)
        now = self._clock()
        back: list[dict[str, Any]] = []
        late = False
        for it in items:
            d = it["device_id"]
            t = datetime.fromisoformat(it["time"])
            late = late or now - t > self.silence(it["kind"])
            if d not in self._newest or t > self._newest[d]:
                self._newest[d] = t
                self._advanced[d] = now
            await self._sink.clear("device_offline", d, "device reports again")
            if it["kind"] == "network_node":
                await self._sink.clear("node_down", d, "node reports again")
            if now - t <= self.silence(it["kind"]):
                await self._sink.clear("stale_data", d, "data is current again")
            if self._online.get(d) is False:
                back.append(
                    {"device_id": d, "kind": it["kind"], "online": True, "time": it["time"]}
                )
            self._online[d] = True
        if back:
            await announce(self._pool, "state", back)
        gauges = [
            it
            for it in items
            if it["kind"] == "flood_gauge"
            and isinstance(it["values"].get("water_level"), int | float)
        ]
        if gauges:
            await self._flood(gauges)
        nodes = _newest_times([it for it in items if it["kind"] == "network_node"])
        if nodes:
            await self._nodes(nodes)
        if any(it["kind"] == "streetlight" for it in items):
            self._schedule_lamps()
        if late and time.monotonic() - self._late_pass >= 1.0:
            # Readings from the past: a simulation's clock (or a backlog) moved; judge
            # liveness now rather than at the next tick (at most once a second).
            self._late_pass = time.monotonic()
            await self._liveness()

    async def _flood(self, items: list[dict[str, Any]], *, rise: bool = True) -> None:
        meta = await self.metadata()
        ids = sorted({it["device_id"] for it in items})
        unknown = [d for d in ids if d not in self._levels]
        if unknown:
            self._levels.update(await get_levels(self._pool, unknown))
        names = await device_names(self._pool, ids)
        changes: list[dict[str, Any]] = []
        for it in items:
            d = it["device_id"]
            value = float(it["values"]["water_level"])
            th = thresholds_for(self._c, meta, d)
            cur = self._levels.get(d)
            new = next_level(value, cur or "NORMAL", th)
            if new != cur:
                await set_level(self._pool, d, new)
                self._levels[d] = new
                changes.append(
                    {"device_id": d, "kind": "flood_gauge", "level": new, "time": it["time"]}
                )
            if new == "NORMAL":
                await self._sink.clear("flood_level", d, f"water level {value:.0f} cm: NORMAL")
                continue
            limit = threshold_of(new, th)
            await self._sink.raise_(
                "flood_level",
                d,
                device_id=d,
                severity=SEVERITY[new],
                message=f"{names.get(d, d)}: water level {value:.0f} cm, {new}"
                f" (threshold {limit:.0f} cm)",
                details={"level": new, "value": value, "time": it["time"], "threshold": limit},
                level=LEVELS.index(new),
            )
        if changes:
            await announce(self._pool, "state", changes)
        if not rise:
            return
        c = self._c
        newest = _newest_times(items)
        for w in await rise_windows(self._pool, newest, timedelta(minutes=c.rise_window_min)):
            span_h = (w.last_time - w.first_time).total_seconds() / 3600
            if span_h * 60 < max(c.rise_min_span_min, 0.001):
                continue
            rate = (w.last_level - w.first_level) / span_h
            if rate >= c.rise_cm_per_h:
                fast = rate >= 2 * c.rise_cm_per_h
                await self._sink.raise_(
                    "flood_rise",
                    w.device_id,
                    device_id=w.device_id,
                    severity="critical" if fast else "warning",
                    message=f"{names.get(w.device_id, w.device_id)}: water rising"
                    f" {'fast, ' if fast else ''}over {c.rise_cm_per_h:.0f} cm/h",
                    details={"rate_cm_per_h": round(rate, 1), "window_min": c.rise_window_min},
                    level=2 if fast else 1,
                )
            elif rate < c.rise_clear_cm_per_h:
                await self._sink.clear("flood_rise", w.device_id, f"rise slowed to {rate:.0f} cm/h")

    async def _nodes(self, newest: dict[str, datetime]) -> None:
        c = self._c
        latency = await node_windows(
            self._pool, newest, "latency", timedelta(minutes=c.latency_window_min)
        )
        for w in latency:
            if w.avg is None:
                continue
            if w.samples >= c.latency_min_samples and w.avg > c.latency_ms:
                await self._sink.raise_(
                    "node_latency",
                    w.device_id,
                    device_id=w.device_id,
                    severity="warning",
                    message=f"Node {w.device_id}: latency above {c.latency_ms:.0f} ms"
                    f" ({c.latency_window_min:.0f}-min average)",
                    details={"avg_ms": round(w.avg, 1), "samples": w.samples},
                )
            elif w.avg < c.latency_clear_ms:
                await self._sink.clear("node_latency", w.device_id, "latency back to normal")
        loss = await node_windows(
            self._pool, newest, "packet_loss", timedelta(minutes=c.loss_window_min)
        )
        for w in loss:
            if w.avg is None or w.min is None:
                continue
            if w.samples >= c.loss_min_samples and w.min > c.loss_pct:
                await self._sink.raise_(
                    "node_loss",
                    w.device_id,
                    device_id=w.device_id,
                    severity="warning",
                    message=f"Node {w.device_id}: packet loss above {c.loss_pct:g} % for"
                    f" {c.loss_window_min:g} min",
                    details={"avg_pct": round(w.avg, 2), "samples": w.samples},
                )
            elif w.avg < c.loss_clear_pct:
                await self._sink.clear("node_loss", w.device_id, "packet loss back to normal")

    # ---- lamps, a moment after they report ----------------------------------------------

    def _schedule_lamps(self) -> None:
        if self._lamp_task is None or self._lamp_task.done():
            self._lamp_task = asyncio.create_task(self._lamps_later())

    async def _lamps_later(self) -> None:
        await asyncio.sleep(self._c.lamp_settle_s)
        try:
            await self.lamps()
        except Exception:
            log.exception("lamp pass failed")

    async def lamps(self) -> None:
        self.stats.lamp_passes += 1
        rows = await liveness(self._pool, "streetlight")
        meta = await self.metadata()
        await judge_lamps(
            rows, self._clock(), self.silence("streetlight"), self._c, meta, self._sink
        )

    async def settle(self) -> None:
        """Wait for a pending lamp pass (tests and shutdown)."""
        if self._lamp_task is not None:
            await self._lamp_task

    # ---- on the timer -------------------------------------------------------------------

    async def tick(self) -> None:
        self.stats.ticks += 1
        await self._sink.load()
        await self._liveness()
        await self.lamps()

    async def _liveness(self) -> None:
        now = self._clock()
        rows = await liveness(self._pool)
        meta = await self.metadata()
        node_interval = timedelta(
            seconds=self._kinds["network_node"].interval_s if "network_node" in self._kinds else 60
        )
        quiet_s = simclock.quiet_for(rows, now)  # simulated devices: by their run's clock
        silent = {
            r.device_id: r
            for r in rows
            if quiet_s[r.device_id] > self.silence(r.kind).total_seconds()
        }
        down = {d for d, r in silent.items() if r.kind == "network_node"}
        quiet = {
            r.device_id
            for r in rows
            if r.kind == "network_node" and quiet_s[r.device_id] > node_interval.total_seconds()
        }
        behind: dict[str, list[str]] = {n: [] for n in down}
        changes: list[dict[str, Any]] = []
        for r in rows:
            online = r.device_id not in silent
            if self._online.get(r.device_id) != online:
                if r.device_id in self._online or not online:
                    changes.append({"device_id": r.device_id, "kind": r.kind, "online": online})
                self._online[r.device_id] = online
        for d, r in sorted(silent.items()):
            if r.kind == "network_node":
                continue
            up = uplink_of(self._c, meta, d)
            if up is not None and (up in down or up in quiet):
                behind.setdefault(up, []).append(d)
                await self._sink.clear("device_offline", d, f"covered by node_down of {up}")
                continue
            await self._sink.raise_(
                "device_offline",
                d,
                device_id=d,
                severity="warning",
                message=f"{r.name or d} ({d}) silent since {simclock.last_seen(r).isoformat()}",
                details={"last_received_at": r.received_at.isoformat(), "kind": r.kind},
            )
        for n in sorted(down):
            r = silent[n]
            await self._sink.raise_(
                "node_down",
                n,
                device_id=n,
                severity="critical",
                message=f"Node {r.name or n} ({n}) down since {simclock.last_seen(r).isoformat()};"
                f" {len(behind[n])} device(s) behind it silent too",
                details={"last_received_at": r.received_at.isoformat(), "behind": behind[n]},
            )
        for n in self._sink.subjects("node_down") - down:
            await self._sink.clear("node_down", n, "node reports again")
        for d in self._sink.subjects("device_offline") - set(silent):
            await self._sink.clear("device_offline", d, "device reports again")
        window = timedelta(seconds=self._c.backlog_window_s)
        for r in rows:
            if r.device_id in silent or simclock.is_simulated(r):
                continue
            if now - r.time > self.silence(r.kind):
                if now - self._advanced.get(r.device_id, self._started) <= window:
                    continue  # a backlog is still arriving: give it time
                await self._sink.raise_(
                    "stale_data",
                    r.device_id,
                    device_id=r.device_id,
                    severity="info",
                    message=f"{r.name or r.device_id} ({r.device_id}) reports, but its newest"
                    f" reading is from {r.time.isoformat()}",
                    details={"newest_time": r.time.isoformat()},
                )
            else:
                await self._sink.clear("stale_data", r.device_id, "data is current again")
        if changes:
            await announce(self._pool, "state", changes)
