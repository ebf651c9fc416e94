"""The device side of the contract: keep what is not confirmed stored, bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simulators.store_forward import UnconfirmedBuffer, newest_ts

T0 = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def at(s: int) -> datetime:
    return T0 + timedelta(seconds=s)


def test_a_watermark_confirms_what_it_covers_and_the_rest_is_resent() -> None:
    buf = UnconfirmedBuffer()
    for s in range(5):
        buf.add(at(s), b"%d" % s)
    buf.confirm(at(2))
    assert len(buf) == 2
    assert buf.unconfirmed() == [b"3", b"4"]


def test_an_older_watermark_never_unconfirms() -> None:
    buf = UnconfirmedBuffer()
    buf.add(at(1), b"1")
    buf.add(at(5), b"5")
    buf.confirm(at(3))
    buf.confirm(at(0))  # a crashed broker handed out an older retained watermark
    assert buf.watermark == at(3)
    assert buf.unconfirmed() == [b"5"]


def test_the_buffer_is_bounded_and_counts_what_it_dropped() -> None:
    buf = UnconfirmedBuffer(max_messages=3)
    for s in range(5):
        buf.add(at(s), b"%d" % s)
    assert len(buf) == 3
    assert buf.dropped == 2
    assert buf.unconfirmed() == [b"2", b"3", b"4"]


def test_only_messages_unconfirmed_for_a_while_are_retried() -> None:
    buf = UnconfirmedBuffer()
    buf.add(at(1), b"old", at=10.0)
    buf.add(at(2), b"new", at=50.0)
    assert buf.unconfirmed(sent_before=40.0, now=60.0) == [b"old"]
    assert buf.unconfirmed(sent_before=40.0, now=61.0) == []  # sent again at 60


def test_the_newest_ts_of_a_backlog_array_is_what_a_watermark_must_reach() -> None:
    payload = b'[{"ts": 1764306000000, "rain": 1}, {"ts": "2026-11-28T12:00:05+07:00"}]'
    assert newest_ts(payload) == datetime(2026, 11, 28, 5, 0, 5, tzinfo=UTC)
    assert newest_ts(b"not json") is None
