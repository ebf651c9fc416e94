"""The per-device dead-letter quota: what is kept, what is counted, what says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.storage.dead_letters import DeadLetter
from ingest.dead_letter_quota import QUOTA_CODE, DeadLetterQuota

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def letter(device: str | None, n: int, at: datetime = T0) -> DeadLetter:
    return DeadLetter(at, f"citysense/v1/flood_gauge/{device}/telemetry", device, "not_json",
                      f"bad {n}", b"x")  # fmt: skip


def test_a_device_over_its_quota_gets_one_notice_and_the_rest_is_counted() -> None:
    quota = DeadLetterQuota(limit=2, window_s=600)
    kept, dropped = quota.admit([letter("A", i) for i in range(5)] + [letter("B", 0)], T0)
    assert [(d.device_id, d.code) for d in kept] == [
        ("A", "not_json"), ("A", "not_json"), ("A", QUOTA_CODE), ("B", "not_json"),
    ]  # fmt: skip
    assert dropped == 2
    assert "reached its quota of 2 dead letters per 600 s" in kept[2].reason
    assert kept[2].reason.endswith("this one was: bad 2")

    later = T0 + timedelta(seconds=601)
    kept, dropped = quota.admit([letter("A", 9, later)], later)
    assert [d.code for d in kept] == [QUOTA_CODE, "not_json"]
    assert "2 more rejected messages in that window were counted but not kept" in kept[0].reason
    assert dropped == 0


def test_messages_without_a_device_share_one_quota() -> None:
    quota = DeadLetterQuota(limit=1, window_s=60)
    kept, dropped = quota.admit([letter(None, i) for i in range(3)], T0)
    assert [d.code for d in kept] == ["not_json", QUOTA_CODE]
    assert "messages without a device id" in kept[1].reason
    assert dropped == 1
