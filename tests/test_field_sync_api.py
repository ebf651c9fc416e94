"""Offline writes sent again never happen twice; a change made meanwhile is not overwritten."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from tests.support.api import api_client
from tests.support.registry import role_keys, streetlight

pytestmark = pytest.mark.anyio


async def test_a_write_sent_again_with_its_key_is_answered_once_and_done_once(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    tech = keys["technician"]
    did = f"PJU-IDEM-{uid}"
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        reg = {**tech, "Idempotency-Key": f"reg-{uuid.uuid4()}"}
        first = await http.post("/devices", json=streetlight(did), headers=reg)
        assert first.status_code == 201, first.text
        again = await http.post("/devices", json=streetlight(did), headers=reg)
        assert again.status_code == 201, "the retry gets the first answer, not 'already registered'"
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["x-content-type-options"] == "nosniff", "replays get the headers"
        assert again.json()["device"]["id"] == did
        assert again.json()["credentials"]["password"] == "", "no password is kept in clear"

        # A note sent five times at once (a flaky connection retrying) is one note.
        note = {**tech, "Idempotency-Key": f"note-{uuid.uuid4()}"}
        answers = await asyncio.gather(
            *(
                http.post(f"/devices/{did}/notes", json={"note": "kabel diganti"}, headers=note)
                for _ in range(5)
            )
        )
        assert {a.status_code for a in answers} <= {201, 409}
        assert 201 in {a.status_code for a in answers}
        for _ in range(3):
            r = await http.post(
                f"/devices/{did}/notes", json={"note": "kabel diganti"}, headers=note
            )
            assert r.status_code == 201
        # The key is the caller's own: another caller's same key is another request.
        other = {**keys["admin"], "Idempotency-Key": note["Idempotency-Key"]}
        r = await http.post(f"/devices/{did}/notes", json={"note": "dicek admin"}, headers=other)
        assert r.status_code == 201
        assert "idempotent-replayed" not in r.headers
        # A key reused for another request is refused rather than answered wrongly.
        r = await http.post(f"/devices/{did}/status", json={"status": "active"}, headers=note)
        assert r.status_code == 422
        bad = await http.post(
            f"/devices/{did}/notes", json={"note": "x"}, headers={**tech, "Idempotency-Key": "a"}
        )
        assert bad.status_code == 400
    notes = await pool.fetch(
        "SELECT note FROM device_journal WHERE device_id = $1 AND action = 'note'", did
    )
    assert sorted(n["note"] for n in notes) == ["dicek admin", "kabel diganti"]
    assert await pool.fetchval("SELECT count(*) FROM devices WHERE id = $1", did) == 1


async def test_a_change_based_on_an_old_copy_is_refused_with_a_conflict(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    tech = (await role_keys(pool, uid))["technician"]
    did = f"PJU-CONF-{uid}"
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        seen = (await http.post("/devices", json=streetlight(did), headers=tech)).json()["device"]
        old = {**tech, "If-Match": f'"{seen["updated_at"]}"'}
        # Someone else moves the device meanwhile.
        r = await http.patch(f"/devices/{did}", json={"village": "Darmo"}, headers=tech)
        assert r.status_code == 200
        r = await http.patch(f"/devices/{did}", json={"village": "Pagar Agung"}, headers=old)
        assert r.status_code == 409
        assert r.json()["errors"][0]["field"] == "updated_at"
        assert "diubah orang lain" in r.json()["errors"][0]["pesan"]
        r = await http.post(f"/devices/{did}/status", json={"status": "active"}, headers=old)
        assert r.status_code == 409
        assert (await http.get(f"/devices/{did}")).json()["village"] == "Darmo"
        # Chosen knowingly: sent again against the current copy, it goes through.
        now = (await http.get(f"/devices/{did}")).json()["updated_at"]
        r = await http.patch(
            f"/devices/{did}", json={"village": "Pagar Agung"}, headers={**tech, "If-Match": now}
        )
        assert r.status_code == 200, r.text


async def test_secrets_in_a_first_answer_are_never_kept_for_replays(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    from datetime import timedelta

    from core.storage.enrolments import create_enrolment

    _, code = await create_enrolment(
        pool, technician=f"replay-{uid}", created_by="t", ttl=timedelta(minutes=5)
    )
    headers = {"Idempotency-Key": f"enrol-{uuid.uuid4()}"}
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        first = await http.post("/enrol", json={"code": code}, headers=headers)
        again = await http.post("/enrol", json={"code": code}, headers=headers)
    key = first.json()["api_key"]
    assert key.startswith("cs_")
    assert again.json()["api_key"] == ""
    assert again.json()["name"] == f"replay-{uid}"
    kept = await pool.fetchval(
        "SELECT count(*) FROM idempotency_keys WHERE strpos(response::text, $1) > 0", key
    )
    assert kept == 0


async def test_photos_are_bounded_typed_and_journalled(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    tech = (await role_keys(pool, uid))["technician"]
    did = f"PJU-FOTO-{uid}"
    jpeg = b"\xff\xd8\xff\xe0" + b"x" * 1000
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        assert (await http.post("/devices", json=streetlight(did), headers=tech)).status_code == 201
        url = f"/devices/{did}/photos"
        too_big = await http.post(
            url,
            content=b"x" * (2 * 1024 * 1024 + 1),
            headers={**tech, "Content-Type": "image/jpeg"},
        )
        assert too_big.status_code == 413
        wrong = await http.post(
            url, content=b"hello", headers={**tech, "Content-Type": "text/plain"}
        )
        assert wrong.status_code == 415
        assert wrong.json()["errors"][0]["field"] == "photo"
        ok = await http.post(url, content=jpeg, headers={**tech, "Content-Type": "image/jpeg"})
        assert ok.status_code == 201, ok.text
        listed = (await http.get(url)).json()
        assert [(p["size"], p["actor"]) for p in listed] == [(len(jpeg), f"technician-{uid}")]
        got = await http.get(f"{url}/{listed[0]['id']}")
        assert (got.content, got.headers["content-type"]) == (jpeg, "image/jpeg")
        journal = (await http.get(f"/devices/{did}/journal")).json()
        assert journal[0]["action"] == "photo"
