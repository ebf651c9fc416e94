"""Response models of the operations-room endpoints: state, summary, history, alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.vocabulary import AlertEvent, AlertState, FloodLevel, Priority, Severity

Level = FloodLevel
RegistryStatus = Literal["planned", "installed", "active", "maintenance", "decommissioned"]
StateStatus = Literal[
    "planned", "installed", "active", "maintenance", "decommissioned", "online", "offline", "stale"
]
Bucket = Literal["1m", "5m", "15m", "1h", "1d"]


class DeviceState(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "device_id": "AWLR-SKR-01",
                "kind": "flood_gauge",
                "name": "Sukaraja",
                "district": "Tanjung Agung",
                "latitude": -3.9,
                "longitude": 103.81,
                "status": "active",
                "time": "2026-11-28T19:00:00+00:00",
                "received_at": "2026-11-28T19:00:02+00:00",
                "values": {"water_level": 412.5, "rain": 3.2},
                "online": True,
                "stale": False,
                "age_s": 95,
                "freshness": "current",
                "level": "SIAGA",
            }
        }
    )
    device_id: str
    kind: str
    name: str
    district: str | None
    latitude: float | None
    longitude: float | None
    status: str = Field(description="Registry status (active, maintenance, ...).")
    time: datetime | None = Field(description="Device time of the newest reading (UTC).")
    received_at: datetime | None = Field(description="When anything last arrived (UTC).")
    values: dict[str, Any] = Field(description="Newest value of each field.")
    online: bool = Field(description="Heard from within its kind's interval x offline factor.")
    stale: bool = Field(description="Newest device time older than interval x offline factor.")
    age_s: int | None = Field(
        description="Age of the values (seconds since their device time); null: no data yet."
    )
    freshness: Literal["current", "stale", "no_data"] = Field(
        description="current; stale (drawn grey, never counted as a current level); no_data."
    )
    level: Level | None = Field(description="Flood warning level (gauges only, else null).")


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: list[float] = Field(description="[longitude, latitude]")


class StateFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: PointGeometry | None
    properties: DeviceState


class StateCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[StateFeature]


class LightsSummary(BaseModel):
    on: int = Field(description="Lamps reporting on or low.")
    off: int = Field(description="Lamps reporting off (and not failed).")
    failed: int = Field(description="Lamps with a failure flag or an active lamp-failure alert.")
    unknown: int = Field(description="Lamps that never reported.")


class GaugesSummary(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    normal: int = Field(alias="NORMAL")
    waspada: int = Field(alias="WASPADA")
    siaga: int = Field(alias="SIAGA")
    awas: int = Field(alias="AWAS")
    unknown: int = Field(description="Gauges with no evaluated level yet.")


class NodesSummary(BaseModel):
    up: int
    down: int


class DistrictSummary(BaseModel):
    district: str | None = Field(description="Kecamatan; null for devices without one.")
    devices: int
    online: int
    offline: int
    lights: LightsSummary
    gauges: GaugesSummary
    nodes: NodesSummary


class AlertOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 17,
                "rule": "flood_level",
                "severity": "critical",
                "priority": "high",
                "rank": 201000001,
                "level": "SIAGA",
                "device_id": "AWLR-SKR-01",
                "subject": "AWLR-SKR-01",
                "message": "Sukaraja: SIAGA, tinggi muka air 522 cm pukul 29/11 01:40 WIB"
                " (batas 500 cm); puncak 522 cm pukul 29/11 01:40 WIB",
                "message_en": "Sukaraja: SIAGA, water level 522 cm at 29/11 01:40 WIB"
                " (threshold 500 cm); peak 522 cm at 29/11 01:40 WIB",
                "status": "acknowledged",
                "opened_at": "2026-11-28T18:40:00+00:00",
                "acknowledged_at": "2026-11-28T18:45:12+00:00",
                "acknowledged_by": "ops-desk",
                "resolved_at": None,
                "resolved_by": None,
                "shelved_until": None,
                "shelved_by": None,
                "shelve_reason": None,
                "peak_value": 522.0,
                "peak_at": "2026-11-28T18:40:00+00:00",
                "details": {"level": "SIAGA", "value": 522.0},
            }
        }
    )
    id: int = Field(description="Stable id; work orders and links refer to it.")
    rule: str
    severity: Severity
    priority: Priority = Field(description="By consequence: urgent (AWAS) ... low.")
    rank: int = Field(description="The list's sort key: higher first.")
    level: FloodLevel | None = Field(description="Flood level (flood alerts only).")
    device_id: str | None
    subject: str = Field(description="What the alert is about: a device, feeder, node or cause.")
    message: str = Field(description="Bahasa Indonesia, times in WIB.")
    message_en: str = Field(description="The same in English.")
    status: AlertState
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    shelved_until: datetime | None
    shelved_by: str | None
    shelve_reason: str | None
    peak_value: float | None = Field(description="Highest value of the episode (floods: cm).")
    peak_at: datetime | None
    details: dict[str, Any]


class AlertCounts(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"urgent": 1, "high": 2, "medium": 4, "low": 9}}
    )
    urgent: int
    high: int
    medium: int
    low: int


class AlertEventOut(BaseModel):
    id: int
    at: datetime = Field(description="When the event was recorded (UTC).")
    observed_at: datetime | None = Field(description="Reading time that caused it, if any.")
    event: AlertEvent
    by: str
    from_status: str
    to_status: str
    level: FloodLevel | None
    value: float | None
    priority: Priority | None
    note: str


class AlertDetail(AlertOut):
    timeline: list[AlertEventOut] = Field(
        description="Every journalled event, oldest first: raise, each level change with its"
        " reading time and value, acknowledgements, shelving, and the return to normal."
    )


class ShelveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: float = Field(gt=0, le=7 * 24 * 60, description="How long to shelve for.")
    reason: str = Field(min_length=3, max_length=500, description="Why (journalled).")


class HistoryRow(BaseModel):
    device_id: str
    time: datetime = Field(description="Reading time, or bucket start, in the viewer's zone.")
    received_at: datetime | None = Field(default=None, description="Raw readings only.")
    values: dict[str, Any] = Field(
        description="Raw: {field: value}. Bucketed: {field: {agg: value}}; null in a gap."
    )


class History(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "example": {
                "kind": "flood_gauge",
                "bucket": "1h",
                "tz": "Asia/Jakarta",
                "from": "2026-11-28T00:00:00+07:00",
                "to": "2026-11-28T03:00:00+07:00",
                "fields": ["water_level"],
                "agg": ["avg", "count"],
                "source": "rollup",
                "rows": [
                    {
                        "device_id": "AWLR-SKR-01",
                        "time": "2026-11-28T00:00:00+07:00",
                        "values": {"water_level": {"avg": 412.5, "count": 12}},
                    },
                    {
                        "device_id": "AWLR-SKR-01",
                        "time": "2026-11-28T01:00:00+07:00",
                        "values": {"water_level": {"avg": None, "count": 0}},
                    },
                ],
            }
        },
    )
    kind: str
    bucket: Bucket | None
    tz: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    fields: list[str]
    agg: list[str]
    source: Literal["raw", "rollup"]
    rows: list[HistoryRow]
    truncated: str | None = Field(
        default=None,
        description="Present only when the answer reached the response byte limit and was"
        " cut: says so and how to ask for less.",
    )
