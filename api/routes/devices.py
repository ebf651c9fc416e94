"""The device registry over HTTP: anyone who may read can list; technicians change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from api.auth import Reader, Technician, forbidden, may_silence_or_end
from api.deps import PoolDep
from api.models import Problem
from api.routes import technician_page
from api.routes.devices_models import (
    Credentials,
    DeviceClaim,
    DeviceCreate,
    DeviceFields,
    DeviceOut,
    DevicePage,
    DistrictOut,
    ImportOut,
    JournalOut,
    KindOut,
    LineErrorOut,
    ModelIn,
    MountingOut,
    NoteIn,
    Registered,
    RegistryMeta,
    StatusChange,
    UnregisteredOut,
)
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage import registry as store
from core.storage.registry import DeviceFilter, DeviceModel
from devices import labels
from devices.csv_io import export_csv
from devices.importer import run_import
from devices.lifecycle import INITIAL, TRANSITIONS, Status
from devices.model import DEVICE_ID
from devices.mounting import MOUNTING, THRESHOLD_KINDS, THRESHOLDS
from devices.region import Region, load_region
from devices.registry import Registry, RegistryError

MAX_IMPORT_BYTES = 20 * 1024 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem},
    409: {"model": Problem},
    422: {"model": Problem},
}


def _problem(description: str) -> dict[str, Any]:
    """An error response documented as JSON, whatever the route's own media type."""
    return {
        "description": description,
        "content": {"application/json": {"schema": Problem.model_json_schema()}},
    }


def _fail(exc: RegistryError) -> NoReturn:
    raise HTTPException(exc.status, str(exc)) from None


