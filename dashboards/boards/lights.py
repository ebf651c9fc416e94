"""Street lights: on / off / failed per district now, energy and power over time."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, stat, timeseries
from grafana_foundation_sdk.models import common as cm

from core.kinds import KindRegistry
from core.storage.energy import night_energy_sql
from dashboards.boards.common import Board, base, district_variable
from dashboards.i18n import Lang, t
from dashboards.query import DATASOURCE, series
from dashboards.query import table as tq
from dashboards.sql import device_state_sql, series_sql

UID = "citysense-lights"
KIND = "streetlight"


def build(kinds: KindRegistry, lang: Lang) -> Board:
    kind = kinds[KIND]
    var, var_query = district_variable(lang)
    lights = (
        "SELECT s.*, ls.\"values\"->>'power_state' AS power_state "
        f"FROM ({device_state_sql(kinds)}) s "
        "LEFT JOIN latest_state ls ON ls.device_id = s.device_id "
        f"WHERE s.kind = '{KIND}' AND s.district IN ($district)"
    )
    on, off, failed, offline = (
        t(k, lang) for k in ("lamp_on", "lamp_off", "lamp_failed", "state_offline")
    )
    per_district = (
        "SELECT l.district, "
        f"count(*) FILTER (WHERE l.state NOT IN ('failed', 'offline', 'no_data') "
        f"AND l.power_state IN ('on', 'low')) AS \"{on}\", "
        f"count(*) FILTER (WHERE l.state NOT IN ('failed', 'offline', 'no_data') "
        f"AND l.power_state IS DISTINCT FROM 'on' AND l.power_state IS DISTINCT FROM 'low') "
        f'AS "{off}", '
        f"count(*) FILTER (WHERE l.state = 'failed') AS \"{failed}\", "
        f"count(*) FILTER (WHERE l.state IN ('offline', 'no_data')) AS \"{offline}\" "
        f"FROM ({lights}) l GROUP BY 1 ORDER BY 1"
    )
    dash = (
        base(UID, "lights", lang)
        .with_variable(var)
        .with_panel(
            barchart.Panel()
            .title(t("lights_district", lang))
            .datasource(DATASOURCE)
            .with_target(
                tq(
                    per_district,
                    ("district", "text"),
                    (on, "number"),
                    (off, "number"),
                    (failed, "number"),
                    (offline, "number"),
                )
            )
            .stacking(cm.StackingMode.NORMAL)
            .height(10)
            .span(18)
        )
        .with_panel(
            stat.Panel()
            .title(t("failed_lights", lang))
            .datasource(DATASOURCE)
            .with_target(
                tq(
                    f"SELECT count(*) AS value FROM ({lights}) l WHERE l.state = 'failed'",
                    ("value", "number"),
                )
            )
            .height(10)
            .span(6)
        )
        .with_panel(
            timeseries.Panel()
            .title(t("energy", lang))
            .datasource(DATASOURCE)
            .with_target(series(series_sql(kind, "energy", agg="delta", by="district")))
            .draw_style(cm.GraphDrawStyle.BARS)
            .unit("kwatth")
            .height(9)
            .span(12)
        )
        .with_panel(
            timeseries.Panel()
            .title(t("power", lang))
            .datasource(DATASOURCE)
            .with_target(series(series_sql(kind, "active_power", by="district")))
            .unit("watt")
            .height(9)
            .span(12)
        )
    )
    nights = night_energy_sql("feeder", "$__timeFilter(r.bucket)")
    dash = dash.with_panel(
        barchart.Panel()
        .title(t("energy_night", lang))
        .datasource(DATASOURCE)
        .with_target(
            series(
                "SELECT (night + time '18:00') AT TIME ZONE 'Asia/Jakarta' AS time,"
                f" key AS metric, kwh AS value FROM ({nights}) n ORDER BY 1, 2"
            )
        )
        .unit("kwatth")
        .height(9)
        .span(18)
    ).with_panel(
        stat.Panel()
        .title(t("dimming_saving", lang))
        .datasource(DATASOURCE)
        .with_target(
            tq(
                "SELECT round((100 * (1 - sum(kwh) / nullif(sum(kwh_full), 0)))::numeric, 1)"
                f" AS value FROM ({nights}) n",
                ("value", "number"),
            )
        )
        .unit("percent")
        .height(9)
        .span(6)
    )
    return Board(UID, "lights", dash, (var_query,))
