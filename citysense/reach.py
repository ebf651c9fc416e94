"""Can a command reach the database and the broker it was pointed at? One line if not.

Each check connects for real (a database login; an MQTT CONNECT with the configured
account) and turns every expected failure (nothing listening, a missing database, a
refused login) into a :class:`UsageError` that names what was tried and how to fix it.
:func:`explain` does the same for such a failure met later, in the middle of a command.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

from citysense.commands import UsageError
from core.settings import Settings

DATABASE_FIX = (
    "start one with 'citysense up' (every command then finds it), or set CITYSENSE_DATABASE_URL"
)
BROKER_FIX = (
    "start one with 'citysense up' (every command then finds it), or set CITYSENSE_MQTT_HOST"
    " / CITYSENSE_MQTT_PORT"
)
LOGIN_FIX = "set CITYSENSE_MQTT_USERNAME / CITYSENSE_MQTT_PASSWORD to an account the broker accepts"

# MQTT 5 CONNACK reason codes that retrying cannot cure (paho maps MQTT 3.1.1's 2, 4 and 5
# to 0x85, 0x86 and 0x87): the login or the client id is wrong until someone changes it.
PERMANENT_CONNACK = frozenset({0x85, 0x86, 0x87, 0x8A, 0x8C})


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(an unparseable URL)"
    if password is None:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1].strip() if text else type(exc).__name__


def database_error(url: str, exc: BaseException, context: str = "") -> UsageError:
    where = f" ({context})" if context else ""
    return UsageError(
        f"cannot use the database at {redact(url)}{where}: {_last_line(exc)}; {DATABASE_FIX}"
    )


def broker_error(host: str, port: int, reason: str, context: str = "") -> UsageError:
    where = f" ({context})" if context else ""
    return UsageError(
        f"cannot reach the MQTT broker at {host}:{port}{where}: {reason}; {BROKER_FIX}"
    )


def check_database(url: str, *, context: str = "", timeout: int = 5) -> None:
    """Log in to the database once; a one-line :class:`UsageError` when that fails."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=timeout):
            return
    except (psycopg.Error, ValueError, OSError) as exc:
        raise database_error(url, exc, context) from None


def check_broker_listens(settings: Settings, *, context: str = "", timeout: float = 5) -> None:
    """Something accepts TCP connections at the broker's address (for per-device logins)."""
    host, port = settings.mqtt_host, settings.mqtt_port
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise broker_error(host, port, exc.strerror or _last_line(exc), context) from None


def check_broker(settings: Settings, *, context: str = "", timeout: float = 5) -> None:
    """Connect and log in to the broker once, as the command would."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = settings.mqtt_host, settings.mqtt_port
    answered = threading.Event()
    outcome: list[object] = []

    def on_connect(
        client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        outcome.append(reason)
        answered.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if settings.mqtt_username:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        client.username_pw_set(settings.mqtt_username, password)
    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _last_line(exc)
        raise broker_error(host, port, reason, context) from None
    client.loop_start()
    try:
        if not answered.wait(timeout):
            raise broker_error(host, port, f"no MQTT answer within {timeout:g}s", context)
        answer = outcome[0]
        if getattr(answer, "is_failure", False):
            code = getattr(answer, "value", 0)
            if code in PERMANENT_CONNACK:
                raise UsageError(
                    f"the MQTT broker at {host}:{port} refused the login"
                    f" {settings.mqtt_username or '(anonymous)'!r}: {answer}; {LOGIN_FIX}"
                )
            raise broker_error(host, port, f"refused: {answer}", context)
    finally:
        client.disconnect()
        client.loop_stop()


def preflight(settings: Settings, wanted: tuple[str, ...], no_instance: str = "") -> None:
    """Fail in one line, before any work, when the database or broker is out of reach.

    ``wanted`` holds ``"db"``, ``"mqtt"`` (connect and log in with the settings' account)
    or ``"mqtt-listens"`` (the command logs in with other accounts: is anything there?).
    ``no_instance`` says why no ``citysense up`` supplied the addresses, if none did.
    """
    given = settings.model_fields_set
    if "db" in wanted:
        check_database(
            settings.database_url, context="" if "database_url" in given else no_instance
        )
    broker_context = "" if {"mqtt_host", "mqtt_port"} & given else no_instance
    if "mqtt" in wanted:
        check_broker(settings, context=broker_context)
    elif "mqtt-listens" in wanted:
        check_broker_listens(settings, context=broker_context)


def explain(exc: BaseException, settings: Settings) -> UsageError | None:
    """A one-line error for an expected failure met mid-command, or None (a real bug)."""
    import asyncpg
    import psycopg

    if isinstance(exc, asyncpg.PostgresError | psycopg.OperationalError):
        return database_error(settings.database_url, exc)
    if isinstance(exc, asyncpg.InterfaceError):
        return database_error(settings.database_url, exc)
    if isinstance(exc, OSError | TimeoutError):
        text = str(exc)
        if f"{settings.mqtt_port}" in text and f"{_db_port(settings.database_url)}" not in text:
            return broker_error(settings.mqtt_host, settings.mqtt_port, _last_line(exc))
        if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
            return UsageError(
                f"lost a connection ({_last_line(exc)}); the database is at"
                f" {redact(settings.database_url)} and the broker at"
                f" {settings.mqtt_host}:{settings.mqtt_port}: check both with 'citysense status'"
            )
    return None


def _db_port(url: str) -> int:
    try:
        return urlsplit(url).port or 5432
    except ValueError:
        return 5432
