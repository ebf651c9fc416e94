"""How to reach what ``citysense up`` started: a small file in its data directory.

``up`` writes ``instance.json`` (mode 0600: it carries the database URL) once everything
answers, and removes it when it stops. Every other command reads it when its own settings
do not say where the database and broker are: a setting given in the environment, in
``.env`` or on the command line always wins, one setting at a time. A file left by an
``up`` that was killed outright is recognised by its lock (``up.lock`` is held for as long
as that ``up`` runs) and ignored, with a note saying so.

The operator and technician keys ``up`` issues for the local instance live beside it in
``keys.json`` (0600) and outlive a restart, as the database does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.settings import Settings

INSTANCE_FILE = "instance.json"
KEYS_FILE = "keys.json"
LOCK_FILE = "up.lock"

DATA_DIR_ENV = "CITYSENSE_DATA_DIR"


def default_data_dir(env: dict[str, str] | None = None) -> Path:
    """Where ``citysense up`` keeps its data, and where other commands look for it.

    ``$CITYSENSE_DATA_DIR``; else ``$XDG_DATA_HOME/citysense``; else, for a normal user,
    ``~/.local/share/citysense``; for root, ``/var/lib/citysense`` (PostgreSQL and Mosquitto
    drop to their own users, who cannot enter ``/root``).
    """
    env = dict(os.environ) if env is None else env
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV])
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]) / "citysense"
    if os.geteuid() == 0:
        return Path("/var/lib/citysense")
    return Path(env.get("HOME") or Path.home()) / ".local" / "share" / "citysense"


@dataclass(frozen=True, slots=True)
class Instance:
    """What one running ``citysense up`` offers."""

    pid: int
    data_dir: str
    database_url: str
    mqtt_host: str
    mqtt_port: int
    api_url: str
    """The API's base URL (no path)."""
    embedded_database: bool = True
    embedded_broker: bool = True


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600 from the first byte)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    tmp.replace(path)


def write_instance(data_dir: Path, instance: Instance) -> Path:
    path = data_dir / INSTANCE_FILE
    _write_private(path, json.dumps(asdict(instance), indent=2) + "\n")
    return path


def remove_instance(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (data_dir / INSTANCE_FILE).unlink()


def up_is_running(data_dir: Path) -> bool:
    """True while an ``up`` holds the data directory's lock."""
    try:
        handle = (data_dir / LOCK_FILE).open("r")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@dataclass(frozen=True, slots=True)
class Found:
    """The result of looking for a running ``up``: the instance, or why there is none."""

    data_dir: Path
    instance: Instance | None
    note: str


def find_instance(data_dir: Path | None = None) -> Found:
    data_dir = data_dir or default_data_dir()
    path = data_dir / INSTANCE_FILE
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        instance = Instance(**raw)
    except FileNotFoundError:
        return Found(data_dir, None, f"no 'citysense up' is running on {data_dir}")
    except (OSError, ValueError, TypeError) as exc:
        return Found(data_dir, None, f"{path} is unreadable ({exc}); ignoring it")
    if not up_is_running(data_dir):
        return Found(
            data_dir,
            None,
            f"the 'citysense up' recorded in {path} (pid {instance.pid}) is not running",
        )
    return Found(data_dir, instance, f"the 'citysense up' on {data_dir} (pid {instance.pid})")


# Settings an instance can supply; anything given explicitly wins, one setting at a time.
SUPPLIED = ("database_url", "mqtt_host", "mqtt_port")


def apply_instance(settings: Settings, found: Found) -> tuple[Settings, list[str]]:
    """Settings with the instance's addresses where none was given; the names it filled."""
    if found.instance is None:
        return settings, []
    given = settings.model_fields_set
    fill = {k: getattr(found.instance, k) for k in SUPPLIED if k not in given}
    if "mqtt_host" in given or "mqtt_port" in given:
        # An explicit broker is a different broker: take neither half from the instance.
        fill.pop("mqtt_host", None)
        fill.pop("mqtt_port", None)
    return settings.model_copy(update=fill), sorted(fill)


@dataclass(frozen=True, slots=True)
class Keys:
    operator: str
    technician: str


def read_keys(data_dir: Path) -> Keys | None:
    try:
        raw = json.loads((data_dir / KEYS_FILE).read_text(encoding="utf-8"))
        return Keys(operator=str(raw["operator"]), technician=str(raw["technician"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_keys(data_dir: Path, keys: Keys) -> Path:
    path = data_dir / KEYS_FILE
    _write_private(path, json.dumps(asdict(keys), indent=2) + "\n")
    return path
