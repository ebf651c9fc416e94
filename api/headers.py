"""Security headers on every response, and ``no-store`` on the ones carrying secrets.

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
ALWAYS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
SECRET_BEARING = b"x-citysense-secret"
"""A route sets this response header (any value) when its body carries a secret; the
middleware replaces it with ``Cache-Control: no-store``."""

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
                secret = SECRET_BEARING in names
                headers = [(k, v) for k, v in headers if k not in (SECRET_BEARING,)]
                headers += [(k, v) for k, v in ALWAYS if k not in names]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                if secret:
                    headers = [(k, v) for k, v in headers if k not in (b"cache-control", b"pragma")]
                    headers += [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
