"""The technician's phone page: plain HTML/JS/CSS files, no build step; an installable web
app (manifest, service worker scoped to /technician/) that opens without a signal."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).resolve().parent.parent / "static" / "technician"
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "offline.js": "text/javascript; charset=utf-8",
    "tasks.js": "text/javascript; charset=utf-8",
    "jsqr.min.js": "text/javascript; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
    "icon-192.png": "image/png",
    "icon-512.png": "image/png",
}

router = APIRouter(tags=["technician page"], include_in_schema=False)


@router.get("/technician")
async def page_root() -> RedirectResponse:
    return RedirectResponse("/technician/")


@router.get("/technician/")
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type=FILES["index.html"])


@router.get("/technician/{name}")
async def asset(name: str) -> FileResponse:
    if name not in FILES:
        raise HTTPException(404, f"no such file {name!r}")
    return FileResponse(
        STATIC / name, media_type=FILES[name], headers={"Cache-Control": "no-cache"}
    )
