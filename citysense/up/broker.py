"""The MQTT broker for ``citysense up``: the configured one, or a private Mosquitto.

There is no pure-Python fallback: ingest speaks MQTT 5 (session expiry, receive-maximum,
ack after commit), and the Python broker on PyPI (amqtt 0.12) accepts MQTT 3.1.1 only.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from citysense.commands import UsageError
from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port, is_listening, wait_listening
from citysense.local.postgres import ServiceError


class SessionMosquitto(LocalMosquitto):
    """Mosquitto in a session of its own, like PostgreSQL under pg_ctl.

    Ctrl-C in a terminal signals the whole foreground process group; kept out of it, the
    broker stays up until ingest has flushed and acknowledged its last batch, and
    ``citysense up`` stops it afterwards.
    """

    @property
    def pid_path(self) -> Path:
        return self.workdir / PID_FILE

    def start(self, timeout: float = 10) -> None:
        check_not_running(self.workdir)
        self.write_config()
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.pid_path.write_text(f"{self.proc.pid}\n")
        try:
            wait_listening("127.0.0.1", self.port, timeout, "Mosquitto")
        except TimeoutError:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise ServiceError(f"Mosquitto failed to start on port {self.port}: {err!r}") from None

    def stop(self) -> None:
        super().stop()
        self.pid_path.unlink(missing_ok=True)


PID_FILE = "citysense-mosquitto.pid"
"""Written by ``citysense up`` beside the broker's config, removed when it stops it."""


def check_not_running(workdir: Path) -> None:
    """A Mosquitto left by an earlier run that was killed outright still uses ``workdir``.

    A second one on the same persistence directory would overwrite the first's sessions
    and queued messages when either stops, so refuse, naming the command that stops it.
    """
    pidfile = workdir / PID_FILE
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return  # no file, or the process is gone: a stale file
    if "mosquitto" not in cmdline or str(workdir) not in cmdline:
        return  # the pid now belongs to something else
    raise UsageError(
        f"Mosquitto (pid {pid}) is still running on {workdir}, left by an earlier run;"
        f" stop it with: kill {pid}"
    )


def check_external(host: str, port: int) -> None:
    if not is_listening(host, port, timeout=3):
        raise UsageError(
            f"no MQTT broker answers at {host}:{port}; start it, fix CITYSENSE_MQTT_HOST /"
            " CITYSENSE_MQTT_PORT, or unset both to use a private Mosquitto"
        )


def start_embedded(data_dir: Path) -> SessionMosquitto:
    """A Mosquitto with Citysense's configuration; its persistence lives under ``data_dir``.

    ``CITYSENSE_MOSQUITTO_BIN`` picks a binary other than the one on PATH.
    """
    chosen = os.environ.get("CITYSENSE_MOSQUITTO_BIN")
    if chosen and not os.access(chosen, os.X_OK):
        raise UsageError(
            f"CITYSENSE_MOSQUITTO_BIN={chosen} is not an executable mosquitto; install Mosquitto"
            " (Debian/Ubuntu: apt-get install mosquitto) and point it there, or unset it"
        )
    try:
        broker = SessionMosquitto(data_dir / "mosquitto", free_port())
        if chosen:
            broker.binary = chosen
    except ServiceError as exc:
        raise UsageError(
            "the 'mosquitto' broker is not installed; install it (Debian/Ubuntu: apt-get install"
            " mosquitto; macOS: brew install mosquitto), or set CITYSENSE_MQTT_HOST to a running"
            " broker"
        ) from exc
    try:
        broker.start()
    except UsageError:
        raise
    except ServiceError as exc:
        broker.stop()
        raise UsageError(
            f"Mosquitto did not start ({exc}); see {broker.workdir / 'mosquitto.log'}"
        ) from None
    return broker
