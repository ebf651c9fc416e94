"""Ports for ``citysense up``: a configured port must be free; otherwise a free one is chosen."""

from __future__ import annotations

import errno
import socket

from citysense.commands import UsageError


def bind(host: str, port: int) -> socket.socket | None:
    """A bound TCP socket, or None when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            return None
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror}); check CITYSENSE_API_HOST"
        ) from None
    return sock


def api_socket(host: str, port: int, *, configured: bool) -> socket.socket:
    """Bind the API's socket up front, so the port cannot be taken between choice and use.

    A configured port that is taken is an error; the default port falls back to any free one.
    """
    sock = bind(host, port)
    if sock is not None:
        return sock
    if configured:
        raise UsageError(
            f"port {port} on {host} is already in use; stop what is using it, or choose"
            " another with --port or CITYSENSE_API_PORT"
        )
    sock = bind(host, 0)
    assert sock is not None
    return sock
