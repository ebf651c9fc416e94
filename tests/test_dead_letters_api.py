"""Refused messages for operators through the API: filtered by device, reason and time,
paginated, each payload only a bounded preview; and the newest refusal per device."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.dead_letter_reads import PREVIEW_BYTES
from core.storage.dead_letters import DeadLetter, insert_dead_letters
from tests.support.api import api_client

pytestmark = pytest.mark.anyio


async def test_dead_letters_filter_page_and_stay_bounded(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    broken, other = f"AWLR-FW-{uid}", f"PJU-FW-{uid}"
    now = datetime.now(UTC)
    letters = [
        DeadLetter(
            now - timedelta(minutes=10 - i),
            f"t/{broken}",
            broken,
            "not_json",
            f"payload is not JSON ({i})",
            b"{" * 10_000,
        )
        for i in range(5)
    ] + [
        DeadLetter(
            now - timedelta(hours=30),
            f"t/{other}",
            other,
            "invalid",
            "water_level: expected a number",
            b'{"water_level": "x"}',
        ),
        DeadLetter(
            now - timedelta(minutes=1), f"t/{other}", other, "invalid", "ts is required", b"{}"
        ),
    ]
    async with pool.acquire() as conn:
        await insert_dead_letters(conn, letters)
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        first = (await http.get("/dead-letters", params={"device": broken, "limit": 3})).json()
        assert [m["reason"] for m in first["items"]] == [
            "payload is not JSON (4)",
            "payload is not JSON (3)",
            "payload is not JSON (2)",
        ]
        assert all(len(m["payload_preview"]) == PREVIEW_BYTES for m in first["items"])
        assert first["items"][0]["payload_bytes"] == 10_000
        rest = (
            await http.get(
                "/dead-letters",
                params={"device": broken, "limit": 3, "before_id": first["next_before_id"]},
            )
        ).json()
        assert len(rest["items"]) == 2
        assert rest["next_before_id"] is None

        invalid = (
            await http.get(
                "/dead-letters",
                params={
                    "device": other,
                    "reason": "invalid",
                    "from": (now - timedelta(hours=2)).isoformat(),
                },
            )
        ).json()
        assert [m["reason"] for m in invalid["items"]] == ["ts is required"]

        latest = (await http.get("/dead-letters/latest", params={"limit": 200})).json()
        mine = {x["device_id"]: x for x in latest["items"] if uid in (x["device_id"] or "")}
        assert mine[broken]["count"] == 5
        assert mine[broken]["reason"] == "payload is not JSON (4)"
        assert mine[other]["count"] == 1, "the 30-hour-old refusal is outside the 24 h window"

        naive = await http.get("/dead-letters", params={"from": "2026-12-06T07:00:00"})
        assert naive.status_code == 422
        assert "UTC offset" in naive.json()["detail"]
        bad = await http.get("/dead-letters", params={"limit": 5000})
        assert bad.status_code == 422
        assert "limit" in bad.json()["detail"]
