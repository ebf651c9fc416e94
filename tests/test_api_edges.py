"""The API's edges over real HTTP: odd input is a 4xx, every page carries security headers,
and answers holding a device password are never cached."""

from __future__ import annotations

import secrets

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from api.headers import CONTENT_SECURITY_POLICY
from core.kinds import KindRegistry
from core.settings import Settings
from tests.support.browser import chromium
from tests.support.registry import gauge, role_keys, streetlight
from tests.support.server import serving, serving_in_thread

pytestmark = pytest.mark.anyio


async def test_odd_times_and_paths_are_client_errors_not_server_errors(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    async with (
        serving(create_app(settings, kinds, pool=pool)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        did = f"AWLR-EDGE-{uid}"
        assert (await http.post("/devices", json=gauge(did), headers=keys["admin"])).is_success
        for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
            r = await http.get(f"/devices/{did}/readings", params={"from": when})
            assert r.status_code == 422, (when, r.text)
            assert "between 1970 and 2200" in r.json()["detail"]
            r = await http.get("/readings", params={"device": did, "from": when})
            assert r.status_code == 422, (when, r.text)
        for path in ("/ops/%00", "/ops/a%00.js", "/ops/" + "x" * 5000 + ".js"):
            r = await http.get(path)
            assert r.status_code == 404, (path[:20], r.status_code)


async def test_every_page_carries_security_headers(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    async with (
        serving(create_app(settings, kinds, pool=pool)) as url,
        httpx.AsyncClient(base_url=url, follow_redirects=True) as http,
    ):
        did = f"PJU-HDR-{uid}"
        assert (
            await http.post("/devices", json=streetlight(did), headers=keys["admin"])
        ).is_success
        pages = ["/ops", "/technician/", "/technician", f"/device-labels?ids={did}"]
        for path in pages:
            r = await http.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith("text/html"), path
            assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert r.headers["x-frame-options"] == "DENY", path
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["referrer-policy"] == "no-referrer", path
        for path in ("/docs", "/redoc"):
            r = await http.get(path)
            csp = r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp, path
            assert r.headers["x-frame-options"] == "DENY", path
        for path in ("/state", "/ops/ops.js", "/openapi.json", "/nowhere"):
            assert (await http.get(path)).headers["x-content-type-options"] == "nosniff", path


async def test_answers_with_a_device_password_are_never_cached(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    tech = keys["technician"]
    async with (
        serving(create_app(settings, kinds, pool=pool)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        did = f"PJU-NS-{uid}"
        made = await http.post("/devices", json=streetlight(did), headers=tech)
        rotated = await http.post(f"/devices/{did}/credentials", headers=tech)
        imported = await http.post(
            "/devices/import",
            content=f"id,kind,district\nIMP-NS-{uid},streetlight,Lubai\n".encode(),
            headers=tech,
        )
        for name, r in (("register", made), ("rotate", rotated), ("import", imported)):
            assert r.is_success, (name, r.text)
            assert "password" in r.text, name
            assert r.headers["cache-control"] == "no-store", name
        listed = await http.get(f"/devices/{did}")
        assert "no-store" not in listed.headers.get("cache-control", "")


def test_the_pages_run_under_their_content_security_policy(
    settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    admin = secrets.token_urlsafe()
    app = create_app(settings.model_copy(update={"admin_api_key": SecretStr(admin)}), kinds)
    violations: list[str] = []
    with serving_in_thread(app) as url, chromium() as browser:
        # a device, so the map draws a marker and the legend its coloured swatches
        made = httpx.post(
            f"{url}/devices",
            json=streetlight(f"PJU-CSP-{uid}"),
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert made.status_code == 201, made.text
        page = browser.new_page()
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{url}/ops")
        page.wait_for_function(
            "() => typeof L !== 'undefined' && !!document.querySelector('.leaflet-container')"
            " && !!document.querySelector('#counts i')"
        )
        page.goto(f"{url}/technician/")
        page.wait_for_function("() => document.getElementById('device-id') !== null")
        page.wait_for_timeout(500)  # late script and style loads report here too
    assert violations == []
