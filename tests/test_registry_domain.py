"""Rules that need no database: lifecycle, region, validation, broker file rendering."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.kinds import builtin_kinds
from core.settings import load_settings
from core.storage.registry import BrokerAccount
from devices.broker_auth import ServiceAccount, render_acl, render_password_file
from devices.lifecycle import Status, TransitionError, check_transition
from devices.model import validate_device
from devices.region import load_region

ALLOWED = {
    ("planned", "installed"),
    ("planned", "decommissioned"),
    ("installed", "active"),
    ("installed", "maintenance"),
    ("installed", "decommissioned"),
    ("active", "maintenance"),
    ("active", "decommissioned"),
    ("maintenance", "active"),
    ("maintenance", "decommissioned"),
}


@pytest.mark.parametrize("src", [s.value for s in Status])
@pytest.mark.parametrize("dst", [s.value for s in Status])
def test_only_sensible_status_moves_are_allowed(src: str, dst: str) -> None:
    if (src, dst) in ALLOWED:
        assert check_transition(src, dst).value == dst
    else:
        with pytest.raises(TransitionError) as err:
            check_transition(src, dst)
        assert src in str(err.value)


def test_bundled_region_is_muara_enim_with_22_districts() -> None:
    region = load_region()
    assert len(region.districts) == 22
    assert region.district("  semende darat   ulu ").name == "Semende Darat Ulu"  # type: ignore[union-attr]
    assert region.district("16.03.02").name == "Muara Enim"  # type: ignore[union-attr]
    assert region.bbox.contains(-3.655, 103.775)
    assert not region.bbox.contains(-6.2, 106.8)


def test_district_list_is_configuration(tmp_path: Path) -> None:
    """Six districts may split off into a new regency: the list is a file, not code."""
    doc = json.loads((Path(__file__).parents[1] / "devices/data/muara-enim.json").read_text())
    doc["districts"] = [d for d in doc["districts"] if d["name"] != "Gelumbang"]
    path = tmp_path / "region.json"
    path.write_text(json.dumps(doc))
    region = load_region(path)
    assert len(region.districts) == 21
    raw = {"id": "X1", "kind": "streetlight", "district": "Gelumbang"}
    device, errors = validate_device(raw, region=region, kinds=builtin_kinds())
    assert device is None
    assert errors[0].field == "district"
    ok, _ = validate_device(raw, region=load_region(), kinds=builtin_kinds())
    assert ok is not None
    assert ok.status == "planned"


def test_every_problem_in_a_description_is_reported_at_once() -> None:
    raw = {
        "id": "",
        "kind": "lamp",
        "district": "Atlantis",
        "latitude": "abc",
        "longitude": "103.8",
        "install_date": "28/11/2026",
    }
    device, errors = validate_device(raw, region=load_region(), kinds=builtin_kinds())
    assert device is None
    assert [e.field for e in errors] == ["id", "kind", "district", "latitude", "install_date"]
    assert "write YYYY-MM-DD" in errors[-1].reason


def test_broker_files_give_each_device_only_its_own_topics() -> None:
    accounts = [
        BrokerAccount("A1", "streetlight", "$7$h1"),
        BrokerAccount("G1", "flood_gauge", "$7$h2"),
    ]
    services = [ServiceAccount("citysense-ingest", "$7$h0", read=("#",), write=("+/+/stored",))]
    assert render_password_file(accounts, services) == (
        "citysense-ingest:$7$h0\nA1:$7$h1\nG1:$7$h2\n"
    )
    acl = render_acl(accounts, services, "citysense/v1")
    assert (
        "user citysense-ingest\ntopic read citysense/v1/#\ntopic write citysense/v1/+/+/stored\n"
    ) in acl
    a1 = "citysense/v1/streetlight/A1"
    assert (
        f"user A1\ntopic write {a1}/telemetry\ntopic write {a1}/status\ntopic write {a1}/reply\n"
        f"topic read {a1}/stored\ntopic read {a1}/commands\n"
    ) in acl
    assert "user G1\ntopic write citysense/v1/flood_gauge/G1/telemetry" in acl
    assert "pattern" not in acl
    assert "readwrite" not in acl
    assert "#" not in acl.split("user A1")[1]


def test_production_refuses_a_default_broker_password(tmp_path: Path) -> None:
    admin = secrets.token_urlsafe()
    with pytest.raises(ValidationError, match="CITYSENSE_MQTT_PASSWORD"):
        load_settings(
            environment="production",
            admin_api_key=admin,
            broker_auth_dir=str(tmp_path),
            mqtt_username="citysense-ingest",
            mqtt_password="changeme",
        )
    ok = load_settings(
        environment="production",
        admin_api_key=admin,
        broker_auth_dir=str(tmp_path),
        mqtt_username="citysense-ingest",
        mqtt_password=secrets.token_urlsafe(18),
    )
    assert ok.broker_auth_dir == str(tmp_path)
