"""A Grafana PostgreSQL query as a foundation-SDK data query, carrying the shape it must return.

The SDK has no builder for the SQL data sources, so this module supplies one. Each query also
declares the columns its panel reads, which the panel-SQL tests check against real rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model

DATASOURCE_UID = "citysense-pg"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE = model.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)

ColumnType = Literal["time", "number", "text", "bool"]
Format = Literal["time_series", "table"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType


@dataclass(frozen=True, slots=True)
class SqlQuery(cogvariants.Dataquery):
    ref_id: str
    sql: str
    format: Format
    columns: tuple[Column, ...]
    """Columns the panel reads, in order. For time series, ``metric`` names the series."""

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": DATASOURCE.to_json(),
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": self.sql,
            "refId": self.ref_id,
        }


class Sql(cogbuilder.Builder[SqlQuery]):
    """Builder for :class:`SqlQuery`, usable wherever the SDK takes a target."""

    def __init__(
        self, sql: str, *columns: Column, fmt: Format = "table", ref_id: str = "A"
    ) -> None:
        if not columns:
            raise ValueError("a query must declare the columns its panel reads")
        self._query = SqlQuery(ref_id=ref_id, sql=sql, format=fmt, columns=columns)

    def build(self) -> SqlQuery:
        return self._query


def series(sql: str, value: str = "value", *, metric: bool = True, ref_id: str = "A") -> Sql:
    """A time-series query: ``time``, optionally ``metric`` (series name), numeric value(s)."""
    cols = [Column("time", "time")]
    if metric:
        cols.append(Column("metric", "text"))
    cols.append(Column(value, "number"))
    return Sql(sql, *cols, fmt="time_series", ref_id=ref_id)


def table(sql: str, *columns: tuple[str, ColumnType], ref_id: str = "A") -> Sql:
    return Sql(sql, *(Column(n, t) for n, t in columns), fmt="table", ref_id=ref_id)
