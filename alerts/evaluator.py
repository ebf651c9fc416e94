"""The alert evaluator: rules run on each committed batch (via NOTIFY) and on a timer.

Per batch: flood episodes (one alert per gauge per flood: escalation at once, de-escalation
after a deadband and a per-station dwell; see alerts/levels.py) and rate of rise, node
latency and loss over a window, and a device coming back. On the timer: shelved alarms whose
time is up return, offline devices and nodes (one alert per down node, not one per device
behind it), late data (one alarm per cause when many devices are late at once, never one per
device; not while a backlog is still moving a device's clock forward), and the street-light
pass. Lamps are also judged a
few seconds after their readings arrive, once a whole feeder has had time to report.

Thresholds, feeders and uplinks come from the device registry, re-read every few seconds;
when a gauge's thresholds change, its level is judged again on its newest reading, so the
level /state shows always matches the thresholds the registry shows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from alerts import simclock
from alerts.config import AlertConfig, thresholds_for, uplink_of
from alerts.late_data import late_devices, late_groups
from alerts.levels import GaugeState, next_level, step, threshold_of
from alerts.lights import judge_lamps
from alerts.node_rules import node_rules
from alerts.sink import AlertSink, Finding
from alerts.vocabulary import FloodLevel, Rule
from core.kinds import KindRegistry
from core.storage.alert_inputs import (
    Liveness,
    StoredSpan,
    backlog_readings,
    device_names,
    liveness,
    node_windows,
    rise_windows,
)
from core.storage.alert_metadata import AlertMetadata, load_alert_metadata
from core.storage.alerts import get_levels, set_level
from core.storage.events import announce
from core.storage.fleet import DeviceStatus, device_statuses

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


def _water_levels(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flood rule's input: gauge readings with a numeric water level."""
    return [
        it
        for it in items
        if it["kind"] == "flood_gauge" and isinstance(it["values"].get("water_level"), int | float)
    ]


