"""The live summary on the terminal: devices, messages sent, rate, simulated time, phase.

On a TTY one line is redrawn in place (a new line starts when the phase changes); when
stdout is a pipe or a file, plain lines are written every few seconds instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from simulators.publisher import Stats
from simulators.solar import WIB


class Progress:
    def __init__(
        self,
        out: TextIO,
        devices: int,
        phase: Callable[[datetime], str],
        *,
        tty: bool | None = None,
        every_s: float | None = None,
    ) -> None:
        self.out = out
        self.devices = devices
        self.phase = phase
        self.tty = out.isatty() if tty is None else tty
        self.every_s = every_s if every_s is not None else (0.25 if self.tty else 5.0)
        self.started = time.monotonic()
        self._last = 0.0
        self._last_phase: str | None = None
        self._width = 0

    def line(self, sim_t: datetime, stats: Stats, phase: str | None = None) -> str:
        elapsed = max(1e-6, time.monotonic() - self.started)
        extra = []
        if stats.backlogs:
            extra.append(f"{stats.backlogs} backlogs")
        if stats.malformed:
            extra.append(f"{stats.malformed} malformed")
        detail = f" ({', '.join(extra)})" if extra else ""
        return (
            f"sim {sim_t.astimezone(WIB):%Y-%m-%d %H:%M} WIB | {self.devices} devices"
            f" | {stats.messages} messages{detail} | {stats.messages / elapsed:.0f} msg/s"
            f" | phase: {phase if phase is not None else self.phase(sim_t)}"
        )

    def tick(self, sim_t: datetime, stats: Stats) -> None:
        now = time.monotonic()
        phase = self.phase(sim_t)
        changed = phase != self._last_phase
        if not changed and now - self._last < self.every_s:
            return
        self._last = now
        text = self.line(sim_t, stats, phase)
        if self.tty:
            if changed and self._last_phase is not None:
                self.out.write("\n")
            self.out.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.out.write(text + "\n")
        self._last_phase = phase
        self.out.flush()

    def finish(self) -> None:
        if self.tty and self._width:
            self.out.write("\n")
            self.out.flush()
