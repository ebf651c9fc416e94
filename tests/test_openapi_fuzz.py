"""Schemathesis against the OpenAPI document: generated requests, valid and invalid, against a
real server and database. No 5xx, and every response matches what the document promises."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from tests.support.server import serving_in_thread

ADMIN = "fuzz-admin-key-0123456789abcdef"
EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    from core.settings import load_settings

    app_settings = load_settings(database_url=database_url, admin_api_key=ADMIN, mqtt_port=1)
    with serving_in_thread(create_app(app_settings, _kinds())) as url:
        yield url


def _kinds() -> KindRegistry:
    from core.kinds import builtin_kinds

    return builtin_kinds()


def _operations(url: str) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    ops = [r.ok() for r in schema.get_all_operations()]
    # /stream never ends (tested in test_stream); /healthz probes the broker (test_api)
    return [o for o in ops if o.path not in ("/stream", "/healthz")]


def test_the_document_covers_the_operations_room_api(server: str) -> None:
    paths = {o.path for o in _operations(server)}
    assert {
        "/state",
        "/state.geojson",
        "/summary",
        "/readings",
        "/alerts",
        "/alerts/{alert_id}/acknowledge",
        "/alerts/{alert_id}/resolve",
    } <= paths


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_no_server_errors_and_match_the_schema(
    server: str, settings: Settings, mode: GenerationMode
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
    exercised: list[str] = []
    without_inputs: list[str] = []
    for op in _operations(server):

        @given(case=op.as_strategy(generation_mode=mode))
        @hsettings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server, headers=headers, checks=checks, timeout=30)

        try:
            run()
        except Unsatisfiable:
            # No invalid request exists for an operation without inputs (e.g. /registry/meta).
            if mode is not GenerationMode.NEGATIVE:
                raise
            without_inputs.append(f"{op.method} {op.path}")
        else:
            exercised.append(f"{op.method} {op.path}")
    assert len(exercised) >= 10, exercised
    assert all(p not in exercised for p in without_inputs)
