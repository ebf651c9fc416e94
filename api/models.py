"""Response models, derived from the kind declarations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from core.kinds import DeviceKind, FieldType

_PY_TYPES: dict[FieldType, Any] = {
    FieldType.FLOAT: float,
    FieldType.INT: int,
    FieldType.BOOL: bool,
}


class ReadingBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time: datetime = Field(description="Device time of the reading (UTC).")
    received_at: datetime = Field(description="When the server stored it (UTC).")


def reading_model(kind: DeviceKind) -> type[ReadingBase]:
    fields: dict[str, Any] = {}
    for f in kind.fields:
        py: Any = Literal[f.choices] if f.type is FieldType.ENUM else _PY_TYPES[f.type]
        unit = f" [{f.unit}]" if f.unit else ""
        fields[f.name] = (py | None, Field(default=None, description=f"{f.description}{unit}"))
    model: type[ReadingBase] = create_model(
        f"{kind.name.title().replace('_', '')}Reading", __base__=ReadingBase, **fields
    )
    return model


def readings_response_model(models: Iterable[type[ReadingBase]]) -> type[BaseModel]:
    """``{device_id, kind, from, to, readings: [...]}`` with readings typed per kind."""
    union: Any = None
    for m in models:
        union = m if union is None else union | m
    model: type[BaseModel] = create_model(
        "DeviceReadings",
        device_id=(str, ...),
        kind=(str, ...),
        start=(datetime, Field(alias="from", serialization_alias="from")),
        end=(datetime, Field(alias="to", serialization_alias="to")),
        readings=(list[union], ...),
        __config__=ConfigDict(populate_by_name=True),
    )
    return model


class ServiceCheck(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    storage_path: str | None = Field(description="'timescaledb' or 'postgresql'")
    schema_version: int | None
    database: ServiceCheck
    broker: ServiceCheck


class Problem(BaseModel):
    detail: str
