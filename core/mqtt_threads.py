"""Crossing from paho's network thread (style.md habit 6).

paho runs its callbacks on its own thread and, unless told otherwise, re-raises what they
raise: the exception ends ``loop_forever`` and with it the thread, so the client silently
stops receiving while the process looks alive. Every callback that does more than set a
flag goes through :func:`guarded`; a message bound for an asyncio loop goes through
:func:`hand_over`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


def guarded(what: str, callback: Callable[P, None]) -> Callable[P, None]:
    """``callback`` that logs what it raises (naming ``what``) instead of raising it."""

    @functools.wraps(callback)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            callback(*args, **kwargs)
        except Exception:
            log.exception("%s: a callback on the MQTT thread failed; the client goes on", what)

    return run


def hand_over(
    what: str,
    loop: asyncio.AbstractEventLoop | None,
    queue: asyncio.Queue[T] | None,
    item: T,
) -> None:
    """Put ``item`` on ``queue`` in ``loop`` from paho's thread; never raises. Before the
    service runs or after its loop closed, the message is dropped here unacknowledged, so
    the broker delivers it again to the next session."""
    if loop is None or queue is None:
        log.warning("%s: a message arrived before the service was running; not taken", what)
        return
    try:
        loop.call_soon_threadsafe(queue.put_nowait, item)
    except RuntimeError:  # the loop is closed: shutting down
        log.info("%s: a message arrived while shutting down; not taken", what)
