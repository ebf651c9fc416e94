"""The committed Grafana JSON is exactly what the generator produces, in both languages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from citysense.cli import main
from core.kinds import KindRegistry
from dashboards import generate
from dashboards.datasource import DatabaseAddress, datasource_json
from dashboards.query import DATASOURCE_TYPE, DATASOURCE_UID

ROOT = Path(__file__).resolve().parents[1]
PROVISIONING = ROOT / "dashboards" / "provisioning"


def test_committed_json_equals_generator_output(kinds: KindRegistry) -> None:
    expected = generate.expected_files(kinds)
    assert len(expected) == 10  # five dashboards, two languages
    for path, text in expected.items():
        assert path.exists(), f"{path} missing: run `citysense dashboards generate`"
        assert path.read_text("utf-8") == text, (
            f"{path} is stale: run `citysense dashboards generate`"
        )
    assert main(["dashboards", "generate", "--check"]) == 0


def test_check_fails_on_a_hand_edited_file(
    kinds: KindRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generate, "OUTPUT", tmp_path)
    generate.write(kinds)
    edited = tmp_path / "id" / "flood.json"
    edited.write_text(edited.read_text().replace("Pos Duga Air", "Pos"), "utf-8")
    assert generate.stale(kinds) == [edited]
    assert main(["dashboards", "generate", "--check"]) == 1
    assert main(["dashboards", "generate", "--lang", "id"]) == 0
    assert generate.stale(kinds) == []


def test_every_panel_queries_the_citysense_data_source_in_its_language() -> None:
    for lang, title in (("id", "Ringkasan Operasional"), ("en", "Operations overview")):
        files = sorted((ROOT / "dashboards" / "grafana" / lang).glob("*.json"))
        assert [f.stem for f in files] == ["device", "flood", "lights", "network", "overview"]
        overview = json.loads((ROOT / "dashboards/grafana" / lang / "overview.json").read_text())
        assert title in overview["title"]
        for f in files:
            board = json.loads(f.read_text())
            assert board["uid"].startswith("citysense-")
            assert board["timezone"] == "Asia/Jakarta"
            for panel in board["panels"]:
                if panel["type"] == "row":
                    continue
                assert panel["datasource"]["uid"] == DATASOURCE_UID, (f.name, panel["title"])
                assert panel["targets"], (f.name, panel["title"])
                for target in panel["targets"]:
                    assert target["datasource"]["uid"] == DATASOURCE_UID
                    assert target["rawQuery"] is True
                    assert target["rawSql"]


def test_provisioning_matches_the_published_data_source() -> None:
    (ds,) = yaml.safe_load((PROVISIONING / "datasources" / "citysense.yaml").read_text())[
        "datasources"
    ]
    published = datasource_json(DatabaseAddress("db", 5432, "citysense"))
    for key in ("uid", "name", "type", "user", "access", "isDefault"):
        assert ds[key] == published[key], key
    assert ds["type"] == DATASOURCE_TYPE
    assert set(ds["jsonData"]) <= set(published["jsonData"])
    assert "password" in ds["secureJsonData"]
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "citysense.yaml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file"
    assert provider["folderUid"] == "citysense"


def test_series_refuse_what_the_kinds_do_not_declare(kinds: KindRegistry) -> None:
    from dashboards.sql import series_sql

    gauge = kinds["flood_gauge"]
    assert '"water_level_sum"' in series_sql(gauge, "water_level")
    with pytest.raises(ValueError, match="no field"):
        series_sql(gauge, "latency")
    with pytest.raises(ValueError, match="unsupported"):
        series_sql(gauge, "water_level", agg="median")


def test_indonesian_boards_label_kinds_fields_and_columns_in_indonesian(
    kinds: KindRegistry,
) -> None:
    from dashboards.i18n import FIELD_ID, KIND_ID

    device = json.loads((ROOT / "dashboards/grafana/id/device.json").read_text())
    rows = [p["title"] for p in device["panels"] if p["type"] == "row"]
    assert rows == [KIND_ID[k] for k in kinds]
    titles = {p["title"] for p in device["panels"]}
    assert f"{FIELD_ID['water_level']} (cm)" in titles
    network = json.loads((ROOT / "dashboards/grafana/id/network.json").read_text())
    headers = {
        prop["value"]
        for p in network["panels"]
        for o in p["fieldConfig"]["overrides"]
        for prop in o["properties"]
        if prop["id"] == "displayName"
    }
    assert {"Desa", "Kecamatan", "Ketersediaan (%)"} <= headers
