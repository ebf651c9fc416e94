"""The live summary on the terminal: devices, messages sent, rate, simulated time, phase.

On a TTY, rich draws one live line (spinner, summary, elapsed time) and keeps a finished
line above it whenever the phase changes; when stdout is a pipe or a file, plain lines
are written every few seconds instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress as LiveLine
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

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
        self._text = ""
        self._live: LiveLine | None = None
        if self.tty:
            self._live = LiveLine(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(file=out, force_terminal=True),
                refresh_per_second=4,
            )
            self._task = self._live.add_task("starting", total=None)
            self._live.start()

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
        if self._live is not None:
            if changed and self._last_phase is not None:
                self._live.console.print(self._text, markup=False, highlight=False)
            self._live.update(self._task, description=escape(text))
        else:
            self.out.write(text + "\n")
            self.out.flush()
        self._text = text
        self._last_phase = phase

    def finish(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
