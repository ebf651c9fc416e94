"""Runtime settings, read from ``CITYSENSE_*`` environment variables and an optional ``.env``.

Nothing here is built at import time: entry points call :func:`load_settings` and pass
the result down.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
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
        default=True, description="Allow reads without an API key (wall screens)."
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
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
    ingest_share_group: str = Field(
        default="",
        description="MQTT shared-subscription group whose workers split the traffic"
        " (empty: the ingest client id).",
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
    def _production_has_real_secrets(self) -> Settings:
        if self.environment == "production":
            key = self.admin_api_key.get_secret_value() if self.admin_api_key else ""
            if len(key) < 24 or key in DEFAULT_SECRETS:
                raise ValueError(
                    "production needs CITYSENSE_ADMIN_API_KEY set to a random secret of 24+"
                    " characters (e.g. `python -c 'import secrets;print(secrets.token_urlsafe())'`)"
                )
        if self.environment == "production" and self.broker_auth_dir is not None:
            mqtt = self.mqtt_password.get_secret_value() if self.mqtt_password else ""
            if len(mqtt) < 16 or mqtt in DEFAULT_SECRETS:
                raise ValueError(
                    "production with CITYSENSE_BROKER_AUTH_DIR needs CITYSENSE_MQTT_PASSWORD"
                    " (the ingest service's broker account) set to a random secret of 16+"
                    " characters"
                )
        return self


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword overrides win (used by the CLI and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
