"""A database that is restarting is the server's trouble, not the caller's: the API answers
503 with Retry-After (not 500), and answers again once PostgreSQL is back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.app import create_app
from citysense.local.mosquitto import LocalMosquitto
from core.kinds import KindRegistry
from core.settings import load_settings
from tests.support.api import api_client
from tests.support.private_pg import PrivatePg, private_postgres
from tests.support.waiting import eventually


@pytest.fixture
def own_pg() -> Iterator[PrivatePg]:
    with private_postgres() as pg:
        yield pg


@pytest.mark.anyio
async def test_a_stopped_database_gives_503_with_retry_after_and_the_api_recovers(
    own_pg: PrivatePg, broker: LocalMosquitto, kinds: KindRegistry
) -> None:
    settings = load_settings(database_url=own_pg.url, mqtt_port=broker.port)
    async with api_client(create_app(settings, kinds)) as http:
        assert (await http.get("/devices/NO-SUCH-DEVICE/readings")).status_code == 404

        own_pg.server.stop(mode="immediate")
        away = await http.get("/devices/NO-SUCH-DEVICE/readings")
        assert away.status_code == 503, away.text
        assert away.headers["retry-after"] == "5"
        assert "retry" in away.json()["detail"]

        own_pg.ensure_running()

        async def status() -> int:
            return (await http.get("/devices/NO-SUCH-DEVICE/readings")).status_code

        assert await eventually(status, lambda code: code == 404, within=30) == 404
