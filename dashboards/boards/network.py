"""Village network nodes: latency, packet loss and uptime per village."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table, timeseries

from core.kinds import KindRegistry
from dashboards.boards.common import Board, base, district_variable, state_mappings
from dashboards.i18n import Lang, t
from dashboards.query import DATASOURCE, series
from dashboards.query import table as tq
from dashboards.sql import device_state_sql, report_counts_sql, series_sql

UID = "citysense-network"
KIND = "network_node"


def build(kinds: KindRegistry, lang: Lang) -> Board:
    kind = kinds[KIND]
    var, var_query = district_variable(lang)
    span = "extract(epoch from ($__timeTo()::timestamptz - $__timeFrom()::timestamptz))"
    expected = f"{span} / {kind.interval_s}"
    uptime = (
        "SELECT s.name AS village, s.district, s.state, "
        "(ls.\"values\"->>'uptime')::float8 AS uptime, "
        f"least(100.0, 100.0 * coalesce(c.n, 0) / nullif({expected}, 0)) AS availability "
        f"FROM ({device_state_sql(kinds)}) s "
        "LEFT JOIN latest_state ls ON ls.device_id = s.device_id "
        f"LEFT JOIN ({report_counts_sql(kind, 'uptime')}) c ON c.device_id = s.device_id "
        f"WHERE s.kind = '{KIND}' AND s.district IN ($district) ORDER BY 5 NULLS FIRST, 1"
    )
    dash = (
        base(UID, "network", lang)
        .with_variable(var)
        .with_panel(
            timeseries.Panel()
            .title(t("latency", lang))
            .datasource(DATASOURCE)
            .with_target(series(series_sql(kind, "latency")))
            .unit("ms")
            .height(9)
            .span(12)
        )
        .with_panel(
            timeseries.Panel()
            .title(t("loss", lang))
            .datasource(DATASOURCE)
            .with_target(series(series_sql(kind, "packet_loss")))
            .unit("percent")
            .height(9)
            .span(12)
        )
        .with_panel(
            table.Panel()
            .title(t("uptime", lang))
            .datasource(DATASOURCE)
            .with_target(
                tq(
                    uptime,
                    ("village", "text"),
                    ("district", "text"),
                    ("state", "text"),
                    ("uptime", "number"),
                    ("availability", "number"),
                )
            )
            .mappings(state_mappings(lang))
            .height(10)
            .span(24)
        )
    )
    return Board(UID, "network", dash, (var_query,))
