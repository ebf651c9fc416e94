"""The JSON Schema of the wire contract: generated from the kinds, committed, and in
agreement with the decoder that ingest actually runs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from core.kinds import KindRegistry, builtin_kinds
from core.wire import DecodeLimits, decode_telemetry
from core.wire_schema import wire_schema

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def validator_for(kinds: KindRegistry, kind: str) -> Draft202012Validator:
    schema = wire_schema(kinds)
    Draft202012Validator.check_schema(schema)
    sub = {**schema, "anyOf": [{"$ref": f"#/$defs/{kind}.telemetry"}]}
    return Draft202012Validator(sub)


def test_committed_schema_is_what_the_generator_prints() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "citysense.cli", "contract", "schema"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (ROOT / "docs/wire-contract.schema.json").read_text()
    assert committed == out, "run: citysense contract schema > docs/wire-contract.schema.json"


def test_every_declared_field_is_in_the_schema_with_its_range(kinds: KindRegistry) -> None:
    defs = wire_schema(kinds)["$defs"]
    for kind in kinds.values():
        props = defs[f"{kind.name}.reading"]["properties"]
        assert set(props) == {"ts", *(f.name for f in kind.fields)}
        for f in kind.fields:
            if f.valid is not None:
                assert (props[f.name]["minimum"], props[f.name]["maximum"]) == f.valid
            if f.choices:
                assert props[f.name]["enum"] == list(f.choices)


ts = NOW - timedelta(minutes=5)
CASES: list[tuple[str, Any]] = [
    ("flood_gauge", {"ts": ts.isoformat(), "water_level": 212.5, "power_source": "PLTS"}),
    ("flood_gauge", {"ts": int(ts.timestamp() * 1000), "rain": 0}),
    (
        "flood_gauge",
        [{"ts": ts.isoformat(), "rssi": -80}, {"ts": "2026-11-28T11:00:00+07:00", "rssi": -81}],
    ),
    ("flood_gauge", {"ts": ts.isoformat(), "water_level": 5000}),  # out of range
    ("flood_gauge", {"ts": ts.isoformat(), "colour": "blue"}),  # unknown field
    ("flood_gauge", {"ts": "2026-11-28T04:00:00", "rain": 1}),  # no offset
    ("flood_gauge", {"ts": int(ts.timestamp()), "rain": 1}),  # epoch seconds
    ("flood_gauge", {"water_level": 1}),  # no ts
    ("flood_gauge", {"ts": ts.isoformat()}),  # no fields
    ("flood_gauge", []),
    ("flood_gauge", {"ts": ts.isoformat(), "rssi": -80.5}),  # not whole
    ("flood_gauge", {"ts": ts.isoformat(), "power_source": "diesel"}),
    ("streetlight", {"ts": ts.isoformat(), "lamp_failure": True, "dim_pct": 70}),
    ("streetlight", {"ts": ts.isoformat(), "lamp_failure": 1}),  # not a boolean
    ("network_node", {"ts": ts.isoformat(), "uptime": 12, "sinr": 10.5}),
    ("network_node", {"ts": ts.isoformat(), "rsrp": -20}),
]


@pytest.mark.parametrize(("kind", "doc"), CASES)
def test_schema_and_decoder_agree(kind: str, doc: Any) -> None:
    kinds = builtin_kinds()
    schema_ok = validator_for(kinds, kind).is_valid(doc)
    readings, rejections = decode_telemetry(
        kinds[kind], "DEV-1", json.dumps(doc).encode(), NOW, DecodeLimits()
    )
    decoder_ok = bool(readings) and not rejections
    assert schema_ok == decoder_ok, (doc, rejections)


def test_the_watermark_ingest_publishes_matches_the_schema_and_decodes_back(
    kinds: KindRegistry,
) -> None:
    from core.wire import decode_watermark, encode_watermark

    schema = wire_schema(kinds)
    stored = Draft202012Validator({**schema, "anyOf": [{"$ref": "#/$defs/stored"}]})
    mark = datetime(2026, 11, 28, 5, 0, 0, 123000, tzinfo=UTC)
    payload = encode_watermark(mark)
    assert list(stored.iter_errors(json.loads(payload))) == []
    assert json.loads(payload)["stored_up_to_ms"] == round(mark.timestamp() * 1000)
    assert decode_watermark(payload) == mark
    assert decode_watermark(b"") is None
    assert (
        schema["x-topics"]["flood_gauge"]["stored"] == "citysense/v1/flood_gauge/{device_id}/stored"
    )