def _bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    try:
        parts = tuple(float(x) for x in raw.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
        raise HTTPException(
            422, "bbox: give min_lon,min_lat,max_lon,max_lat, e.g. 103.7,-3.8,103.9,-3.6"
        )
    return parts[0], parts[1], parts[2], parts[3]


def filters(
    kind: Annotated[str | None, Query(description="streetlight, flood_gauge, ...")] = None,
    district: str | None = None,
    status: str | None = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    q: Annotated[str | None, Query(description="free text: id, name, village, ...")] = None,
    batch: str | None = None,
) -> DeviceFilter:
    if status is not None and status not in {s.value for s in Status}:
        raise HTTPException(422, f"status: use one of {', '.join(s.value for s in Status)}")
    return DeviceFilter(kind, district, status, _bbox(bbox), q, batch)


Filters = Annotated[DeviceFilter, Depends(filters)]


def build_router(settings: Settings, kinds: KindRegistry) -> APIRouter:
    """Routes for the registry; the region is read once here from settings."""
    region: Region = load_region(settings.region_file)
    # Every registry route may refuse a caller (401/403), a malformed body (400), a missing
    # device (404), a conflict (409) or invalid input (422): documented once for all.
    router = APIRouter(
        tags=["devices"],
        responses={
            400: _problem("The body could not be parsed."),
            401: _problem("No API key, or not a valid one."),
            403: _problem("The key's role may not do this."),
            404: _problem("No such device, model or batch."),
            409: _problem("Conflicts with the registry's state."),
        },
    )
    router.include_router(technician_page.router)

    def registry(request: Request) -> Registry:
        return Registry(request.app.state.pool, settings, kinds, region)

    @router.get("/registry/meta", response_model=RegistryMeta)
    async def meta(_: Reader) -> RegistryMeta:
        """What the forms need: kinds with their mounting details, districts, lifecycle."""
        b = region.bbox
        return RegistryMeta(
            region=region.name,
            bbox={
                "min_lat": b.min_lat,
                "max_lat": b.max_lat,
                "min_lon": b.min_lon,
                "max_lon": b.max_lon,
            },
            districts=[
                DistrictOut(code=d.code, name=d.name, lat=d.lat, lon=d.lon)
                for d in region.districts
            ],
            kinds=[
                KindOut(
                    name=k.name,
                    label=k.label,
                    mounting=[
                        MountingOut(
                            name=f.name, label=f.label, numeric=f.numeric, choices=list(f.choices)
                        )
                        for f in MOUNTING.get(k.name, ())
                    ],
                    thresholds=k.name in THRESHOLD_KINDS,
                )
                for k in kinds.values()
            ],
            statuses=[s.value for s in Status],
            initial_statuses=sorted(s.value for s in INITIAL),
            transitions={s.value: sorted(t.value for t in TRANSITIONS[s]) for s in Status},
            topic_root=settings.topic_root,
        )

    @router.get("/devices", response_model=DevicePage)
    async def list_devices(
        pool: PoolDep,
        _: Reader,
        f: Filters,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> DevicePage:
        """Registered devices, filtered, ordered by id."""
        total, rows = await store.list_devices(pool, f, limit=limit, offset=offset)
        return DevicePage(
            total=total, limit=limit, offset=offset, items=[DeviceOut.of(r) for r in rows]
        )

    @router.get(
        "/devices.geojson",
        response_class=Response,
        responses={
            200: {
                "description": "Located devices as a GeoJSON FeatureCollection.",
                "content": {
                    "application/geo+json": {
                        "schema": {
                            "type": "object",
                            "required": ["type", "features"],
                            "properties": {
                                "type": {"const": "FeatureCollection"},
                                "features": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    }
                },
            }
        },
    )
    async def devices_geojson(
        pool: PoolDep,
        _: Reader,
        f: Filters,
        limit: Annotated[int, Query(ge=1, le=50_000)] = 10_000,
    ) -> Response:
        """Located devices as a GeoJSON FeatureCollection for maps."""
        rows = await store.list_devices_only(pool, f, limit=limit, offset=0)
        features = [
            {
                "type": "Feature",
                "id": r.id,
                "geometry": {"type": "Point", "coordinates": [r.longitude, r.latitude]},
                "properties": DeviceOut.of(r).model_dump(
                    mode="json", exclude={"latitude", "longitude"}
                ),
            }
            for r in rows
            if r.latitude is not None and r.longitude is not None
        ]
        return JSONResponse(
            {"type": "FeatureCollection", "features": features},
            media_type="application/geo+json",
        )

    @router.get("/devices.csv", response_class=Response)
    async def devices_csv(pool: PoolDep, _: Reader, f: Filters) -> Response:
        """The registry as CSV, in the same columns the import takes."""
        rows = await store.list_devices_only(pool, f, limit=1_000_000, offset=0)
        return Response(
            export_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="devices.csv"'},
        )

    @router.post("/devices", status_code=201, response_model=Registered, responses=ERRORS)
    async def register(
        body: DeviceCreate, request: Request, response: Response, who: Technician
    ) -> Registered:
        """Register a device; its MQTT password is in this response only."""
        _no_store(response)
        try:
            record, issued = await registry(request).register(
                body.model_dump(exclude_none=True), actor=who.name
            )
        except RegistryError as exc:
            _fail(exc)
        return Registered(
            device=DeviceOut.of(record),
            credentials=Credentials.of(issued, record.kind, settings.topic_root),
        )

    @router.post(
        "/devices/import",
        response_model=ImportOut,
        responses={
            413: {"model": Problem},
            422: {
                "description": "Nothing imported (every bad line listed), or invalid query.",
                "content": {
                    "application/json": {
                        "schema": {
                            "anyOf": [
                                {"$ref": "#/components/schemas/ImportOut"},
                                {"$ref": "#/components/schemas/HTTPValidationError"},
                            ]
                        }
                    }
                },
            },
        },
    )
    async def import_csv(
        request: Request,
        who: Technician,
        import_good: Annotated[
            bool, Query(description="import the good rows even if some lines have errors")
        ] = False,
    ) -> JSONResponse:
        """Bulk registration from CSV (body: the file). The whole file is checked first."""
        secret = NO_STORE
        data = await request.body()
        if len(data) > MAX_IMPORT_BYTES:
            raise HTTPException(413, f"file over {MAX_IMPORT_BYTES // 2**20} MiB; split it")
        batch = f"import-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        try:
            result = await run_import(
                registry(request), data, actor=who.name, import_good=import_good, batch=batch
            )
        except RegistryError as exc:
            _fail(exc)
        kind_of = {}
        if result.credentials:
            rows = await store.list_devices_only(
                request.app.state.pool, DeviceFilter(batch=batch), limit=1_000_000, offset=0
            )
            kind_of = {r.id: r.kind for r in rows}
        out = ImportOut(
            ok=not result.errors,
            message=result.message,
            rows=result.rows,
            imported=result.imported,
            batch=result.batch,
            errors=[
                LineErrorOut(line=e.line, field=e.field, reason=e.reason) for e in result.errors
            ],
            credentials=[
                Credentials.of(i, kind_of[i.device_id], settings.topic_root)
                for i in result.credentials
            ],
        )
        status = 200 if result.imported or not result.errors else 422
        return JSONResponse(out.model_dump(mode="json"), status_code=status, headers=secret)

    @router.get("/device-models", response_model=list[ModelIn])
    async def models(pool: PoolDep, _: Reader) -> list[ModelIn]:
        return [
            ModelIn(id=m.id, kind=m.kind, manufacturer=m.manufacturer, model=m.model)
            for m in await store.list_models(pool)
        ]

    @router.post("/device-models", status_code=201, response_model=ModelIn, responses=ERRORS)
    async def add_model(body: ModelIn, pool: PoolDep, _: Technician) -> ModelIn:
        """Declare a device model (manufacturer + model) of a kind."""
        if body.kind not in kinds:
            raise HTTPException(422, f"kind: use one of {', '.join(kinds)}")
        if not DEVICE_ID.match(body.id):
            raise HTTPException(422, "id: 1-64 letters, digits, '.', '_' or '-'")
        if any(
            m.id == body.id or (m.manufacturer, m.model) == (body.manufacturer, body.model)
            for m in await store.list_models(pool)
        ):
            raise HTTPException(
                409, f"model {body.id!r} (or {body.manufacturer} {body.model}) exists"
            )
        await store.insert_model(
            pool, DeviceModel(body.id, body.kind, body.manufacturer, body.model)
        )
        return body

    @router.get("/unregistered-devices", response_model=list[UnregisteredOut])
    async def unregistered(pool: PoolDep, _: Reader) -> list[UnregisteredOut]:
        """Devices that published telemetry but are not registered: claim them."""
        found = await store.unregistered_publishers(pool, topic_root=settings.topic_root)
        return [
            UnregisteredOut(
                device_id=u.device_id,
                kind=u.kind,
                first_seen=u.first_seen,
                last_seen=u.last_seen,
                messages=u.messages,
            )
            for u in found
        ]

    @router.post(
        "/unregistered-devices/{device_id}/claim",
        status_code=201,
        response_model=Registered,
        responses=ERRORS,
    )
    async def claim(
        device_id: str, body: DeviceClaim, request: Request, response: Response, who: Technician
    ) -> Registered:
        """Register a device that has been publishing, with the kind from its topic."""
        _no_store(response)
        found = {
            u.device_id: u
            for u in await store.unregistered_publishers(
                request.app.state.pool, topic_root=settings.topic_root, limit=100_000
            )
        }
        u = found.get(device_id)
        if u is None or u.kind is None:
            raise HTTPException(404, f"{device_id!r} is not among the unregistered publishers")
        raw = {**body.model_dump(exclude_none=True), "id": device_id, "kind": u.kind}
        try:
            record, issued = await registry(request).register(raw, actor=who.name, action="claimed")
        except RegistryError as exc:
            _fail(exc)
        return Registered(
            device=DeviceOut.of(record),
            credentials=Credentials.of(issued, record.kind, settings.topic_root),
        )

    @router.get("/device-labels", response_class=HTMLResponse)
    async def label_sheet(
        pool: PoolDep,
        _: Reader,
        batch: str | None = None,
        ids: Annotated[str | None, Query(description="comma-separated device ids")] = None,
    ) -> HTMLResponse:
        """A printable A4 sheet of labels for an import batch or a list of ids."""
        if not batch and not ids:
            raise HTTPException(422, "give batch=<import batch> or ids=ID1,ID2")
        f = DeviceFilter(batch=batch, ids=ids.split(",") if ids else None)
        rows = await store.list_devices_only(pool, f, limit=10_000, offset=0)
        if not rows:
            raise HTTPException(404, "no devices match; check the batch name or ids")
        names = {k.name: k.label for k in kinds.values()}
        return HTMLResponse(
            labels.sheet_html(f"labels {batch or ''}", labels.sheet_pages(rows, names))
        )

    async def _one(pool: Any, device_id: str) -> store.DeviceRecord:
        r = await store.get_record(pool, device_id)
        if r is None:
            raise HTTPException(404, f"device {device_id!r} is not registered")
        return r

    @router.get("/devices/{device_id}", response_model=DeviceOut, responses=ERRORS)
    async def get_device(device_id: str, pool: PoolDep, _: Reader) -> DeviceOut:
        return DeviceOut.of(await _one(pool, device_id))

    @router.patch("/devices/{device_id}", response_model=DeviceOut, responses=ERRORS)
    async def update(
        device_id: str, body: DeviceFields, request: Request, who: Technician
    ) -> DeviceOut:
        """Edit or move a device (journalled). Status has its own endpoint. Changing a
        gauge's flood thresholds needs a supervisor (sending them unchanged is fine)."""
        fields = body.model_dump(exclude_unset=True)
        if not may_silence_or_end(who) and _changes_thresholds(
            await _one(request.app.state.pool, device_id), fields
        ):
            raise forbidden(who, "change flood thresholds (ubah ambang banjir)")
        try:
            r = await registry(request).update(device_id, fields, actor=who.name)
        except RegistryError as exc:
            _fail(exc)
        return DeviceOut.of(r)

    @router.post("/devices/{device_id}/status", response_model=DeviceOut, responses=ERRORS)
    async def change_status(
        device_id: str, body: StatusChange, request: Request, who: Technician
    ) -> DeviceOut:
        """Move the device along its lifecycle; decommissioning (final: it revokes the
        device's credentials) needs a supervisor."""
        if body.status.strip().lower() == Status.DECOMMISSIONED and not may_silence_or_end(who):
            raise forbidden(who, "decommission a device (menonaktifkan perangkat)")
        try:
            r = await registry(request).change_status(
                device_id, body.status, actor=who.name, note=body.note
            )
        except RegistryError as exc:
            _fail(exc)
        return DeviceOut.of(r)

    @router.post("/devices/{device_id}/notes", status_code=201, responses=ERRORS)
    async def add_note(
        device_id: str, body: NoteIn, request: Request, who: Technician
    ) -> dict[str, str]:
        try:
            await registry(request).add_note(device_id, body.note, actor=who.name)
        except RegistryError as exc:
            _fail(exc)
        return {"status": "noted"}

    @router.get("/devices/{device_id}/journal", response_model=list[JournalOut], responses=ERRORS)
    async def journal(device_id: str, pool: PoolDep, _: Reader) -> list[JournalOut]:
        """Every change to the device, newest first."""
        await _one(pool, device_id)
        return [JournalOut.of(e) for e in await store.list_journal(pool, device_id)]

    @router.post("/devices/{device_id}/credentials", response_model=Credentials, responses=ERRORS)
    async def rotate(
        device_id: str, request: Request, response: Response, who: Technician
    ) -> Credentials:
        """Issue a new MQTT password; the old one stops working at once. A technician may do
        it for a device not in service (planned, installed, maintenance); a device in service
        needs a supervisor."""
        _no_store(response)
        current = await _one(request.app.state.pool, device_id)
        if current.status == Status.ACTIVE and not may_silence_or_end(who):
            raise forbidden(
                who, f"replace the credentials of a device in service ({current.status})"
            )
        try:
            issued = await registry(request).rotate(device_id, actor=who.name)
        except RegistryError as exc:
            _fail(exc)
        r = await _one(request.app.state.pool, device_id)
        return Credentials.of(issued, r.kind, settings.topic_root)

    @router.get("/devices/{device_id}/label.svg", response_class=Response, responses=ERRORS)
    async def label_svg(device_id: str, pool: PoolDep, _: Reader) -> Response:
        r = await _one(pool, device_id)
        label = kinds[r.kind].label if r.kind in kinds else r.kind
        return Response(labels.label_svg(r, label), media_type="image/svg+xml")

    @router.get("/devices/{device_id}/label.png", response_class=Response, responses=ERRORS)
    async def label_png(device_id: str, pool: PoolDep, _: Reader) -> Response:
        r = await _one(pool, device_id)
        return Response(labels.label_png(r.id), media_type="image/png")

    return router


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""On every answer that carries a device password: no cache, proxy or browser keeps it."""


def _no_store(response: Response) -> None:
    response.headers.update(NO_STORE)


def _changes_thresholds(record: store.DeviceRecord, fields: dict[str, Any]) -> bool:
    for name in THRESHOLDS:
        if name not in fields:
            continue
        new, old = fields[name], getattr(record, name)
        if new in (None, ""):
            if old is not None:
                return True
            continue
        try:
            if old is None or float(new) != float(old):
                return True
        except (TypeError, ValueError):
            continue  # not a number: the registry refuses it with its own reason
    return False
