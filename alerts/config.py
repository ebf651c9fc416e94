"""Alert rules and thresholds are configuration: a JSON file (``citysense alerts --config``)
over sensible defaults. Per-device facts (flood thresholds, feeder, uplink) come from the
device registry; the file may override them per device, and the defaults apply only where
neither says anything.
"""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from core.storage.alert_metadata import AlertMetadata
from core.storage.state import DEFAULT_OFFLINE_FACTOR


class FloodThresholds(BaseModel):
    """Water height above gauge zero (cm) at which each warning level starts."""

    model_config = ConfigDict(extra="forbid")
    waspada: float = 300.0
    siaga: float = 400.0
    awas: float = 500.0
    hysteresis_cm: float = Field(
        default=10.0,
        ge=0,
        description="Deadband: a level is left only this far below its threshold.",
    )
    dwell_min: float = Field(
        default=30.0,
        ge=0,
        description="A lower level must hold this long (reading time) before a flood episode"
        " steps down or ends; one low reading never ends a flood.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> FloodThresholds:
        if not self.waspada < self.siaga < self.awas:
            raise ValueError("flood thresholds must rise: waspada < siaga < awas")
        return self


class AlertConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = "Asia/Jakarta"
    evaluate_every_s: float = Field(default=30.0, gt=0)
    refresh_rollups_every_s: float = Field(default=5.0, gt=0)
    registry_refresh_s: float = Field(
        default=5.0,
        gt=0,
        description="Registry details (thresholds, feeders, uplinks) are"
        " re-read this often, so a registration or an edit counts within seconds.",
    )

    offline_factor: float = Field(default=DEFAULT_OFFLINE_FACTOR, gt=1)
    offline_alarm_after_s: float = Field(
        default=7200.0,
        ge=0,
        description="One device silent is shown as offline on the page at once (a state);"
        " it becomes an alarm only after this long (or its kind's silence, if longer). A"
        " node that goes down is an alarm at once: it takes the devices behind it along.",
    )
    stale_uplink_min: int = Field(
        default=3,
        ge=2,
        description="This many devices behind one node with late data make one alarm about"
        " that uplink; fewer are only shown as stale on the devices.",
    )
    stale_fleet_min: int = Field(
        default=5,
        ge=2,
        description="This many devices with late data at once (not explained by an uplink)"
        " make one alarm about ingest; fewer are only shown as stale on the devices.",
    )
    backlog_window_s: float = Field(
        default=120.0, ge=0, description="Stale-data alerts wait this long after a backlog moved."
    )

    flood_default: FloodThresholds = FloodThresholds()
    flood_stations: dict[str, FloodThresholds] = Field(
        default_factory=dict,
        description="Per-gauge thresholds by device id (override the registry's).",
    )
    rise_window_min: float = Field(default=60.0, gt=0)
    rise_min_span_min: float = Field(default=10.0, ge=0)
    rise_cm_per_h: float = Field(default=50.0, gt=0)
    rise_clear_cm_per_h: float = Field(default=20.0, ge=0)
    rise_clear_dwell_min: float = Field(
        default=30.0,
        ge=0,
        description="A fast-rise alarm clears only after the rise stayed below"
        " rise_clear_cm_per_h this long (reading time).",
    )

    lamps_on_from: time = time(18, 30)
    lamps_on_until: time = time(5, 30)
    daylight_from: time = time(6, 30)
    daylight_until: time = time(17, 30)
    lamp_min_power_w: float = 5.0
    lamp_settle_s: float = Field(
        default=3.0, ge=0, description="Wait this long after lamp readings before judging them."
    )
    feeders: dict[str, str] = Field(
        default_factory=dict, description="Lamp id -> feeder id (overrides the registry's)."
    )
    feeder_min_lamps: int = Field(default=5, ge=2)
    feeder_fraction: float = Field(default=0.5, gt=0, le=1)

    uplinks: dict[str, str] = Field(
        default_factory=dict,
        description="Device id -> id of the network node it talks through (overrides the"
        " registry's uplink_id).",
    )
    latency_ms: float = 100.0
    latency_clear_ms: float = 80.0
    latency_window_min: float = 60.0
    latency_min_samples: int = 5
    loss_pct: float = 5.0
    loss_clear_pct: float = 2.5
    loss_window_min: float = 5.0
    loss_min_samples: int = 3

    webhook_url: HttpUrl | None = None
    webhook_attempts: int = Field(default=5, ge=1)
    webhook_backoff_s: float = Field(default=1.0, ge=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)


def load_config(path: Path | None) -> AlertConfig:
    if path is None:
        return AlertConfig()
    return AlertConfig.model_validate(json.loads(path.read_text("utf-8")))


def thresholds_for(config: AlertConfig, meta: AlertMetadata, device_id: str) -> FloodThresholds:
    """A station's flood thresholds: the config file's, else the registry's, else defaults."""
    if device_id in config.flood_stations:
        return config.flood_stations[device_id]
    bands = meta.thresholds.get(device_id)
    if bands is None:
        return config.flood_default
    return FloodThresholds(
        waspada=bands.waspada,
        siaga=bands.siaga,
        awas=bands.awas,
        hysteresis_cm=config.flood_default.hysteresis_cm,
        dwell_min=config.flood_default.dwell_min,
    )


def feeder_of(config: AlertConfig, meta: AlertMetadata, device_id: str) -> str | None:
    """The feeder (or cabinet) a lamp hangs on: the config file's, else the registry's."""
    return config.feeders.get(device_id) or meta.feeders.get(device_id)


def uplink_of(config: AlertConfig, meta: AlertMetadata, device_id: str) -> str | None:
    """The network node a device reaches the internet through, if known."""
    return config.uplinks.get(device_id) or meta.uplinks.get(device_id)
