"""Every command finds what ``citysense up`` started, and says in one line when it cannot.

Against nothing (no database, no broker, no ``up``), each command that needs a database
or broker fails before any work in one line naming what it tried and the fix; a broker
that refuses ingest's login stops ingest for good instead of a silent retry loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from citysense.cli import main
from citysense.instance import (
    INSTANCE_FILE,
    LOCK_FILE,
    Instance,
    Keys,
    find_instance,
    write_instance,
    write_keys,
)
from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from citysense.local.postgres import scratch_dir
from core.kinds import KindRegistry
from core.settings import Settings
from devices.credentials import mosquitto_hash
from ingest.service import BrokerRefusedError, IngestService

ROOT = Path(__file__).resolve().parents[1]

# Every command that talks to a database or broker, with the arguments it needs to start.
COMMANDS = [
    ["db", "migrate"],
    ["ingest"],
    ["ingest", "--workers", "2"],
    ["api"],
    ["alerts"],
    ["keys", "create", "--name", "x", "--role", "viewer"],
    ["devices", "list"],
    ["devices", "register", "PJU-X", "--kind", "streetlight", "--district", "Muara Enim"],
    ["devices", "import", "nothing.csv"],
    ["devices", "export"],
    ["devices", "label", "PJU-X"],
    ["devices", "decommission", "PJU-X"],
    ["devices", "rotate-credentials", "PJU-X"],
    ["devices", "broker-sync"],
    ["dashboards", "grant"],
    ["simulate", "--rounds", "1"],
    ["simulate", "--rounds", "1", "--no-register"],
    ["load", "--devices", "1", "--rate", "1", "--duration", "1"],
    ["commands", "send", "--device", "PJU-X", "reboot"],
    ["commands", "list"],
    ["commands", "show", "1"],
    ["commands", "run"],
    ["commands", "schedule", "list"],
    ["lorawan", "run", "--server", "chirpstack"],
    ["up", "--no-demo"],
]


@pytest.fixture
def nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No settings, no ``up`` on this data directory, and nothing listening where defaults point."""
    for name in list(os.environ):
        if name.startswith("CITYSENSE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CITYSENSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no .env
    return tmp_path


def _closed_port() -> int:
    return free_port()


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_each_command_against_nothing_says_in_one_line_what_it_tried_and_how_to_fix_it(
    argv: list[str],
    nothing: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    db_port, mqtt_port = _closed_port(), _closed_port()
    if argv[0] == "up":
        monkeypatch.setenv("CITYSENSE_API_PORT", str(free_port()))
        # As root the data directory must be enterable by the 'postgres' user.
        scratch = scratch_dir("citysense-reach-")
        request.addfinalizer(lambda: shutil.rmtree(scratch, ignore_errors=True))
        monkeypatch.setenv("CITYSENSE_DATA_DIR", str(scratch))
    monkeypatch.setenv(
        "CITYSENSE_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{db_port}/citysense"
    )
    monkeypatch.setenv("CITYSENSE_MQTT_PORT", str(mqtt_port))
    code = main(argv)  # an unexpected exception here is the traceback a user would see
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    line = lines[0]
    assert f"127.0.0.1:{db_port}" in line or f"127.0.0.1:{mqtt_port}" in line, line
    assert "CITYSENSE_DATABASE_URL" in line or "CITYSENSE_MQTT_HOST" in line, line


def test_without_settings_the_default_database_failure_points_at_citysense_up(
    nothing: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYSENSE_")}
    env["CITYSENSE_DATA_DIR"] = str(nothing / "data")
    # The default 127.0.0.1:5432 answers on this machine, but the database is not there.
    env["PGDATABASE"] = "x"
    done = subprocess.run(
        [sys.executable, "-m", "citysense.cli", "devices", "list"],
        env={**env, "CITYSENSE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"},
        cwd=nothing,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "citysense up" in done.stderr

    bare = subprocess.run(
        [sys.executable, "-m", "citysense.cli", "simulate", "--rounds", "1"],
        env=env,
        cwd=nothing,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bare.returncode == 2, bare.stderr
    assert "Traceback" not in bare.stderr
    assert bare.stderr.count("\n") == 1, bare.stderr
    assert f"no 'citysense up' is running on {nothing / 'data'}" in bare.stderr


@pytest.fixture
def running_up(nothing: Path, settings: Settings) -> Iterator[tuple[Path, Instance]]:
    """What a running ``citysense up`` leaves: the instance file, and its lock held."""
    data = nothing / "data"
    data.mkdir()
    inst = Instance(
        pid=os.getpid(),
        data_dir=str(data),
        database_url=settings.database_url,
        mqtt_host=settings.mqtt_host,
        mqtt_port=settings.mqtt_port,
        api_url=f"http://127.0.0.1:{free_port()}",
    )
    write_instance(data, inst)
    write_keys(data, Keys("cs_operator-key", "cs_technician-key"))
    with (data / LOCK_FILE).open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield data, inst


def test_commands_without_settings_use_the_running_up_and_say_so(
    running_up: tuple[Path, Instance], capsys: pytest.CaptureFixture[str]
) -> None:
    data, inst = running_up
    assert (data / INSTANCE_FILE).stat().st_mode & 0o777 == 0o600
    assert main(["devices", "list", "--limit", "1"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("id\tkind\tstatus")
    assert f"using the 'citysense up' on {data} (pid {inst.pid})" in out.err

    assert main(["status"]) == 1  # the API is not there in this test
    status = capsys.readouterr().out
    assert f"127.0.0.1:{inst.mqtt_port}: answers" in status
    db_line = next(ln for ln in status.splitlines() if ln.startswith("database"))
    assert db_line.endswith(": answers"), status
    assert "NOT ANSWERING" in status.split("api", 1)[1]

    assert main(["env"]) == 0
    env = capsys.readouterr().out
    assert f"export CITYSENSE_MQTT_PORT={inst.mqtt_port}" in env
    assert "export PGHOST=127.0.0.1" in env
    assert "export CITYSENSE_OPERATOR_KEY=cs_operator-key" in env


def test_an_explicit_setting_wins_over_the_running_up(
    running_up: tuple[Path, Instance],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    monkeypatch.setenv("CITYSENSE_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/x")
    assert main(["devices", "list"]) == 2
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


def test_an_up_that_was_killed_is_not_mistaken_for_a_running_one(nothing: Path) -> None:
    data = nothing / "data"
    data.mkdir()
    write_instance(
        data, Instance(123456, str(data), "postgresql://x@127.0.0.1:1/x", "127.0.0.1", 1, "")
    )
    (data / LOCK_FILE).touch()  # nobody holds it: the up that wrote the file is gone
    found = find_instance(data)
    assert found.instance is None
    assert "(pid 123456) is not running" in found.note


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    auth = Path(tempfile.mkdtemp(prefix="citysense-auth-"))
    (auth / "passwd").write_text(f"someone:{mosquitto_hash('right-password')}\n")
    if os.geteuid() == 0:
        shutil.chown(auth, user="mosquitto")
        shutil.chown(auth / "passwd", user="mosquitto")
    broker = LocalMosquitto(tmp_path / "mqtt", free_port(), extra=f"password_file {auth}/passwd")
    broker.workdir.mkdir()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(auth, ignore_errors=True)


@pytest.mark.anyio
async def test_ingest_stops_for_good_when_the_broker_refuses_its_password(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, password_broker: LocalMosquitto
) -> None:
    wrong = settings.model_copy(
        update={
            "mqtt_port": password_broker.port,
            "mqtt_username": "someone",
            "mqtt_password": SecretStr("wrong-password"),
        }
    )
    service = IngestService(wrong, pool, kinds)
    with pytest.raises(BrokerRefusedError) as refused:
        # Before, paho retried every 1-30 s forever and nothing said why.
        await asyncio.wait_for(service.run(asyncio.Event()), 20)
    assert "CITYSENSE_MQTT_USERNAME / CITYSENSE_MQTT_PASSWORD" in str(refused.value)
    assert "someone" in str(refused.value)


def test_the_ingest_command_refused_by_the_broker_says_so_in_one_line(
    nothing: Path, password_broker: LocalMosquitto, database_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYSENSE_")}
    env |= {
        "CITYSENSE_DATA_DIR": str(nothing / "data"),
        "CITYSENSE_DATABASE_URL": database_url,
        "CITYSENSE_MQTT_PORT": str(password_broker.port),
        "CITYSENSE_MQTT_USERNAME": "someone",
        "CITYSENSE_MQTT_PASSWORD": "wrong-password",
    }
    done = subprocess.run(
        [sys.executable, "-m", "citysense.cli", "ingest"],
        env=env,
        cwd=nothing,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "refused the login 'someone'" in done.stderr
    assert "CITYSENSE_MQTT_PASSWORD" in done.stderr


def test_status_and_env_against_nothing_say_what_does_not_answer(
    nothing: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    monkeypatch.setenv("CITYSENSE_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/x")
    monkeypatch.setenv("CITYSENSE_MQTT_PORT", str(free_port()))
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    assert f"no 'citysense up' is running on {nothing / 'data'}" in out
    assert out.count("NOT ANSWERING") == 2, out
    assert main(["env"]) == 0
    assert f"export PGPORT={port}" in capsys.readouterr().out
