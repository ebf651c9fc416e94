"""The browser the page tests use is real and starts here without downloading anything."""

from __future__ import annotations

from tests.support.browser import chromium


def test_debian_chromium_renders_a_page() -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.set_content("<main><h1 id=t>Citysense</h1></main>")
        assert page.inner_text("#t") == "Citysense"
        assert page.evaluate("window.innerWidth") == 390
