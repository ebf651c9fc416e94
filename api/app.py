"""The app factory: everything the API needs is built here from settings, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import Depends, FastAPI

from api import docs, errors, strict
from api.headers import SecurityHeaders
from api.limits import HeavyLimiter
from api.live import EventHub
from api.routes import (
    alerts,
    commands,
    devices,
    energy,
    health,
    history,
    keys,
    ops_page,
    readings,
    state,
    stream,
)
from api.state_cache import StateCache
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.pool import create_pool


def create_app(
    settings: Settings, kinds: KindRegistry, *, pool: asyncpg.Pool | None = None
) -> FastAPI:
    """Build the API. Pass ``pool`` to share one; otherwise the app opens and closes its own."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = pool is None
        app.state.pool = pool or await create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        app.state.state_cache = StateCache(
            app.state.pool,
            state.liveness_limits(kinds),
            max_age_s=settings.api_state_max_age_s,
        )
        app.state.hub = EventHub(settings.database_url)
        await app.state.hub.start()
        try:
            yield
        finally:
            await app.state.state_cache.close()
            await app.state.hub.close()
            if own:
                await app.state.pool.close()

    app = FastAPI(
        title="Citysense API",
        version="0.1.0",
        summary="City sensor readings for Kabupaten Muara Enim's Smart Regency programme.",
        lifespan=lifespan,
        docs_url=None,  # served by api.docs from installed files: no CDN, works offline
        redoc_url=None,
        dependencies=[Depends(strict.known_query_params)],  # unknown query params: 422
    )
    docs.install(app)
    app.state.settings = settings
    app.state.kinds = kinds
    app.state.heavy = HeavyLimiter(
        settings.api_heavy_slots, settings.api_heavy_queue, settings.api_heavy_wait_s
    )
    app.add_middleware(SecurityHeaders)
    app.include_router(health.router)
    app.include_router(readings.build_router(kinds))
    app.include_router(devices.build_router(settings, kinds))
    errors.install(app)
    for router in (
        state.router,
        history.router,
        stream.router,
        alerts.router,
        keys.router,
        commands.router,
        energy.router,
    ):
        app.include_router(router)
    app.include_router(ops_page.router)
    return app
