"""Request and response bodies of the device registry API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.storage.photos import PhotoInfo
from core.storage.registry import DeviceRecord, JournalEntry
from devices.registry import Issued

Loose = float | str | None


class DeviceFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    model_id: str | None = None
    district: str | None = Field(default=None, description="Kecamatan, e.g. 'Lawang Kidul'.")
    village: str | None = Field(default=None, description="Desa / kelurahan.")
    latitude: Loose = Field(default=None, description="Decimal degrees, inside the regency.")
    longitude: Loose = None
    install_date: date | str | None = None
    uplink_id: str | None = Field(
        default=None, description="The network node this device reports through."
    )
    mounting: dict[str, Loose] | None = Field(
        default=None,
        description="Kind-specific: pole_number/feeder/cabinet (streetlight);"
        " station/river/gauge_zero_m (flood_gauge); uplink (network_node).",
    )
    waspada_cm: Loose = Field(default=None, description="Flood gauges: WASPADA level, cm.")
    siaga_cm: Loose = None
    awas_cm: Loose = None


class DeviceCreate(DeviceFields):
    id: str = Field(description="The label on the device; stored upper case.")
    kind: str | None = Field(
        default=None, description="Leave out to take it from the id's prefix (AWLR-, PJU-, ...)."
    )
    status: str | None = Field(default=None, description="planned (default), installed or active.")


class DeviceClaim(DeviceFields):
    status: str | None = None


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str
    note: str | None = None


class Decommission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=2000, description="Why the device is retired (journalled).")
    confirm_id: str = Field(max_length=200, description="The device id, typed again.")


class IdCheck(BaseModel):
    id: str = Field(description="The id as it is (or would be) stored: upper case.")
    valid: bool
    registered: bool
    kind: str | None = Field(description="The registered kind, else the one its prefix names.")
    errors: list[dict[str, str]]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str


class DeviceOut(BaseModel):
    id: str
    kind: str
    name: str
    status: str
    district: str | None
    village: str | None
    latitude: float | None
    longitude: float | None
    model_id: str | None
    install_date: date | None
    uplink_id: str | None
    mounting: dict[str, Any]
    waspada_cm: float | None
    siaga_cm: float | None
    awas_cm: float | None
    batch: str | None
    created_at: datetime
    updated_at: datetime
    has_credentials: bool

    @classmethod
    def of(cls, r: DeviceRecord) -> DeviceOut:
        d = {k: getattr(r, k) for k in cls.model_fields if k != "has_credentials"}
        return cls(**d, has_credentials=r.credentials_issued_at is not None)


class DevicePage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[DeviceOut]


class Credentials(BaseModel):
    username: str
    password: str = Field(description="Shown once; only a hash is stored.")
    topic_prefix: str

    @classmethod
    def of(cls, issued: Issued, kind: str, root: str) -> Credentials:
        return cls(
            username=issued.username,
            password=issued.password,
            topic_prefix=f"{root.rstrip('/')}/{kind}/{issued.device_id}/",
        )


class Registered(BaseModel):
    device: DeviceOut
    credentials: Credentials


class JournalOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    changes: dict[str, Any]
    note: str | None

    @classmethod
    def of(cls, e: JournalEntry) -> JournalOut:
        return cls(id=e.id, at=e.at, actor=e.actor, action=e.action, changes=e.changes, note=e.note)


class PhotoOut(BaseModel):
    id: int
    taken_at: datetime
    actor: str
    content_type: str
    size: int

    @classmethod
    def of(cls, p: PhotoInfo) -> PhotoOut:
        return cls(
            id=p.id, taken_at=p.taken_at, actor=p.actor, content_type=p.content_type, size=p.size
        )


class LineErrorOut(BaseModel):
    line: int
    field: str | None
    reason: str


class ImportOut(BaseModel):
    ok: bool
    message: str
    rows: int
    imported: int
    batch: str | None
    errors: list[LineErrorOut]
    credentials: list[Credentials]


class ModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    kind: str
    manufacturer: str
    model: str


class UnregisteredOut(BaseModel):
    device_id: str
    kind: str | None
    first_seen: datetime
    last_seen: datetime
    messages: int


class MountingOut(BaseModel):
    name: str
    label: str
    numeric: bool
    choices: list[str]


class KindOut(BaseModel):
    name: str
    label: str
    mounting: list[MountingOut]
    thresholds: bool
    label_id: str
    id_prefixes: list[str]


class DistrictOut(BaseModel):
    code: str
    name: str
    lat: float
    lon: float


class RegistryMeta(BaseModel):
    region: str
    bbox: dict[str, float]
    districts: list[DistrictOut]
    kinds: list[KindOut]
    statuses: list[str]
    initial_statuses: list[str]
    transitions: dict[str, list[str]]
    topic_root: str
    id_pattern: str = Field(description="What a device id looks like (a regular expression).")


GeoJsonType = Literal["FeatureCollection"]
