"""Per-device quota on dead letters, so one misbehaving device fills a bounded share.

Each device (by id; messages with no device id share one bucket) may leave at most
``limit`` dead letters per ``window_s``. The first one over the quota in a window is
replaced by a ``quota_exceeded`` dead letter saying so; the rest of that window's are
counted (``citysense_ingest_dead_letters_dropped``) and not kept, and the next window's
first dead letter is preceded by a ``quota_exceeded`` row with that window's count.
Worst case per device: ``limit + 2`` rows of at most a few KiB each per window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.storage.dead_letters import DeadLetter

QUOTA_CODE = "quota_exceeded"
DEFAULT_LIMIT = 60
DEFAULT_WINDOW_S = 600.0
MAX_TRACKED = 100_000
"""Buckets kept at most (random device ids from a misbehaving publisher)."""


@dataclass(slots=True)
class _Bucket:
    window_start: float
    kept: int = 0
    noticed: bool = False
    dropped: int = 0
    topic: str = ""


class DeadLetterQuota:
    def __init__(self, limit: int = DEFAULT_LIMIT, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._buckets: dict[str | None, _Bucket] = {}

    def admit(self, letters: Sequence[DeadLetter], now: datetime) -> tuple[list[DeadLetter], int]:
        """The dead letters to keep (quota notices included), and how many were dropped."""
        if not letters:
            return [], 0
        t = now.timestamp()
        kept: list[DeadLetter] = []
        dropped = 0
        if len(self._buckets) > MAX_TRACKED:
            self._buckets.clear()
        for d in letters:
            b = self._buckets.get(d.device_id)
            if b is None or t - b.window_start >= self.window_s:
                if b is not None and b.dropped:
                    kept.append(self._notice(d, now, b, closed=True))
                b = self._buckets[d.device_id] = _Bucket(t)
            if b.kept < self.limit:
                b.kept += 1
                kept.append(d)
                continue
            if not b.noticed:  # the first one over: kept inside the notice
                b.noticed = True
                b.topic = d.topic
                kept.append(self._notice(d, now, b, closed=False))
                continue
            b.dropped += 1
            dropped += 1
        return kept, dropped

    def _notice(self, d: DeadLetter, now: datetime, b: _Bucket, *, closed: bool) -> DeadLetter:
        who = f"device {d.device_id!r}" if d.device_id else "messages without a device id"
        window = f"{self.limit} dead letters per {self.window_s:g} s"
        if closed:
            reason = (
                f"{who} exceeded its quota of {window}: {b.dropped} more rejected messages in"
                " that window were counted but not kept; fix the sender (see the kept ones)"
            )
        else:
            reason = (
                f"{who} reached its quota of {window}: further rejected messages in this window"
                " are counted (citysense_ingest_dead_letters_dropped) but not kept; this one"
                " was: " + d.reason
            )
        return DeadLetter(now, b.topic or d.topic, d.device_id, QUOTA_CODE, reason, d.payload)
