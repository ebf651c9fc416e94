"""Pieces every Citysense dashboard shares: variables, state colours, the Board record."""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as b
from grafana_foundation_sdk.models import dashboard as model

from dashboards.i18n import Lang, t
from dashboards.query import DATASOURCE
from dashboards.sql import DISTRICT, FLOOD_LEVELS, STATES

TIMEZONE = "Asia/Jakarta"

STATE_COLOURS = {
    "ok": "green",
    "warning": "yellow",
    "failed": "red",
    "offline": "purple",
    "no_data": "text",
}
LEVEL_COLOURS = {"NORMAL": "green", "WASPADA": "blue", "SIAGA": "yellow", "AWAS": "red"}


@dataclass(frozen=True, slots=True)
class VariableQuery:
    """A query variable's SQL; it must return one text column Grafana turns into choices."""

    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class Board:
    uid: str
    slug: str
    dashboard: b.Dashboard
    variables: tuple[VariableQuery, ...] = ()


def base(uid: str, key: str, lang: Lang, *, time_from: str = "now-24h") -> b.Dashboard:
    return (
        b.Dashboard(t(key, lang))
        .uid(uid)
        .tags(["citysense", lang])
        .timezone(TIMEZONE)
        .time(time_from, "now")
        .refresh("30s")
        .readonly()
    )


DISTRICT_SQL = f"SELECT DISTINCT {DISTRICT} AS district FROM devices d ORDER BY 1"
DEVICE_SQL = (
    "SELECT d.id AS __value, coalesce(nullif(d.name, ''), d.id) || ' (' || d.id || ')' AS __text "
    "FROM devices d WHERE d.status <> 'decommissioned' ORDER BY 1"
)


def district_variable(lang: Lang) -> tuple[b.QueryVariable, VariableQuery]:
    var = (
        b.QueryVariable("district")
        .label(t("var_district", lang))
        .datasource(DATASOURCE)
        .query(DISTRICT_SQL)
        .multi(True)
        .include_all(True)
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
    )
    return var, VariableQuery("district", DISTRICT_SQL)


def device_variable(lang: Lang) -> tuple[b.QueryVariable, VariableQuery]:
    var = (
        b.QueryVariable("device")
        .label(t("var_device", lang))
        .datasource(DATASOURCE)
        .query(DEVICE_SQL)
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
    )
    return var, VariableQuery("device", DEVICE_SQL)


def _mapping(options: dict[str, model.ValueMappingResult]) -> list[model.ValueMapping]:
    return [model.ValueMap(options=options)]


def state_mappings(lang: Lang) -> list[model.ValueMapping]:
    """State codes shown in the viewer's language and in their colour."""
    return _mapping(
        {
            s: model.ValueMappingResult(text=t(f"state_{s}", lang), color=STATE_COLOURS[s], index=i)
            for i, s in enumerate(STATES)
        }
    )


def level_mappings(lang: Lang) -> list[model.ValueMapping]:
    return _mapping(
        {
            lv: model.ValueMappingResult(
                text=t(f"level_{lv}", lang), color=LEVEL_COLOURS[lv], index=i
            )
            for i, lv in enumerate(FLOOD_LEVELS)
        }
    )


def fixed_colour(colour: str) -> b.FieldColor:
    return b.FieldColor().mode(model.FieldColorModeId.FIXED).fixed_color(colour)
