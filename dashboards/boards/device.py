"""Device detail: pick a device; see what it is, its latest values and every numeric field."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as b
from grafana_foundation_sdk.builders import table, timeseries

from core.kinds import FieldType, KindRegistry
from dashboards.boards.common import Board, base, device_variable, state_mappings
from dashboards.i18n import Lang, field_label, kind_label, t
from dashboards.query import DATASOURCE, series
from dashboards.query import table as tq
from dashboards.sql import device_series_sql, device_state_sql

UID = "citysense-device"
NUMERIC = (FieldType.FLOAT, FieldType.INT)


def build(kinds: KindRegistry, lang: Lang) -> Board:
    var, var_query = device_variable(lang)
    dash = (
        base(UID, "device", lang, time_from="now-7d")
        .with_variable(var)
        .with_panel(
            table.Panel()
            .title("$device")
            .datasource(DATASOURCE)
            .with_target(
                tq(
                    f"SELECT s.device_id, s.kind, s.name, s.district, s.latitude, s.longitude, "
                    f"s.state, s.last_time FROM ({device_state_sql(kinds)}) s "
                    "WHERE s.device_id = '$device'",
                    ("device_id", "text"),
                    ("kind", "text"),
                    ("name", "text"),
                    ("district", "text"),
                    ("latitude", "number"),
                    ("longitude", "number"),
                    ("state", "text"),
                    ("last_time", "time"),
                )
            )
            .mappings(state_mappings(lang))
            .height(5)
            .span(24)
        )
        .with_panel(
            table.Panel()
            .title(t("latest", lang))
            .datasource(DATASOURCE)
            .with_target(
                tq(
                    "SELECT v.key AS field, v.value FROM latest_state ls, "
                    "jsonb_each_text(ls.\"values\") AS v WHERE ls.device_id = '$device' ORDER BY 1",
                    ("field", "text"),
                    ("value", "text"),
                )
            )
            .height(10)
            .span(24)
        )
    )
    # One row per kind; only the row of the chosen device's kind has data.
    for kind in kinds.values():
        dash = dash.with_row(b.Row(kind_label(kind.name, kind.label, lang)))
        for f in kind.fields:
            if f.type not in NUMERIC:
                continue
            text = field_label(f.name, f.description, lang)
            title = f"{text} ({f.unit})" if f.unit else text
            dash = dash.with_panel(
                timeseries.Panel()
                .title(title)
                .datasource(DATASOURCE)
                .with_target(series(device_series_sql(kind, f.name), f.name, metric=False))
                .height(7)
                .span(8)
            )
    return Board(UID, "device", dash, (var_query,))
