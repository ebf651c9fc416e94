"""Flood gauges: level per station against its WASPADA / SIAGA / AWAS bands, rate of rise, rain."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as b
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as model

from core.kinds import KindRegistry
from dashboards.boards.common import (
    LEVEL_COLOURS,
    Board,
    VariableQuery,
    base,
    district_variable,
    fixed_colour,
    level_mappings,
)
from dashboards.i18n import Lang, t
from dashboards.query import DATASOURCE, Column, Sql, series
from dashboards.query import table as tq
from dashboards.sql import DISTRICT, FLOOD_LEVELS, rate_of_rise_sql, series_sql

UID = "citysense-flood"
KIND = "flood_gauge"
BANDS = {"WASPADA": "d.waspada_cm", "SIAGA": "d.siaga_cm", "AWAS": "d.awas_cm"}
"""Per-station thresholds in cm, registry columns of ``devices``."""


def _gauge_variable(lang: Lang) -> tuple[b.QueryVariable, VariableQuery]:
    sql = (
        "SELECT d.id AS __value, coalesce(nullif(d.name, ''), d.id) AS __text FROM devices d "
        f"WHERE d.kind = '{KIND}' AND d.status <> 'decommissioned' "
        f"AND {DISTRICT} IN ($district) ORDER BY 1"
    )
    var = (
        b.QueryVariable("gauge")
        .label(t("stations", lang))
        .datasource(DATASOURCE)
        .query(sql)
        .multi(True)
        .include_all(True)
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
    )
    return var, VariableQuery("gauge", sql)


def _band_lines() -> list[Builder[model.DashboardFieldConfigSourceOverrides]]:
    return [
        b.DashboardFieldConfigSourceOverrides()
        .matcher(model.MatcherConfig(id_val="byName", options=level))
        .properties(
            [
                model.DynamicConfigValue(id_val="color", value=fixed_colour(colour).build()),
                model.DynamicConfigValue(
                    id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
                ),
            ]
        )
        for level, colour in LEVEL_COLOURS.items()
        if level != "NORMAL"
    ]


def build(kinds: KindRegistry, lang: Lang) -> Board:
    kind = kinds[KIND]
    district, district_query = district_variable(lang)
    gauge, gauge_query = _gauge_variable(lang)
    bands = ", ".join(f'{BANDS[lv]}::float8 AS "{lv}"' for lv in FLOOD_LEVELS[1:])
    level_cm = "(ls.\"values\"->>'water_level')::float8"
    dash = (
        base(UID, "flood", lang)
        .with_variable(district)
        .with_variable(gauge)
        .with_panel(
            timeseries.Panel()
            .title(t("level", lang))
            .datasource(DATASOURCE)
            .with_target(series(series_sql(kind, "water_level")))
            .unit("lengthcm")
            .height(9)
            .span(24)
        )
        .with_panel(
            timeseries.Panel()
            .title(f"{t('bands', lang)}: $gauge")
            .datasource(DATASOURCE)
            .repeat("gauge")
            .repeat_direction("h")
            .with_target(
                Sql(
                    f"SELECT $__timeGroupAlias(r.time, $__interval), avg(r.water_level) AS "
                    f"level FROM {kind.table} r WHERE r.device_id = '$gauge' "
                    "AND $__timeFilter(r.time) GROUP BY 1 ORDER BY 1",
                    Column("time", "time"),
                    Column("level", "number"),
                    fmt="time_series",
                )
            )
            .with_target(
                Sql(
                    f"SELECT x.time, {bands} FROM devices d CROSS JOIN (VALUES "
                    "($__timeFrom()::timestamptz), ($__timeTo()::timestamptz)) AS x(time) "
                    "WHERE d.id = '$gauge' AND d.awas_cm IS NOT NULL ORDER BY 1",
                    Column("time", "time"),
                    *(Column(lv, "number") for lv in FLOOD_LEVELS[1:]),
                    fmt="time_series",
                    ref_id="B",
                )
            )
            .overrides(_band_lines())
            .unit("lengthcm")
            .height(8)
            .span(8)
        )
        .with_panel(
            timeseries.Panel()
            .title(t("rise", lang))
            .datasource(DATASOURCE)
            .with_target(series(rate_of_rise_sql(kind, "water_level")))
            .unit("cm/h")
            .height(8)
            .span(12)
        )
        .with_panel(
            timeseries.Panel()
            .title(t("rain", lang))
            .datasource(DATASOURCE)
            .with_target(series(series_sql(kind, "rain", agg="sum")))
            .draw_style(cm.GraphDrawStyle.BARS)
            .unit("lengthmm")
            .height(8)
            .span(12)
        )
        .with_panel(
            table.Panel()
            .title(t("stations", lang))
            .datasource(DATASOURCE)
            .with_target(
                tq(
                    "SELECT coalesce(nullif(d.name, ''), d.id) AS name, "
                    f"{DISTRICT} AS district, {level_cm} AS water_level, "
                    "coalesce(fl.level, 'NORMAL') AS level, "
                    "d.waspada_cm::float8 AS waspada, d.siaga_cm::float8 AS siaga, "
                    "d.awas_cm::float8 AS awas, ls.time "
                    "FROM devices d LEFT JOIN latest_state ls ON ls.device_id = d.id "
                    "LEFT JOIN flood_levels fl ON fl.device_id = d.id "
                    f"WHERE d.kind = '{KIND}' AND d.status <> 'decommissioned' "
                    f"AND {DISTRICT} IN ($district) ORDER BY 3 DESC NULLS LAST",
                    ("name", "text"),
                    ("district", "text"),
                    ("water_level", "number"),
                    ("level", "text"),
                    ("waspada", "number"),
                    ("siaga", "number"),
                    ("awas", "number"),
                    ("time", "time"),
                )
            )
            .mappings(level_mappings(lang))
            .height(10)
            .span(24)
        )
    )
    return Board(UID, "flood", dash, (district_query, gauge_query))
