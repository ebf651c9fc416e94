"""Response models of the operations-room endpoints: state, summary, history, alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["NORMAL", "WASPADA", "SIAGA", "AWAS"]
AlertStatus = Literal["open", "acknowledged", "resolved"]
Severity = Literal["info", "warning", "critical"]
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
                "device_id": "AWLR-SKR-01",
                "subject": "AWLR-SKR-01",
                "message": "Sukaraja water level 522 cm: SIAGA (threshold 500 cm)",
                "status": "acknowledged",
                "opened_at": "2026-11-28T18:40:00+00:00",
                "acknowledged_at": "2026-11-28T18:45:12+00:00",
                "acknowledged_by": "ops-desk",
                "resolved_at": None,
                "resolved_by": None,
                "details": {"level": "SIAGA", "value": 522.0},
            }
        }
    )
    id: int
    rule: str
    severity: Severity
    device_id: str | None
    subject: str = Field(description="What the alert is about: a device, feeder or node.")
    message: str
    status: AlertStatus
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    details: dict[str, Any]


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
