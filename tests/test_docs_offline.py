"""/docs and /redoc render with no internet: every request leaving localhost is refused."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Route

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from tests.support.browser import chromium
from tests.support.server import serving_in_thread


def test_swagger_ui_and_redoc_render_in_chromium_with_the_network_off(
    settings: Settings, kinds: KindRegistry
) -> None:
    outside: list[str] = []

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    with serving_in_thread(create_app(settings, kinds)) as base, chromium() as browser:
        page = browser.new_page()
        page.route("**/*", offline)
        page.goto(f"{base}/docs")
        # Swagger UI builds the operation list from /openapi.json: the bundle ran.
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        assert "/readings" in page.inner_text("#swagger-ui")
        page.goto(f"{base}/redoc")
        page.wait_for_selector("[data-section-id]", timeout=20_000)
        assert "Citysense API" in page.inner_text("body")
    assert outside == [], f"the docs asked the internet for {outside}"


def test_the_docs_assets_are_served_and_nothing_else_by_that_route(
    settings: Settings, kinds: KindRegistry
) -> None:
    with serving_in_thread(create_app(settings, kinds)) as base:
        js = httpx.get(f"{base}/docs-assets/swagger-ui-bundle.js", timeout=10)
        assert js.status_code == 200
        assert "javascript" in js.headers["content-type"]
        assert httpx.get(f"{base}/docs-assets/..%2Fcore.py", timeout=10).status_code == 404
        html = httpx.get(f"{base}/docs", timeout=10).text
        assert "cdn.jsdelivr.net" not in html
        assert "/docs-assets/swagger-ui-bundle.js" in html
