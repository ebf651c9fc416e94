"""Security headers on every response (routes carrying secrets add ``no-store`` themselves).

A pure ASGI middleware (it only edits the ``http.response.start`` message), so streamed
answers and Server-Sent Events pass through untouched.

The built-in pages (``/ops``, ``/technician/``) load only their own scripts and styles
(Leaflet is vendored), so scripts are limited to the page's origin. Styles allow inline
attributes because the pages colour legend entries and markers with ``style=``. Images allow
any https source because the operations room chooses its own map tile server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data: blob: https:; media-src 'self' blob: mediastream:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
DOCS_PAGES = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net;"
    " style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com;"
    " font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:;"
    " connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none';"
    " frame-ancestors 'none'"
)
"""FastAPI's documentation pages load Swagger UI / ReDoc from a CDN with an inline script."""
ALWAYS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k.lower(), v) for k, v in message.get("headers", [])]
                names = {k for k, _ in headers}
                headers += [(k, v) for k, v in ALWAYS if k not in names]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    policy = DOCS_POLICY if scope["path"] in DOCS_PAGES else CONTENT_SECURITY_POLICY
                    headers.append((b"content-security-policy", policy.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
