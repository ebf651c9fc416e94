"""Operations overview: every device on a map by state, counts per state, the open alerts."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import geomap, stat, table
from grafana_foundation_sdk.models import common as cm

from core.kinds import KindRegistry
from dashboards.boards.common import Board, base, district_variable, state_mappings
from dashboards.i18n import Lang, t
from dashboards.query import DATASOURCE
from dashboards.query import table as tq
from dashboards.sql import DISTRICT, device_state_sql

UID = "citysense-overview"
SEAT = (-3.72, 103.9)  # centre of Kabupaten Muara Enim


def build(kinds: KindRegistry, lang: Lang) -> Board:
    states = f"SELECT * FROM ({device_state_sql(kinds)}) s WHERE s.district IN ($district)"
    var, var_query = district_variable(lang)
    markers = (
        cb.MapLayerOptions()
        .type("markers")
        .name(t("map", lang))
        .location(
            cb.FrameGeometrySource()
            .mode(cm.FrameGeometrySourceMode.COORDS)
            .latitude("latitude")
            .longitude("longitude")
        )
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": "state", "fixed": "green"},
                    "opacity": 0.9,
                    "size": {"fixed": 5},
                    "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
                },
            }
        )
    )
    dash = (
        base(UID, "overview", lang)
        .with_variable(var)
        .with_panel(
            geomap.Panel()
            .title(t("map", lang))
            .datasource(DATASOURCE)
            .with_target(
                tq(
                    states + " AND s.latitude IS NOT NULL AND s.longitude IS NOT NULL",
                    ("device_id", "text"),
                    ("kind", "text"),
                    ("name", "text"),
                    ("district", "text"),
                    ("latitude", "number"),
                    ("longitude", "number"),
                    ("last_time", "time"),
                    ("state", "text"),
                )
            )
            .mappings(state_mappings(lang))
            .view(geomap.MapViewConfig().id("coords").lat(SEAT[0]).lon(SEAT[1]).zoom(9))  # type: ignore[arg-type]
            .basemap(cb.MapLayerOptions().type("osm-standard").name("OpenStreetMap"))
            .layers([markers])
            .height(16)
            .span(16)
        )
        .with_panel(
            stat.Panel()
            .title(t("per_state", lang))
            .datasource(DATASOURCE)
            .with_target(
                tq(
                    f"SELECT s.state AS metric, count(*) AS value FROM ({states}) s "
                    "GROUP BY 1 ORDER BY 1",
                    ("metric", "text"),
                    ("value", "number"),
                )
            )
            .mappings(state_mappings(lang))
            .reduce_options(cb.ReduceDataOptions().values(True).calcs(["lastNotNull"]))
            .height(8)
            .span(8)
        )
        .with_panel(
            table.Panel()
            .title(t("per_kind_state", lang))
            .datasource(DATASOURCE)
            .with_target(
                tq(
                    f"SELECT s.kind, s.state, count(*) AS devices FROM ({states}) s "
                    "GROUP BY 1, 2 ORDER BY 1, 2",
                    ("kind", "text"),
                    ("state", "text"),
                    ("devices", "number"),
                )
            )
            .mappings(state_mappings(lang))
            .height(8)
            .span(8)
        )
        .with_panel(
            table.Panel()
            .title(t("open_alerts", lang))
            .datasource(DATASOURCE)
            .with_target(
                tq(
                    "SELECT a.opened_at AS time, a.severity, a.status, a.subject, a.message, "
                    f"a.device_id FROM alerts a LEFT JOIN devices d ON d.id = a.device_id "
                    f"WHERE a.status IN ('open', 'acknowledged') "
                    f"AND (a.device_id IS NULL OR {DISTRICT} IN ($district)) "
                    "ORDER BY a.opened_at DESC LIMIT 500",
                    ("time", "time"),
                    ("severity", "text"),
                    ("status", "text"),
                    ("subject", "text"),
                    ("message", "text"),
                    ("device_id", "text"),
                )
            )
            .height(10)
            .span(24)
        )
    )
    return Board(UID, "overview", dash, (var_query,))


__all__ = ["build"]
