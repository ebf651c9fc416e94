"""Runtime settings, read from ``CITYSENSE_*`` environment variables and an optional ``.env``.

Nothing here is built at import time: entry points call :func:`load_settings` and pass
the result down.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRETS = frozenset({"changeme", "change-me", "admin", "secret", "password"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CITYSENSE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/citysense",
        description="libpq URL of the Citysense database.",
    )
    db_pool_min: int = Field(default=1, ge=1)
    db_pool_max: int = Field(default=10, ge=1)

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    topic_root: str = Field(
        default="citysense/v1", description="Versioned prefix of every Citysense MQTT topic."
    )

    environment: Literal["development", "production"] = Field(
        default="development",
        description="In production, default or missing secrets are refused at start.",
    )
    admin_api_key: SecretStr | None = Field(
        default=None, description="Bootstrap admin API key (create others with the API/CLI)."
    )
    public_read: bool = Field(
        default=True,
        description="Allow reads without an API key (wall screens). Production keeps them off"
        " unless this is set explicitly.",
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_heavy_slots: int = Field(
        default=1,
        ge=1,
        description="History queries one API process runs at once (each keeps a database"
        " core busy; raise it on a bigger machine); /state, /healthz and /stream never wait"
        " for them.",
    )
    api_heavy_queue: int = Field(
        default=8, ge=0, description="History queries that may wait for a slot; more get 429."
    )
    api_heavy_wait_s: float = Field(
        default=5.0, gt=0, description="How long a history query waits for a slot (then 429)."
    )
    api_max_response_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=64 * 1024,
        description="An answer streams at most this many bytes, then says it was cut.",
    )
    api_state_max_age_s: float = Field(
        default=1.0,
        ge=0,
        description="/state is served from memory while its snapshot is younger than this.",
    )
    timezone: str = Field(default="Asia/Jakarta", description="Default display time zone.")

    ingest_client_id: str = Field(
        default="citysense-ingest",
        description="MQTT client id; fixed so the broker keeps the persistent session.",
    )
    ingest_batch_size: int = Field(
        default=5000,
        ge=1,
        description="A batch closes at this many messages (or 4 MiB, or the max age)."
        " Live traffic repeats devices, and a batch upserts each device's latest state"
        " once, so larger batches cost the database less per message.",
    )
    ingest_batch_max_age_ms: int = Field(default=100, ge=1)
    ingest_max_payload_bytes: int = Field(default=256 * 1024, ge=64)
    ingest_max_future_s: int = Field(
        default=300, ge=0, description="Readings stamped further ahead than this are rejected."
    )
    retention_days: int = Field(default=730, ge=1, description="How long readings are kept.")
    storage: Literal["auto", "postgresql", "timescaledb"] = Field(
        default="auto",
        description="Storage path of a new database: TimescaleDB when the server has it"
        " (auto), or forced. An existing database keeps the path it was created with.",
    )
    dead_letter_retention_days: int = Field(default=14, ge=1)
    dead_letter_max_rows: int = Field(
        default=1_000_000, ge=1000, description="Dead letters kept at most (oldest pruned first)."
    )
    ingest_dead_letter_quota: int = Field(
        default=60,
        ge=1,
        description="Dead letters kept per device per 10 minutes; beyond it rejected"
        " messages are counted (and one quota_exceeded row says so), not kept.",
    )
    ingest_share_group: str = Field(
        default="",
        description="MQTT shared-subscription group whose workers split the traffic"
        " (empty: the ingest client id, tagged with a hash of CITYSENSE_MQTT_PASSWORD if set,"
        " so that no device can name it).",
    )
    ingest_receive_maximum: int = Field(
        default=10_000,
        ge=1,
        le=65535,
        description="MQTT 5 receive-maximum: unacknowledged messages the broker may send ingest.",
    )
    ingest_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Prometheus /metrics port (0: off; worker i: +i)."
    )
    ingest_metrics_host: str = "127.0.0.1"
    ingest_watermark_hold_s: float = Field(
        default=120.0,
        ge=0,
        description="After every connect to the broker (which may have dropped what arrived"
        " while ingest had no subscription there: a crash before its autosave, a reload after"
        " a restart, a shared subscription), stored watermarks wait this long, so devices"
        " resend what was dropped (they retry unconfirmed readings every 60 s at most) before"
        " any watermark passes it.",
    )
    ingest_prune_interval_s: int = Field(
        default=3600, ge=0, description="How often ingest prunes old rows (0: never)."
    )

    broker_auth_dir: str | None = Field(
        default=None,
        description="Where the registry writes Mosquitto's password_file and acl_file (and"
        " finds mosquitto.pid to reload it); unset: the broker does not check devices.",
    )
    alerts_config: str | None = Field(
        default=None,
        description="Alert rules/thresholds JSON for `citysense alerts` (its --config wins).",
    )
    alerts_webhook_url: SecretStr | None = Field(
        default=None,
        description="Webhook for alert notifications; overrides the config file's"
        " webhook_url (kept out of the file since it usually carries a token). Empty: none.",
    )
    region_file: str | None = Field(
        default=None,
        description="JSON with the regency bbox and districts; default: bundled Muara Enim.",
    )

    @model_validator(mode="after")
    def _production_is_locked_down(self) -> Settings:
        if self.environment != "production":
            return self
        key = self.admin_api_key.get_secret_value() if self.admin_api_key else ""
        if weak_secret(key, min_len=24, min_bits=80):
            raise ValueError(
                "production needs CITYSENSE_ADMIN_API_KEY set to a random secret of 24+"
                " characters, not a default, a repeated or a guessable one (e.g. `python -c"
                " 'import secrets;print(secrets.token_urlsafe())'`)"
            )
        if not self.mqtt_username or self.mqtt_password is None:
            raise ValueError(
                "production does not connect to the broker anonymously: set"
                " CITYSENSE_MQTT_USERNAME and CITYSENSE_MQTT_PASSWORD (the service's broker"
                " account; `citysense devices broker-sync` writes it into Mosquitto's"
                " password file)"
            )
        if weak_secret(self.mqtt_password.get_secret_value(), min_len=16, min_bits=56):
            raise ValueError(
                "production needs CITYSENSE_MQTT_PASSWORD (the service's broker account) set"
                " to a random secret of 16+ characters, not a default, a repeated or a"
                " guessable one"
            )
        if "public_read" not in self.model_fields_set:
            # reads without a key only where someone asked for them (a wall screen)
            self.public_read = False
        return self


CLASSES = (
    (str.islower, 26),
    (str.isupper, 26),
    (str.isdigit, 10),
)


def weak_secret(value: str, *, min_len: int, min_bits: float) -> bool:
    """Too short, a known default, too small an alphabet, or too repetitive to be random.

    Strength is estimated as length x log2(the alphabet its character classes span: lower
    26, upper 26, digits 10, others 33), and refused below ``min_bits``; a string whose
    characters repeat (Shannon entropy under 2.2 bits a character: 24 x 'a' has 0, 'abab'
    1, a random hex or base64 key 3 to 5), that repeats one word, or that is mostly runs
    ("abcdef", "12345") is refused whatever its length. It cannot tell a
    random string from a well-mixed phrase, but it refuses what a person types when asked
    for "a key"."""
    if len(value) < min_len or value.lower() in DEFAULT_SECRETS:
        return True
    n = len(value)
    if any(value == (value[:d] * (n // d + 1))[:n] for d in range(1, n // 2 + 1)):
        return True  # a word repeated ("passwordpassword")
    if sum(abs(ord(a) - ord(b)) <= 1 for a, b in itertools.pairwise(value)) * 2 > n:
        return True  # mostly runs ("abcdef...", "123456...")
    alphabet = sum(size for test, size in CLASSES if any(test(c) for c in value))
    if any(not (c.islower() or c.isupper() or c.isdigit()) for c in value):
        alphabet += 33
    per_char = -sum(c / n * math.log2(c / n) for c in Counter(value).values())
    return per_char < 2.2 or n * math.log2(alphabet) < min_bits


def settings_error(exc: ValidationError, env_prefix: str | None = "CITYSENSE_") -> str:
    """What is wrong, without the values given: pydantic's own message repeats the input
    (every ``CITYSENSE_*`` value, secrets included) into the logs. ``env_prefix=None``
    names fields as they are (for a configuration file)."""
    parts = []
    for e in exc.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(p) for p in e.get("loc", ()))
        if where and env_prefix is not None:
            where = env_prefix + where.upper()
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword overrides win (used by the CLI and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
