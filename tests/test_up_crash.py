"""After ``kill -9`` of ``citysense up``, the next ``up`` names what was left and how to stop
it, and the command it prints works as printed (as root: through runuser)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from citysense.local.postgres import scratch_dir
from tests.support.up import UpProcess, clean_env, leftovers

CITYSENSE = [sys.executable, "-m", "citysense.cli"]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = scratch_dir("citysense-crash-")
    yield path
    for line in leftovers(-1, str(path)):  # whatever a failed run left, by its own pid
        os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)


def _up_again(env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [*CITYSENSE, "up", "--no-demo"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def _run_hint(message: str, env: dict[str, str]) -> None:
    hint = message.split("stop it with: ", 1)[1].strip()
    done = subprocess.run(["sh", "-c", hint], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{hint!r} failed: {done.stdout}{done.stderr}"


def test_after_kill_9_the_printed_stop_commands_work_and_up_starts_again(
    data_dir: Path, tmp_path: Path
) -> None:
    env = clean_env(tmp_path, CITYSENSE_DATA_DIR=str(data_dir))
    first = UpProcess([*CITYSENSE, "up", "--no-demo"], env, tmp_path, tmp_path / "up1.log")
    first.wait_url()
    first.interrupt(sig=signal.SIGKILL)  # PostgreSQL and Mosquitto run on, in their sessions

    pg = _up_again(env, tmp_path)
    assert re.search(r"PostgreSQL \(pid \d+\) is still running", pg), pg
    if os.geteuid() == 0:
        assert "runuser -u postgres -- " in pg  # pg_ctl refuses to run as root
    _run_hint(pg, env)

    broker = _up_again(env, tmp_path)
    assert re.search(r"Mosquitto \(pid \d+\) is still running", broker), broker
    _run_hint(broker, env)
    time.sleep(0.5)
    assert leftovers(-1, str(data_dir)) == []

    again = UpProcess([*CITYSENSE, "up", "--no-demo"], env, tmp_path, tmp_path / "up2.log")
    try:
        again.wait_url()
    finally:
        assert again.interrupt(group=True) == 0, again.output()
    time.sleep(0.5)
    assert leftovers(again.popen.pid, str(data_dir)) == []


def test_data_dir_rules_are_in_up_help() -> None:
    done = subprocess.run([*CITYSENSE, "up", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for rule in ("$CITYSENSE_DATA_DIR", "$XDG_DATA_HOME/citysense", "/var/lib/citysense as root"):
        assert rule in done.stdout, done.stdout
