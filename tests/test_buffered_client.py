"""The read buffer under paho hands out exactly the bytes the socket delivered, in order,
and tells paho (via pending) when more are waiting without another select."""

from __future__ import annotations

import socket

import pytest

from ingest.buffered_client import BufferedSocket


def test_small_reads_come_from_one_large_recv_in_order() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        data = bytes(range(256)) * 40
        a.sendall(data)
        buffered = BufferedSocket(b)
        out = bytearray(buffered.recv(1))
        assert buffered.pending() == len(data) - 1
        while buffered.pending():
            out += buffered.recv(7)
        assert bytes(out) == data
        with pytest.raises(BlockingIOError):
            buffered.recv(1)  # empty buffer, nothing on the socket: paho's "try again"
        assert buffered.fileno() == b.fileno()
        a.close()
        assert buffered.recv(1) == b""  # peer closed: paho sees the connection lost
