"""Run ``citysense up`` as a real child process and account for every process it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil

URL = re.compile(r"Citysense is up: (http://[^\s/]+)(/\S*)")
READINGS = re.compile(r"readings +(http://\S+/readings)")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any CITYSENSE_* setting, with HOME/XDG under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYSENSE_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), **extra)
    return env


class UpProcess:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        # A session of its own: what it leaves behind is findable by session id.
        self.popen = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_url(self, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = URL.search(self.output())
            if m:
                return m.group(1)
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"citysense up exited {self.popen.returncode}:\n{self.output()}"
                )
            time.sleep(0.1)
        raise AssertionError(f"no URL within {timeout}s:\n{self.output()}")

    def interrupt(self, timeout: float = 60, sig: int = signal.SIGINT, group: bool = False) -> int:
        """Signal the process, or (``group``) its whole process group, as Ctrl-C in a terminal."""
        if group:
            os.killpg(self.popen.pid, sig)
        else:
            self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout)
        finally:
            self._out.close()


def leftovers(session_id: int, marker: str) -> list[str]:
    """Live processes in the session, or naming ``marker`` (the run's private directory)."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            if os.getsid(p.pid) == session_id or marker in cmd:
                found.append(f"{p.pid}: {cmd}")
        except (psutil.Error, ProcessLookupError):
            continue
    return found


def readings_url(output: str) -> str:
    """The example device's readings URL that ``citysense up`` prints."""
    m = READINGS.search(output)
    assert m, output
    return m.group(1)


def wait_readings(url: str, at_least: int, timeout: float = 30) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    readings: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        r = httpx.get(url, timeout=5)
        if r.status_code == 200:
            readings = r.json()["readings"]
            if len(readings) >= at_least:
                return readings
        time.sleep(0.5)
    raise AssertionError(f"{url}: fewer than {at_least} readings within {timeout}s: {readings}")
