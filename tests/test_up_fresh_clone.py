"""Done-when for issue 8: ``citysense up`` from a clean clone in a fresh virtualenv.

Clone HEAD, make a venv, ``pip install`` the clone (pip's cache, PyPI only), run
``citysense up`` with HOME/XDG_DATA_HOME in a scratch directory, wait for the URL, the
health check and simulated readings through the API, then Ctrl-C (SIGINT) and check that
nothing it started is left running. A second run finds the first run's readings.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from citysense.local.ports import is_listening
from citysense.local.postgres import scratch_dir
from tests.support.up import UpProcess, clean_env, leftovers, readings_url, wait_readings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fresh_install() -> object:
    base = scratch_dir("citysense-up-")
    clone, venv = base / "clone", base / "venv"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(clone)],
        check=True,
        capture_output=True,
    )
    yield base, venv / "bin" / "citysense"
    shutil.rmtree(base, ignore_errors=True)


def _ports(output: str) -> list[int]:
    """The embedded broker's port, from the summary (PostgreSQL's is checked by path)."""
    import re

    return [int(p) for p in re.findall(r"Mosquitto on 127\.0\.0\.1:(\d+)", output)]


def test_up_from_a_clean_clone_runs_stops_cleanly_and_keeps_data(
    fresh_install: tuple[Path, Path],
) -> None:
    base, citysense = fresh_install
    home = base / "home"
    home.mkdir(mode=0o755)
    env = clean_env(home)

    first = UpProcess([str(citysense), "up"], env, home, base / "up1.log")
    try:
        url = first.wait_url()
        health = httpx.get(f"{url}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        before = wait_readings(readings_url(first.output()), at_least=2)
        running = leftovers(first.popen.pid, str(base))
        assert any("postgres" in p for p in running), running  # the detector sees them
        assert any("mosquitto" in p for p in running), running

        # A second `up` on the same data directory refuses in one line.
        again = subprocess.run(
            [str(citysense), "up"], env=env, cwd=home, capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 2
        assert again.stderr.count("\n") == 1, again.stderr
        assert "another 'citysense up'" in again.stderr
    finally:
        code = first.interrupt()
    assert code == 0, first.output()
    assert "Traceback" not in first.output()
    time.sleep(0.5)
    assert leftovers(first.popen.pid, str(base)) == [], first.output()
    for port in _ports(first.output()):
        assert not is_listening("127.0.0.1", port)

    second = UpProcess([str(citysense), "up"], env, home, base / "up2.log")
    try:
        url = second.wait_url()
        after = wait_readings(readings_url(second.output()), at_least=len(before) + 1)
        times = {r["time"] for r in after}
        assert {r["time"] for r in before} <= times, "the first run's readings are gone"
    finally:
        code = second.interrupt(group=True)  # Ctrl-C in a terminal signals the whole group
    assert code == 0, second.output()
    time.sleep(0.5)
    assert leftovers(second.popen.pid, str(base)) == [], second.output()