async def _together(*work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` concurrently. The first failure cancels the rest and is raised as itself,
    not in an ExceptionGroup: the service's loops tell "database away" (retry) from a bug
    (stop) by the exception's class."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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
        self._gauges: dict[str, GaugeState] = {}
        self._rise_calm_since: dict[str, datetime] = {}
        self._fleet: dict[str, DeviceStatus] | None = None
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
        """Re-read the registry; gauges whose thresholds changed are judged again at once,
        and registrations, status changes and decommissions are announced on the stream."""
        await self._follow_fleet()
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

    async def _follow_fleet(self) -> None:
        """Announce ``state`` items for devices registered, re-statused or removed since the
        last look, so open pages follow the fleet without a reload (``registry`` says which)."""
        now = await device_statuses(self._pool)
        before, self._fleet = self._fleet, now
        if before is None:
            return
        items: list[dict[str, Any]] = []
        for d, s in now.items():
            old = before.get(d)
            if old is None:
                items.append(
                    {"device_id": d, "kind": s.kind, "status": s.status, "registry": "registered"}
                )
            elif old.status != s.status:
                items.append(
                    {"device_id": d, "kind": s.kind, "status": s.status, "registry": "status"}
                )
        for d in before.keys() - now.keys():
            items.append({"device_id": d, "kind": before[d].kind, "registry": "removed"})
        if items:
            await announce(self._pool, "state", items)

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
        silent_before: dict[str, datetime] = {}  # per kind: a reading older is late
        for it in items:
            d = it["device_id"]
            t = datetime.fromisoformat(it["time"])
            kind = it["kind"]
            if kind not in silent_before:
                silent_before[kind] = now - self.silence(kind)
            late = late or t < silent_before[kind]
            if d not in self._newest or t > self._newest[d]:
                self._newest[d] = t
                self._advanced[d] = now
            if self._sink.is_open(Rule.DEVICE_OFFLINE, d):
                await self._sink.clear(Rule.DEVICE_OFFLINE, d, "device reports again")
            if kind == "network_node" and self._sink.is_open(Rule.NODE_DOWN, d):
                await self._sink.clear(Rule.NODE_DOWN, d, "node reports again")
            if self._online.get(d) is False:
                back.append({"device_id": d, "kind": kind, "online": True, "time": it["time"]})
            self._online[d] = True
        if back:
            await announce(self._pool, "state", back)
        gauges = _water_levels(it for it in items if not it.get("backlog"))
        nodes = _newest_times([it for it in items if it["kind"] == "network_node"])
        # the two rules read different devices and raise different alerts: their
        # database round trips overlap
        await _together(
            *([self._flood(gauges)] if gauges else []), *([self._nodes(nodes)] if nodes else [])
        )
        if any(it["kind"] == "streetlight" for it in items):
            self._schedule_lamps()
        if late and time.monotonic() - self._late_pass >= 1.0:
            # Readings from the past: a simulation's clock (or a backlog) moved; judge
            # liveness now rather than at the next tick (at most once a second).
            self._late_pass = time.monotonic()
            await self._liveness()

    async def on_backlog(self, items: list[dict[str, Any]]) -> None:
        """A batch's backlog spans (:func:`core.storage.events.live_readings`): the readings
        a kind judges one by one are read back and judged like announced ones. Their
        devices' oldest and newest readings came in the batch's "readings" notification,
        marked, and went through every other rule there."""
        by_kind: dict[str, list[StoredSpan]] = {}
        try:
            for it in items:
                by_kind.setdefault(it["kind"], []).append(
                    StoredSpan(
                        str(it["device_id"]),
                        datetime.fromisoformat(it["first"]),
                        datetime.fromisoformat(it["last"]),
                        datetime.fromisoformat(it["received_at"]),
                    )
                )
        except (KeyError, TypeError) as exc:  # the service logs a malformed notification
            raise ValueError(f"bad backlog item: {exc!r}") from None
        gauge = self._kinds.get("flood_gauge")
        spans = by_kind.get("flood_gauge")
        if gauge is None or not spans:
            return
        readings = await backlog_readings(self._pool, gauge, spans)
        self.stats.items += len(readings)
        gauges = _water_levels(readings)
        if gauges:
            await self._flood(gauges)

    async def _flood(self, items: list[dict[str, Any]], *, rise: bool = True) -> None:
        meta = await self.metadata()
        ids = sorted({it["device_id"] for it in items})
        unknown = [d for d in ids if d not in self._gauges]
        if unknown:
            self._levels.update(await get_levels(self._pool, unknown))
            for d in unknown:
                self._gauges[d] = GaugeState(FloodLevel(self._levels.get(d, FloodLevel.NORMAL)))
        names = await device_names(self._pool, ids)
        changes: list[dict[str, Any]] = []
        for it in sorted(items, key=lambda it: it["time"]):
            d = it["device_id"]
            value = float(it["values"]["water_level"])
            t = datetime.fromisoformat(it["time"])
            th = thresholds_for(self._c, meta, d)
            before = self._gauges[d]
            if rise:
                after = step(before, value, t, th)
            else:  # the thresholds changed: the level follows them at once, no dwell
                after = GaugeState(next_level(value, before.level, th), t)
            self._gauges[d] = after
            new = after.level
            if new != self._levels.get(d):
                await set_level(self._pool, d, new)
                self._levels[d] = new
                changes.append(
                    {"device_id": d, "kind": "flood_gauge", "level": new, "time": it["time"]}
                )
            if new is FloodLevel.NORMAL:
                await self._sink.clear(
                    Rule.FLOOD_LEVEL,
                    d,
                    f"water level {value:.0f} cm: NORMAL for {th.dwell_min:g} min",
                    observed_at=t,
                    value=value,
                )
                continue
            peak, peak_at = self._sink.peak(Rule.FLOOD_LEVEL, d)
            if peak is None or peak_at is None or value > peak:
                peak, peak_at = value, t
            await self._sink.raise_(
                Rule.FLOOD_LEVEL,
                d,
                device_id=d,
                facts={
                    "name": names.get(d, d),
                    "level": new.value,
                    "value": value,
                    "time": t,
                    "threshold": threshold_of(new, th) or 0.0,
                    "peak": peak,
                    "peak_time": peak_at,
                },
                level=new,
                value=value,
                observed_at=t,
            )
        if changes:
            await announce(self._pool, "state", changes)
        if not rise:
            return
        c = self._c
        newest = _newest_times(items)
        rising: list[Finding] = []
        for w in await rise_windows(self._pool, newest, timedelta(minutes=c.rise_window_min)):
            span_h = (w.last_time - w.first_time).total_seconds() / 3600
            if span_h * 60 < max(c.rise_min_span_min, 0.001):
                continue
            rate = (w.last_level - w.first_level) / span_h
            if rate >= c.rise_clear_cm_per_h:
                self._rise_calm_since.pop(w.device_id, None)
            if rate >= c.rise_cm_per_h:
                fast = rate >= 2 * c.rise_cm_per_h
                rising.append(
                    Finding(
                        Rule.FLOOD_RISE,
                        w.device_id,
                        device_id=w.device_id,
                        facts={
                            "name": names.get(w.device_id, w.device_id),
                            "rate": round(rate, 1),
                            "limit": c.rise_cm_per_h,
                        },
                        variant="fast" if fast else "",
                        affected=2 if fast else 1,
                    )
                )
            elif rate < c.rise_clear_cm_per_h:
                # an off-delay in reading time: a mixed feed's one flat window does not clear it
                calm = self._rise_calm_since.setdefault(w.device_id, w.last_time)
                if w.last_time - calm >= timedelta(minutes=c.rise_clear_dwell_min):
                    await self._sink.clear(
                        Rule.FLOOD_RISE, w.device_id, f"rise slowed to {rate:.0f} cm/h"
                    )
        await self._sink.raise_all(rising)

    async def _nodes(self, newest: dict[str, datetime]) -> None:
        rules = node_rules(self._c)
        windows = await node_windows(
            self._pool, newest, {r.field: timedelta(minutes=r.window_min) for r in rules}
        )
        found: list[Finding] = []
        for r in rules:
            for w in windows[r.field]:
                verdict = r.trips(w)
                if verdict is True and w.avg is not None:
                    facts = {
                        "name": w.device_id,
                        "avg": round(w.avg, r.digits),
                        "samples": w.samples,
                        "window": r.window_min,
                        "limit": r.limit,
                    }
                    found.append(Finding(r.rule, w.device_id, device_id=w.device_id, facts=facts))
                elif verdict is False:
                    await self._sink.clear(r.rule, w.device_id, r.clear_note)
        await self._sink.raise_all(found)

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
        await self._sink.return_shelved(self._clock())
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
                await self._sink.clear(Rule.DEVICE_OFFLINE, d, f"covered by node_down of {up}")
                continue
            if quiet_s[d] <= self._c.offline_alarm_after_s:
                continue  # offline is shown on the device; not yet an alarm
            await self._sink.raise_(
                Rule.DEVICE_OFFLINE,
                d,
                device_id=d,
                facts={
                    "name": r.name or d,
                    "device": d,
                    "since": simclock.last_seen(r),
                    "kind": r.kind,
                },
            )
        for n in sorted(down):
            r = silent[n]
            await self._sink.raise_(
                Rule.NODE_DOWN,
                n,
                device_id=n,
                facts={
                    "name": r.name or n,
                    "device": n,
                    "since": simclock.last_seen(r),
                    "behind_count": len(behind[n]),
                    "behind": sorted(behind[n]),
                },
                affected=1 + len(behind[n]),
            )
        for n in self._sink.subjects(Rule.NODE_DOWN) - down:
            await self._sink.clear(Rule.NODE_DOWN, n, "node reports again")
        for d in self._sink.subjects(Rule.DEVICE_OFFLINE) - set(silent):
            await self._sink.clear(Rule.DEVICE_OFFLINE, d, "device reports again")
        # simulated devices are judged by their run's clock: never late by the wall clock
        await self._stale(
            [r for r in rows if r.device_id not in silent and not simclock.is_simulated(r)],
            now,
            meta,
        )
        if changes:
            await announce(self._pool, "state", changes)

    async def _stale(self, rows: list[Liveness], now: datetime, meta: AlertMetadata) -> None:
        """One alarm per cause of late data, none per device (alerts/late_data.py)."""
        late = late_devices(
            rows,
            now,
            silence=self.silence,
            advanced=self._advanced,
            started=self._started,
            backlog_window=timedelta(seconds=self._c.backlog_window_s),
        )
        groups = late_groups(
            late,
            uplink_of=lambda d: uplink_of(self._c, meta, d),
            uplink_min=self._c.stale_uplink_min,
            fleet_min=self._c.stale_fleet_min,
        )
        for g in groups:
            await self._sink.raise_(
                Rule.STALE_DATA,
                g.subject,
                device_id=None,
                facts={
                    "cause": g.cause,
                    "count": len(g.devices),
                    "newest": max(r.time for r in g.devices),
                    "devices": sorted(r.device_id for r in g.devices),
                },
                variant=g.variant,
                affected=len(g.devices),
            )
        for subject in self._sink.subjects(Rule.STALE_DATA) - {g.subject for g in groups}:
            await self._sink.clear(Rule.STALE_DATA, subject, "data is current again")
