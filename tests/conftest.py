from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from core.kinds import KindRegistry, builtin_kinds
from core.settings import Settings, load_settings
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from tests.support.services import postgres_server, scratch_database, storage_under_test


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """One migrated database for the whole run; tests keep apart by unique device ids."""
    with scratch_database(pg_server_url) as url:
        result = migrate(url, retention_days=730)
        # make test-timescale must never pass by quietly testing plain PostgreSQL (or v.v.)
        assert result.storage_path == storage_under_test(), result.storage_path
        yield url


@pytest.fixture(scope="session")
def storage_path() -> str:
    """The storage path this run tests: path-specific tests assert what holds on it."""
    return storage_under_test()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMosquitto]:
    b = LocalMosquitto(tmp_path_factory.mktemp("mqtt"), free_port())
    b.start()
    yield b
    b.stop()


@pytest.fixture
def kinds() -> KindRegistry:
    return builtin_kinds()


@pytest.fixture
def settings(database_url: str, broker: LocalMosquitto) -> Settings:
    return load_settings(
        database_url=database_url,
        mqtt_port=broker.port,
        ingest_client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        ingest_batch_max_age_ms=20,
    )


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, min_size=1, max_size=4)
    yield p
    await p.close()


@pytest.fixture
def uid() -> str:
    """A short unique suffix for device ids, so tests never see each other's rows."""
    return uuid.uuid4().hex[:8].upper()


@pytest.fixture
def artifacts_dir() -> Path:
    d = Path(__file__).parent / "artifacts"
    d.mkdir(exist_ok=True)
    return d
