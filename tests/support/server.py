"""The API served by a real uvicorn on a free port, in a background thread (for browsers)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from api.app import create_app
from citysense.local.ports import free_port
from core.kinds import KindRegistry
from core.settings import Settings


@contextmanager
def serving(settings: Settings, kinds: KindRegistry) -> Iterator[str]:
    """Yields the base URL; the app opens its own pool on its own loop."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, kinds), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
