"""The operations page with 10,000 devices on the map stays responsive (a coarse bound)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from core.storage.migrate import migrate
from tests.support.browser import chromium
from tests.support.ops_fleet import seed_fleet
from tests.support.procs import Proc, settings_env
from tests.support.services import scratch_database

DEVICES = 10_000
RENDER_MS = 10_000  # generous: /state for 10,000 devices, markers, first paint
PAN_ZOOM_MS = 3_000  # four zoom steps and pans, each waited to its next painted frame

PAN_ZOOM = """async () => {
  const m = window.citysenseOps.map;
  const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const t0 = performance.now();
  for (const [zoom, dx] of [[11, 0], [12, 300], [10, -300], [9, 0]]) {
    m.setView(m.getCenter(), zoom, {animate: false});
    m.panBy([dx, 80], {animate: false});
    await frame();
  }
  return performance.now() - t0;
}"""


HOVER_TARGET = """() => {
  const ops = window.citysenseOps;
  const first = [...ops.devices.values()].find(e => e.marker && ops.map.getBounds().contains(
    e.marker.getLatLng()));
  const p = ops.map.latLngToContainerPoint(first.marker.getLatLng());
  return [p.x, p.y];
}"""


@pytest.fixture
def big_api(pg_server_url: str, broker: LocalMosquitto, tmp_path: Path) -> Iterator[str]:
    with scratch_database(pg_server_url, prefix="citysense_ops10k") as db:
        migrate(db, retention_days=730)
        seed_fleet(db, DEVICES, alerts=False)
        port = free_port()
        api = Proc(["api"], settings_env(db, broker.port, api_port=str(port)), tmp_path / "api.log")
        try:
            api.wait_for(r"Uvicorn running on")
            yield f"http://127.0.0.1:{port}"
        finally:
            api.kill()


def test_ten_thousand_devices_render_and_pan_quickly(big_api: str) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        started = time.monotonic()
        page.goto(big_api + "/ops")
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
        wall_ms = (time.monotonic() - started) * 1000
        assert page.evaluate("window.citysenseOps.devices.size") == DEVICES
        render_ms = page.evaluate("window.citysenseOps.renderMs")
        pan_zoom_ms = page.evaluate(PAN_ZOOM)
        # Still interactive afterwards: hovering a marker shows its device.
        x, y = page.evaluate(HOVER_TARGET)
        box = page.locator("#map").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + x, box["y"] + y)
        tooltip = page.locator(".leaflet-tooltip:not(.district-label)")
        expect(tooltip).to_contain_text("(", timeout=3_000)
        print(
            f"10k devices: load {wall_ms:.0f} ms, render {render_ms:.0f} ms, "
            f"pan/zoom round {pan_zoom_ms:.0f} ms"
        )
        assert render_ms < RENDER_MS, render_ms
        assert pan_zoom_ms < PAN_ZOOM_MS, pan_zoom_ms
