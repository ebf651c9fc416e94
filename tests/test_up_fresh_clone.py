"""Done-when for issues 8 and 16: ``citysense up`` from a clean clone in a fresh virtualenv.

Clone HEAD, make a venv, ``pip install`` the clone with the locked versions
(``-c constraints.txt``; pip's cache, PyPI only), run ``citysense up`` with HOME and
XDG_DATA_HOME in a scratch directory, wait for the URL, the health check and simulated
readings through the API, then Ctrl-C (SIGINT) and check that nothing it started is left
running. A second run finds the first run's readings.

The README's Quick start is :func:`test_readme_quick_start`, step for step: from a second
process and with no settings at all, ``citysense status``, ``devices list``, ``simulate
--scenario node-down --speed 3600``, ``env``; then the scenario's single ``node_down``
alert (with the lights behind it, from their registered uplink), the demo drill's
threshold-aware flood alert acknowledged with the operator key, and a device registered
with the technician key.
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
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            "-c",
            str(clone / "constraints.txt"),
            str(clone),
        ],
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


def _run(
    citysense: Path, env: dict[str, str], cwd: Path, *argv: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(citysense), *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_readme_quick_start(fresh_install: tuple[Path, Path]) -> None:
    base, citysense = fresh_install
    home = base / "home-quick"
    home.mkdir(mode=0o755)
    env = clean_env(home)
    up = UpProcess([str(citysense), "up"], env, home, base / "quick.log")
    try:
        url = up.wait_url()
        assert url.startswith("http://127.0.0.1:")
        banner = up.output()
        assert f"Citysense is up: {url}/ops" in banner
        assert "operator   cs_" in banner  # shown once
        assert "technician cs_" in banner

        # A second terminal: no settings, the commands find what `up` started.
        status = _run(citysense, env, home, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count(": answers") == 3, status.stdout
        listed = _run(citysense, env, home, "devices", "list")
        assert listed.returncode == 0, listed.stderr
        assert "DEMO-AWLR-0001" in listed.stdout
        assert "using the 'citysense up'" in listed.stderr
        sim = _run(citysense, env, home, "simulate", "--scenario", "node-down", "--speed", "3600")
        assert sim.returncode == 0, sim.stdout + sim.stderr
        assert "ids NODEDOWN-*" in sim.stdout
        exports = _run(citysense, env, home, "env")
        assert exports.returncode == 0, exports.stderr
        shell = dict(
            line.removeprefix("export ").split("=", 1)
            for line in exports.stdout.splitlines()
            if line.startswith("export ")
        )
        api = shell["CITYSENSE_API_URL"]
        operator = {"Authorization": f"Bearer {shell['CITYSENSE_OPERATOR_KEY']}"}
        technician = {"Authorization": f"Bearer {shell['CITYSENSE_TECHNICIAN_KEY']}"}
        assert api == url

        with httpx.Client(base_url=api, timeout=10) as http:
            alerts = http.get("/alerts", params={"limit": 500}, headers=operator).json()
            ours = [a for a in alerts if (a["device_id"] or "").startswith("NODEDOWN-")]
            node_down = [a for a in ours if a["rule"] == "node_down"]
            assert len(node_down) == 1, ours
            behind = node_down[0]["details"]["behind"]
            assert len(behind) == 4, node_down  # the lights whose uplink is that node
            assert "4 perangkat di belakangnya" in node_down[0]["message"]
            assert "4 device(s) behind it" in node_down[0]["message_en"]
            assert not [a for a in ours if a["rule"] == "device_offline"], ours

            # The demo drill: a flood alert judged by the station's registered thresholds.
            flood = [
                a
                for a in alerts
                if a["rule"] == "flood_level" and a["device_id"] == "DEMO-AWLR-0001"
            ]
            assert flood, alerts
            assert "batas 150 cm" in flood[0]["message"], flood  # 190 cm everyday - 40
            assert "threshold 150 cm" in flood[0]["message_en"], flood
            acked = http.post(f"/alerts/{flood[0]['id']}/acknowledge", headers=operator)
            assert acked.status_code == 200, acked.text
            assert acked.json()["acknowledged_by"] == "citysense up: operator"

            new = {"id": "PJU-QS-0001", "kind": "streetlight", "district": "Muara Enim"}
            made = http.post("/devices", json=new, headers=technician)
            assert made.status_code == 201, made.text
    finally:
        code = up.interrupt(group=True)
    assert code == 0, up.output()
    time.sleep(0.5)
    assert leftovers(up.popen.pid, str(base)) == [], up.output()
