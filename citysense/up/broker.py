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

    def start(self, timeout: float = 10) -> None:
        self.write_config()
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            wait_listening("127.0.0.1", self.port, timeout, "Mosquitto")
        except TimeoutError:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise ServiceError(f"Mosquitto failed to start on port {self.port}: {err!r}") from None


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
    except ServiceError as exc:
        broker.stop()
        raise UsageError(
            f"Mosquitto did not start ({exc}); see {broker.workdir / 'mosquitto.log'}"
        ) from None
    return broker
