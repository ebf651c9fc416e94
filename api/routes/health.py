from __future__ import annotations

from fastapi import APIRouter, Response

from api.broker_check import check_broker
from api.deps import PoolDep, SettingsDep
from api.models import Health, ServiceCheck
from core.storage.health import storage_info

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Database or broker unavailable"}},
)
async def healthz(pool: PoolDep, settings: SettingsDep, response: Response) -> Health:
    """Checks the database and the broker with real connections; names the storage path."""
    path: str | None = None
    version: int | None = None
    try:
        info = await storage_info(pool)
        path, version = info.storage_path, info.schema_version
        db = ServiceCheck(ok=True, detail=f"schema version {version}")
    except Exception as exc:
        db = ServiceCheck(ok=False, detail=f"database unavailable: {exc}"[:300])
    try:
        broker = ServiceCheck(ok=True, detail=await check_broker(settings))
    except Exception as exc:
        broker = ServiceCheck(ok=False, detail=f"broker unavailable: {exc!r}"[:300])
    ok = db.ok and broker.ok
    if not ok:
        response.status_code = 503
    return Health(
        status="ok" if ok else "degraded",
        storage_path=path,
        schema_version=version,
        database=db,
        broker=broker,
    )
