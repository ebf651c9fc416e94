"""Run the real ``citysense`` entry points as child processes and watch their logs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "citysense.cli", *args],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 20, after: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            m = rx.search(self.output(), after)
            if m:
                return m
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.args} exited {self.popen.returncode}:\n{self.output()}"
                )
            time.sleep(0.05)
        raise AssertionError(f"{self.args}: no {pattern!r} within {timeout}s:\n{self.output()}")

    def wait(self, timeout: float = 60) -> int:
        """Wait for the process to exit by itself."""
        code = self.popen.wait(timeout)
        self._log.close()
        return code

    def stop(self, timeout: float = 30) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self._log.close()


def settings_env(database_url: str, mqtt_port: int, **extra: str) -> dict[str, str]:
    env = {
        "CITYSENSE_DATABASE_URL": database_url,
        "CITYSENSE_MQTT_HOST": "127.0.0.1",
        "CITYSENSE_MQTT_PORT": str(mqtt_port),
    }
    env.update({f"CITYSENSE_{k.upper()}": v for k, v in extra.items()})
    return env
