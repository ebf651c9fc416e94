"""``/docs`` (Swagger UI) and ``/redoc`` served from files installed with Citysense.

FastAPI's own pages load their scripts from a CDN, so they are blank in an operations room
without internet. The ``fastapi-offline`` package ships the same Swagger UI and ReDoc
builds (MIT licence, in its dist-info); this module serves them under ``/docs-assets``
and renders FastAPI's page templates against them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

ASSETS = "/docs-assets"
REDOC_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
    " script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; font-src 'self' data:"
)
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def install(app: FastAPI) -> None:
    """Add /docs, /docs/oauth2-redirect, /redoc and their assets to ``app``."""
    static = assets_dir()
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    @app.get(f"{ASSETS}/{{name}}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        if name not in FILES:
            raise HTTPException(404, f"no such documentation file; there are: {', '.join(FILES)}")
        return FileResponse(static / name, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        # ReDoc's "powered by" footer loads its logo from a CDN; nothing else does.
        page.headers["Content-Security-Policy"] = REDOC_POLICY
        return page
