"""History: readings of a set of devices over a range, raw or in buckets, as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import StreamingResponse

from api import params
from api.auth import Reader
from api.deps import HeavyDep, KindsDep, PoolDep, SettingsDep
from api.limits import BUSY, HeavyLimiter, Slot, capped
from api.models import Problem
from api.ops_models import Bucket, History
from core.kinds import DeviceKind, KindRegistry
from core.settings import Settings
from core.storage.history import (
    BucketQuery,
    RawQuery,
    bucket_json_chunks,
    bucket_row_chunks,
    count_raw,
    raw_json_chunks,
    raw_row_chunks,
    rollup_exists,
    select_devices,
)
from core.storage.rollups import AGGS, numeric_fields

router = APIRouter(tags=["readings"])

BUCKETS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
MAX_POINTS = 200_000
"""Rows (devices x buckets) in one answer; more is a request for a coarser bucket."""
MAX_VALUES = 500_000
"""Values (devices x buckets x fields x aggregates) in one answer: what an answer costs."""
MAX_RAW_ROWS = 50_000
MAX_RAW_RANGE = timedelta(days=31)
MAX_BUCKET_RANGE = timedelta(days=732)
MAX_DEVICES = 10_000


def _floor_local(t: datetime, bucket: timedelta, tz: ZoneInfo) -> datetime:
    """The start of the local-time bucket holding ``t`` (buckets count from local midnight)."""
    local = t.astimezone(tz)
    midnight = datetime.combine(local.date(), dtime.min, tz)
    if bucket >= timedelta(days=1):
        return midnight
    since = (local - midnight).total_seconds()
    step = bucket.total_seconds()
    return midnight + timedelta(seconds=since - since % step)


def _align(
    start: datetime, end: datetime, bucket: timedelta, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """Widen [start, end) to whole local buckets."""
    a = _floor_local(start, bucket, tz)
    b = _floor_local(end, bucket, tz)
    if b < end:
        if bucket >= timedelta(days=1):
            b = datetime.combine(b.date() + timedelta(days=1), dtime.min, tz)
        else:
            b = b + bucket
    return a.astimezone(UTC), b.astimezone(UTC)


def _whole_hour_zone(tz: ZoneInfo, *moments: datetime) -> bool:
    for m in moments:
        off = m.astimezone(tz).utcoffset()
        if off is None or off.total_seconds() % 3600:
            return False
    return True


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [p.strip() for p in v.split(",") if p.strip()]
    return out


def _choose_kind(kinds: KindRegistry, kind: str | None, found: set[str]) -> DeviceKind:
    if kind is not None:
        return kinds[kind]
    if len(found) > 1:
        raise HTTPException(
            422, f"the devices are of several kinds ({', '.join(sorted(found))}); add kind="
        )
    name = next(iter(found))
    if name not in kinds:
        raise HTTPException(422, f"devices of kind {name!r} are not served by this API")
    return kinds[name]


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or not (
        -180 <= parts[0] <= parts[2] <= 180 and -90 <= parts[1] <= parts[3] <= 90
    ):
        raise HTTPException(
            422,
            "bbox is min_lon,min_lat,max_lon,max_lat in degrees, e.g."
            " 103.3,-4.4,104.7,-3.0 (min before max)",
        )
    return parts[0], parts[1], parts[2], parts[3]


CSV_EXAMPLE = "device_id,time,water_level_avg\nAWLR-SKR-01,2026-11-28T07:00:00+07:00,412.5\n"


@router.get(
    "/readings",
    response_model=History,
    response_model_by_alias=True,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}}},
        404: {"model": Problem, "description": "A named device is not registered"},
        422: {"model": Problem, "description": "A parameter is wrong; the detail says how"},
        429: BUSY,
    },
)
async def readings(
    pool: PoolDep,
    kinds: KindsDep,
    heavy: HeavyDep,
    settings: SettingsDep,
    _: Reader,
    device: Annotated[
        list[str] | None, Query(description="Device id(s); repeat or comma-separate.")
    ] = None,
    kind: Annotated[str | None, Query(description="Devices of this kind.")] = None,
    district: Annotated[str | None, Query(description="Devices in this district.")] = None,
    bbox: Annotated[
        str | None,
        Query(
            description="Devices inside min_lon,min_lat,max_lon,max_lat.",
            examples=["103.3,-4.4,104.7,-3.0"],
        ),
    ] = None,
    start: Annotated[
        datetime | None,
        Query(
            alias="from", description="Start (inclusive), with offset; default 24 h before 'to'."
        ),
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="End (exclusive), with offset; default now.")
    ] = None,
    bucket: Annotated[
        Bucket | None, Query(description="Bucket size; omit for raw readings.")
    ] = None,
    agg: Annotated[
        str, Query(description="Comma-separated: avg, min, max, last, count (bucketed only).")
    ] = "avg",
    field: Annotated[
        list[str] | None,
        Query(description="Field(s) to return; default all (numeric when bucketed)."),
    ] = None,
    tz: Annotated[
        str, Query(description="IANA zone buckets align to and times display in.")
    ] = "Asia/Jakarta",
    format: Annotated[
        str, Query(pattern="^(json|csv)$", description="json (default) or csv.")
    ] = "json",
) -> Response:
    """Readings of a device or a set of devices (by kind, district, bounding box) over a range.

    Bucketed answers list every bucket of the range for every device; a bucket without
    readings has null aggregates (count 0): gaps stay gaps. Hour and day buckets come from
    the hourly rollup.
    """
    zone = params.zone(tz)
    ids = params.device_ids(device)
    kind = params.kind(kinds, params.text(kind, "kind"))
    district = params.text(district, "district")
    box = _bbox(params.text(bbox, "bbox", 100))
    if ids is None and kind is None and district is None and box is None:
        raise HTTPException(422, "choose devices: give device=, kind=, district= or bbox=")
    end_t = params.aware(end, "to") if end else datetime.now(UTC)
    start_t = params.aware(start, "from") if start else end_t - timedelta(hours=24)
    if start_t >= end_t:
        raise HTTPException(422, "'from' must be before 'to'")
    heavy.check()
    selected = await select_devices(
        pool, device_ids=ids, kind=kind, district=district, bbox=box, limit=MAX_DEVICES + 1
    )
    if ids is not None:
        missing = sorted(set(ids) - {s.id for s in selected})
        if missing and not (kind or district or box):
            raise HTTPException(404, f"device(s) not registered: {', '.join(missing[:10])}")
    if len(selected) > MAX_DEVICES:
        raise HTTPException(422, f"more than {MAX_DEVICES} devices match; narrow the selection")
    if not selected:
        raise HTTPException(404, "no registered device matches the selection")
    k = _choose_kind(kinds, kind, {s.kind for s in selected})
    device_ids = [s.id for s in selected if s.kind == k.name]
    aggs = _split([agg])
    bad_aggs = [a for a in aggs if a not in AGGS]
    if bad_aggs or not aggs:
        raise HTTPException(
            422, f"unknown agg {', '.join(bad_aggs) or '(empty)'}; use: {', '.join(AGGS)}"
        )
    wanted = _split(field)
    known = {f.name for f in k.fields}
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise HTTPException(
            422, f"{k.name} has no field {', '.join(unknown)}; fields: {', '.join(sorted(known))}"
        )
    if bucket is None:
        return await _raw(
            pool,
            heavy,
            settings,
            k,
            device_ids,
            start_t,
            end_t,
            wanted or [f.name for f in k.fields],
            tz,
            zone,
            format,
        )
    numeric = [f.name for f in numeric_fields(k)]
    not_numeric = [f for f in wanted if f not in numeric]
    if not_numeric:
        raise HTTPException(
            422,
            f"bucketed queries aggregate numeric fields; {', '.join(not_numeric)} is not."
            f" Numeric: {', '.join(numeric)}",
        )
    fields = wanted or numeric
    size = BUCKETS[bucket]
    if end_t - start_t > MAX_BUCKET_RANGE:
        raise HTTPException(422, f"range is longer than {MAX_BUCKET_RANGE.days} days; narrow it")
    a, b = _align(start_t, end_t, size, zone)
    _check_cost(len(device_ids), (b - a) / size, len(fields), len(aggs), b - a, bucket)
    slot = await heavy.slot()
    try:
        use_rollup = (
            size >= timedelta(hours=1)
            and _whole_hour_zone(zone, a, b)
            and await rollup_exists(pool, k)
        )
        q = BucketQuery(k, device_ids, a, b, size, tz, fields, aggs, use_rollup)
        source = "rollup" if use_rollup else "raw"
        if format == "csv":
            header = ["device_id", "time", *[f"{f}_{g}" for f in fields for g in aggs]]
            return await _csv(
                header, bucket_row_chunks(pool, q), zone, f"{k.name}-{bucket}.csv", settings, slot
            )
        head = _head(k.name, bucket, tz, a, b, fields, aggs, source)
        return await _json(head, bucket_json_chunks(pool, q), settings, slot)
    except BaseException:
        slot.release()
        raise


def _check_cost(
    devices: int, buckets: float, fields: int, aggs: int, span: timedelta, bucket: str
) -> None:
    """Refuse an answer of more than MAX_POINTS rows or MAX_VALUES values, naming the fix."""
    rows = devices * int(buckets)
    values = rows * fields * aggs
    if rows <= MAX_POINTS and values <= MAX_VALUES:
        return
    per_row = fields * aggs
    coarser = [
        n
        for n, s in BUCKETS.items()
        if s > BUCKETS[bucket]
        and devices * (span / s) <= MAX_POINTS
        and devices * (span / s) * per_row <= MAX_VALUES
    ]
    fixes = [f"use bucket={coarser[0]}" if coarser else "choose fewer devices"]
    if per_row > 1:
        fixes.append("fewer fields (field=) or aggregates (agg=)")
    fixes.append("a shorter range")
    raise HTTPException(
        422,
        f"this would return {values} values ({devices} devices x {int(buckets)} buckets x"
        f" {fields} fields x {aggs} aggregates), more than {MAX_VALUES} (or more than"
        f" {MAX_POINTS} rows); jawaban terlalu besar / answer too large: {', '.join(fixes)}",
    )


async def _raw(
    pool: Any,
    heavy: HeavyLimiter,
    settings: Settings,
    k: DeviceKind,
    ids: list[str],
    start: datetime,
    end: datetime,
    fields: list[str],
    tz: str,
    zone: ZoneInfo,
    format: str,
) -> Response:
    if end - start > MAX_RAW_RANGE:
        raise HTTPException(
            422, f"raw range is longer than {MAX_RAW_RANGE.days} days; narrow it or add bucket="
        )
    slot = await heavy.slot()
    try:
        q = RawQuery(k, ids, start, end, fields, tz, MAX_RAW_ROWS + 1)
        if await count_raw(pool, q) > MAX_RAW_ROWS:
            raise HTTPException(
                422,
                f"more than {MAX_RAW_ROWS} readings match; add bucket=, narrow the range or"
                " devices",
            )
        if format == "csv":
            header = ["device_id", "time", "received_at", *fields]
            return await _csv(
                header, raw_row_chunks(pool, q), zone, f"{k.name}.csv", settings, slot
            )
        head = _head(k.name, None, tz, start, end, fields, [], "raw")
        return await _json(head, raw_json_chunks(pool, q), settings, slot)
    except BaseException:
        slot.release()
        raise


def _head(
    kind: str,
    bucket: str | None,
    tz: str,
    a: datetime,
    b: datetime,
    fields: list[str],
    aggs: list[str],
    source: str,
) -> str:
    zone = ZoneInfo(tz)
    head = json.dumps(
        {
            "kind": kind,
            "bucket": bucket,
            "tz": tz,
            "from": a.astimezone(zone).isoformat(),
            "to": b.astimezone(zone).isoformat(),
            "fields": fields,
            "agg": aggs,
            "source": source,
        }
    )
    return head[:-1] + ', "rows": ['


async def _json(
    head: str, chunks: AsyncIterator[list[str]], settings: Settings, slot: Slot
) -> Response:
    def tail(reason: str | None) -> str:
        return "]}" if reason is None else "], " + json.dumps({"truncated": reason})[1:]

    body = capped(
        chunks,
        sep=",",
        head=head,
        tail=tail,
        max_bytes=settings.api_max_response_bytes,
        slot=slot,
    )
    first = await anext(body)  # runs the query: its errors are a 4xx before any byte is sent
    return StreamingResponse(_chain(first, body), media_type="application/json")


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for b in rest:
        yield b


async def _csv(
    header: list[str],
    chunks: AsyncIterator[list[tuple[object, ...]]],
    zone: ZoneInfo,
    name: str,
    settings: Settings,
    slot: Slot,
) -> Response:
    def text(rows: list[tuple[object, ...]]) -> list[str]:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        out = []
        for r in rows:
            buf.seek(0)
            buf.truncate()
            w.writerow(
                ""
                if v is None
                else v.astimezone(zone).isoformat()
                if isinstance(v, datetime)
                else v
                for v in r
            )
            out.append(buf.getvalue())  # one whole record, quoted newlines included
        return out

    async def lines() -> AsyncIterator[list[str]]:
        async for rows in chunks:
            yield text(rows)

    def tail(reason: str | None) -> str:
        return "" if reason is None else f"# truncated: {reason}\n"

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(header)
    body = capped(
        lines(),
        head=buf.getvalue(),
        tail=tail,
        max_bytes=settings.api_max_response_bytes,
        slot=slot,
    )
    first = await anext(body)
    return StreamingResponse(
        _chain(first, body),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
