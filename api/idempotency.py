"""``Idempotency-Key`` for writes: a phone that lost the answer sends the write again and
gets the first answer back, marked ``Idempotent-Replayed: true``; nothing is done twice.

Keys belong to the caller (a digest of the presented API key), so one caller cannot read
another's answers. The first answer is stored without its secrets (:data:`SECRETS`: a
device's MQTT password, an enrolled key, an enrolment link exist in clear only in the
first response); a replay has them empty. Answers of
5xx are not stored: the retry runs the write again. A pure ASGI middleware, so the stored
answer is exactly what the route sent.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.storage import idempotency as store

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
MAX_STORED = 64 * 1024
REDACTED = ""
SECRETS = frozenset({"password", "api_key", "link", "qr_svg"})
"""Answer fields never kept: credentials and enrolment codes exist in clear only once."""


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (REDACTED if k in SECRETS else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _actor(headers: dict[bytes, bytes]) -> str:
    presented = headers.get(b"authorization") or headers.get(b"x-api-key") or b"anonymous"
    return hashlib.sha256(presented).hexdigest()[:40]


async def _send_json(send: Send, status: int, body: Any, replayed: bool = False) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw = headers.get(b"idempotency-key")
        if raw is None:
            await self.app(scope, receive, send)
            return
        key = raw.decode("latin-1")
        if not KEY.match(key):
            await _send_json(
                send,
                400,
                {"detail": "Idempotency-Key: use 8-100 letters, digits, '.', '_', ':' or '-'"},
            )
            return
        pool = scope["app"].state.pool
        actor, request = _actor(headers), f"{scope['method']} {scope['path']}"
        stored = await store.claim(pool, actor=actor, key=key, request=request)
        if stored is not None:
            await self._replay(send, stored, request)
            return
        await self._run(scope, receive, send, pool, actor, key)

    async def _replay(self, send: Send, stored: store.StoredResponse, request: str) -> None:
        if stored.request != request:
            await _send_json(
                send,
                422,
                {"detail": f"Idempotency-Key was used for {stored.request}; use a new key"},
            )
        elif stored.status == store.IN_PROGRESS:
            await _send_json(
                send,
                409,
                {"detail": "the same request is still being handled; retry shortly", "retry": True},
            )
        else:
            await _send_json(send, stored.status, stored.response, replayed=True)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, pool: Any, actor: str, key: str
    ) -> None:
        status = 500
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and len(body) <= MAX_STORED:
                body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await store.release(pool, actor=actor, key=key)
            raise
        if status >= 500:
            await store.release(pool, actor=actor, key=key)
            return
        try:
            answer: Any = _redact(json.loads(bytes(body))) if len(body) <= MAX_STORED else None
        except ValueError:
            answer = None
        if answer is None:
            answer = {"detail": f"done (status {status}); the answer was not kept"}
        await store.complete(pool, actor=actor, key=key, status=status, response=answer)
