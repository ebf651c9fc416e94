"""Checks on query parameters that turn bad input into a 4xx with a fixing message."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import HTTPException

from core.kinds import KindRegistry

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def text(value: str | None, name: str, max_len: int = 200) -> str | None:
    if value is None:
        return None
    if "\x00" in value or len(value) > max_len or not value.isprintable():
        raise HTTPException(422, f"'{name}' must be printable text of at most {max_len} characters")
    return value


def kind(kinds: KindRegistry, value: str | None) -> str | None:
    if value is None:
        return None
    if value not in kinds:
        raise HTTPException(422, f"unknown kind {value!r}; use one of: {', '.join(sorted(kinds))}")
    return value


def device_ids(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for v in values:
        for d in v.split(","):
            d = d.strip()
            if not d:
                continue
            if not DEVICE_ID.match(d):
                raise HTTPException(
                    422,
                    f"device {d[:70]!r} is not a device id (letters, digits, '_', '.', '-';"
                    " at most 64 characters)",
                )
            out.append(d)
    return out or None


def zone(value: str) -> ZoneInfo:
    try:
        if "\x00" in value or len(value) > 64:
            raise ValueError(value)
        return ZoneInfo(value)
    except (ValueError, KeyError, OSError):
        raise HTTPException(
            422, f"unknown time zone {value[:64]!r}; use an IANA name such as Asia/Jakarta"
        ) from None


def aware(ts: datetime, name: str) -> datetime:
    if ts.tzinfo is None:
        raise HTTPException(422, f"'{name}' needs a UTC offset, e.g. 2026-11-28T07:00:00+07:00")
    try:
        utc = ts.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not 1970 <= utc.year <= 2200:
        raise HTTPException(422, f"'{name}' is out of range; use a time between 1970 and 2200")
    return utc
