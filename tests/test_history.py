"""History: buckets aligned in the viewer's zone, gaps as gaps, rollups that stay exact
(late data included), CSV, and bad requests answered with a fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.batches import write_batch
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.rollups import refresh_rollups
from core.wire import Reading
from tests.support.api import api_client

pytestmark = pytest.mark.anyio
WIB = ZoneInfo("Asia/Jakarta")


def day_start() -> datetime:
    """Local midnight in Jakarta, three days ago."""
    d = (datetime.now(WIB) - timedelta(days=3)).date()
    return datetime(d.year, d.month, d.day, tzinfo=WIB)


async def _seed(
    pool: asyncpg.Pool, kinds: KindRegistry, device: str, at: list[tuple[timedelta, float]]
) -> None:
    base = day_start()
    await write_batch(
        pool,
        kinds,
        [Reading(device, "flood_gauge", base + off, {"water_level": v}) for off, v in at],
        [],
        datetime.now(UTC),
    )


def _hours(body: dict, field: str = "water_level") -> list[tuple[str, object, object, object]]:  # type: ignore[type-arg]
    return [
        (
            r["time"],
            r["values"][field]["avg"],
            r["values"][field]["count"],
            r["values"][field]["last"],
        )
        for r in body["rows"]
    ]


async def test_hour_buckets_align_in_local_time_show_gaps_and_survive_late_data(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    g = f"AWLR-H-{uid}"
    await upsert_devices(
        pool, [DeviceRow(g, "flood_gauge", "g", "active", "Muara Enim", None, None)]
    )
    await _seed(
        pool,
        kinds,
        g,
        [
            (timedelta(minutes=10), 10.0),
            (timedelta(minutes=20), 20.0),
            (timedelta(hours=2, minutes=30), 40.0),
        ],
    )
    base = day_start()
    day = base.date().isoformat()
    q = {
        "device": g,
        "bucket": "1h",
        "agg": "avg,count,last",
        "from": base.isoformat(),
        "to": (base + timedelta(hours=4)).isoformat(),
    }
    expected = [
        (f"{day}T00:00:00+07:00", 15.0, 2, 20.0),
        (f"{day}T01:00:00+07:00", None, 0, None),
        (f"{day}T02:00:00+07:00", 40.0, 1, 40.0),
        (f"{day}T03:00:00+07:00", None, 0, None),
    ]
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        before = (await http.get("/readings", params=q)).json()
        assert before["source"] == "rollup"
        assert _hours(before) == expected, "dirty hours are answered from raw rows"
        while (await refresh_rollups(pool, kinds)).buckets:
            pass
        assert (
            await pool.fetchval("SELECT count(*) FROM rollup_flood_gauge_1h WHERE device_id=$1", g)
            == 2
        )
        assert _hours((await http.get("/readings", params=q)).json()) == expected

        # late data for an hour already rolled up
        await _seed(pool, kinds, g, [(timedelta(hours=1, minutes=30), 99.0)])
        late = _hours((await http.get("/readings", params=q)).json())
        assert late[1] == (f"{day}T01:00:00+07:00", 99.0, 1, 99.0)
        # fields in another order than declared: the rollup and raw halves still line up
        mixed = await http.get("/readings", params={**q, "field": "rain,water_level"})
        assert _hours(mixed.json()) == _hours((await http.get("/readings", params=q)).json())
        while (await refresh_rollups(pool, kinds)).buckets:
            pass
        assert (
            await pool.fetchval(
                "SELECT water_level_sum FROM rollup_flood_gauge_1h"
                " WHERE device_id = $1 AND bucket = $2",
                g,
                base + timedelta(hours=1),
            )
            == 99.0
        )
        assert _hours((await http.get("/readings", params=q)).json())[1] == late[1]

        days = (
            await http.get(
                "/readings",
                params={
                    **q,
                    "bucket": "1d",
                    "from": (base - timedelta(hours=1)).isoformat(),
                    "to": (base + timedelta(hours=5)).isoformat(),
                },
            )
        ).json()
        prev = (base - timedelta(days=1)).date().isoformat()
        assert [(r["time"], r["values"]["water_level"]["count"]) for r in days["rows"]] == [
            (f"{prev}T00:00:00+07:00", 0),
            (f"{day}T00:00:00+07:00", 4),
        ]
        assert days["rows"][1]["values"]["water_level"]["avg"] == pytest.approx(
            (10 + 20 + 99 + 40) / 4
        )

        utc = (await http.get("/readings", params={**q, "bucket": "1d", "tz": "UTC"})).json()
        assert [r["time"][-6:] for r in utc["rows"]] == ["+00:00"] * len(utc["rows"])
        assert all(r["time"][11:19] == "00:00:00" for r in utc["rows"])

        quarter = (
            await http.get(
                "/readings",
                params={**q, "bucket": "15m", "to": (base + timedelta(minutes=45)).isoformat()},
            )
        ).json()
        assert quarter["source"] == "raw"
        assert [(r["time"][11:16], r["values"]["water_level"]["avg"]) for r in quarter["rows"]] == [
            ("00:00", 10.0),
            ("00:15", 20.0),
            ("00:30", None),
        ]

        csv = await http.get("/readings", params={**q, "format": "csv", "field": "water_level"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines() == [
            "device_id,time,water_level_avg,water_level_count,water_level_last",
            f"{g},{day}T00:00:00+07:00,15.0,2,20.0",
            f"{g},{day}T01:00:00+07:00,99.0,1,99.0",
            f"{g},{day}T02:00:00+07:00,40.0,1,40.0",
            f"{g},{day}T03:00:00+07:00,,0,",
        ]
        raw = (
            await http.get(
                "/readings",
                params={
                    "device": g,
                    "from": base.isoformat(),
                    "to": (base + timedelta(hours=1)).isoformat(),
                },
            )
        ).json()
        assert [(r["time"], r["values"]) for r in raw["rows"]] == [
            (f"{day}T00:10:00+07:00", {"water_level": 10.0}),
            (f"{day}T00:20:00+07:00", {"water_level": 20.0}),
        ]


async def test_a_set_of_devices_by_district_and_bbox(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    district = f"Kec-{uid}"
    inside, outside = f"AWLR-IN-{uid}", f"AWLR-OUT-{uid}"
    await upsert_devices(
        pool,
        [
            DeviceRow(inside, "flood_gauge", "a", "active", district, -3.9, 103.8),
            DeviceRow(outside, "flood_gauge", "b", "active", district, -4.3, 104.6),
        ],
    )
    await _seed(pool, kinds, inside, [(timedelta(minutes=5), 1.0)])
    base = day_start()
    q = {
        "bucket": "1h",
        "from": base.isoformat(),
        "to": (base + timedelta(hours=1)).isoformat(),
        "field": "water_level",
    }
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        both = (await http.get("/readings", params={**q, "district": district})).json()
        assert sorted(r["device_id"] for r in both["rows"]) == [inside, outside]
        boxed = (
            await http.get(
                "/readings", params={**q, "district": district, "bbox": "103.5,-4.0,104.0,-3.5"}
            )
        ).json()
        assert [r["device_id"] for r in boxed["rows"]] == [inside]


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        (
            {
                "kind": "streetlight",
                "field": "voltage",  # one field: a coarser bucket fits however many lights
                "bucket": "1m",
                "from": "2026-01-01T00:00:00Z",
                "to": "2026-11-01T00:00:00Z",
            },
            422,
            "use bucket=",
        ),
        (
            {"device": "{g}", "from": "2026-11-28T10:00:00Z", "to": "2026-11-28T09:00:00Z"},
            422,
            "before 'to'",
        ),
        ({"device": "{g}", "from": "2026-11-28T10:00:00"}, 422, "needs a UTC offset"),
        ({"device": "{g}", "field": "colour"}, 422, "has no field colour; fields:"),
        (
            {"device": "{g}", "bucket": "1h", "field": "power_source"},
            422,
            "aggregate numeric fields",
        ),
        (
            {"device": "{g}", "bucket": "1h", "agg": "median"},
            422,
            "use: avg, min, max, last, count",
        ),
        ({"device": "{g}", "tz": "Mars/Olympus"}, 422, "IANA name"),
        ({"device": "NOPE-{g}"}, 404, "not registered"),
        ({"device": "bad id!"}, 422, "not a device id"),
        ({"bbox": "1,2,3"}, 422, "min_lon,min_lat,max_lon,max_lat"),
        ({}, 422, "choose devices"),
        (
            {"device": "{g}", "from": "2025-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
            422,
            "add bucket=",
        ),
        ({"device": "{g}", "bucket": "1w"}, 422, "bucket: expected"),
        ({"device": "{g}", "format": "xml"}, 422, "format"),
        (
            {
                "device": "{g}",
                "bucket": "1d",
                "from": "9999-12-30T00:00:00Z",
                "to": "9999-12-31T23:00:00Z",
            },
            422,
            "between 1970 and 2200",
        ),
    ],
)
async def test_bad_history_requests_say_how_to_fix_them(
    settings: Settings,
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    uid: str,
    params: dict[str, str],
    status: int,
    fragment: str,
) -> None:
    g = f"AWLR-BAD-{uid}"
    await upsert_devices(pool, [DeviceRow(g, "flood_gauge", "g", "active", None, None, None)])
    await upsert_devices(
        pool,
        [
            DeviceRow(f"PJU-MANY-{uid}-{i}", "streetlight", "l", "active", None, None, None)
            for i in range(2)
        ],
    )
    p = {k: v.replace("{g}", g) for k, v in params.items()}
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        r = await http.get("/readings", params=p)
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"]
