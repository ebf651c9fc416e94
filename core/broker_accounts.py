"""The platform's own MQTT logins and the names derived from them, in one place.

The broker makes every login its client id (``use_username_as_clientid``), so each
ingest worker logs in under its own name; the ACL generator (devices.broker_auth) writes
an account for every name here, and ingest picks its name from the same functions.
"""

from __future__ import annotations

import hashlib

from core.settings import Settings

DEFAULT_INGEST_USER = "citysense-ingest"
COMMANDS_USER = "citysense-commands"
MAX_INGEST_WORKERS = 16
"""Worker accounts ``<ingest user>-0`` .. ``-15`` exist for ``citysense ingest --workers N``."""
PROBE_SUFFIX = "-probe"
RESERVED_PREFIX = "citysense-"
"""Device ids may not start with this: it is the namespace of the platform's own accounts."""


def ingest_username(settings: Settings) -> str:
    return settings.mqtt_username or DEFAULT_INGEST_USER


def worker_username(settings: Settings, index: int) -> str:
    """Worker ``index``'s login: the broker makes it its client id too, one per session."""
    return f"{ingest_username(settings)}-{index}"


def probe_username(settings: Settings) -> str:
    """A login with no topic rights, for health checks (never takes over ingest's session)."""
    return ingest_username(settings) + PROBE_SUFFIX


def service_usernames(settings: Settings) -> set[str]:
    """Every service account name, whether or not a service password is configured."""
    user = ingest_username(settings)
    names = {user, DEFAULT_INGEST_USER, COMMANDS_USER, probe_username(settings)}
    names |= {worker_username(settings, i) for i in range(MAX_INGEST_WORKERS)}
    return names


def is_reserved_username(settings: Settings, name: str) -> bool:
    return name in service_usernames(settings) or name.lower().startswith(RESERVED_PREFIX)


def share_group(settings: Settings) -> str:
    """Ingest's shared-subscription group: ``CITYSENSE_INGEST_SHARE_GROUP``, else derived.

    Derived from the service secret when there is one, so a device cannot name it: the
    broker grants any ``$share/<group>/...`` subscription (its ACL file does not check
    subscriptions), and a device in ingest's group would take a round-robin share of the
    telemetry that the broker then drops at delivery.
    """
    base = settings.ingest_share_group or settings.ingest_client_id
    if settings.ingest_share_group or settings.mqtt_password is None:
        return base
    secret = settings.mqtt_password.get_secret_value().encode()
    tag = hashlib.sha256(b"citysense share group\0" + secret).hexdigest()[:20]
    return f"{base}-{tag}"
