"""The MQTT wire contract: topic scheme and telemetry payloads.

Topics (``root`` defaults to ``citysense/v1``)::

    {root}/{kind}/{device_id}/telemetry   one JSON object, or a JSON array of them (a backlog)
    {root}/{kind}/{device_id}/status      retained "online" / "offline" (birth and last will)
    {root}/{kind}/{device_id}/stored      retained, written by ingest: the device's "stored up
                                          to" watermark (see :func:`encode_watermark`)

A telemetry object carries ``ts`` (the device's own time: ISO 8601 with an offset, or
epoch milliseconds) and any subset of its kind's fields. Decoding is pure: it turns bytes
into :class:`Reading` objects and :class:`Rejection` reasons that a sender can act on.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import orjson

from core import wire_typed
from core.kinds import DeviceKind, FieldType, KindRegistry, per_kind

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
Value = float | int | bool | str

_MIN_EPOCH_MS = 946_684_800_000  # 2000-01-01
_MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_from_epoch = datetime.fromtimestamp  # called with tz positionally: ~1/3 cheaper than tz=
_US = timedelta(microseconds=1)
_MS = timedelta(milliseconds=1)
_SUB_MICROSECOND = re.compile(r"[.,]\d{6}\d*[1-9]")
"""A fraction with a non-zero digit past the sixth."""


@dataclass(slots=True)
class Reading:
    """One decoded reading. Not frozen: a frozen dataclass's ``__init__`` sets every field
    through ``object.__setattr__``, twice the cost of a plain one, and ingest builds one per
    reading. Nothing mutates or hashes readings (``values`` is a dict, so they never were
    hashable)."""

    device_id: str
    kind: str
    time: datetime
    values: dict[str, Value]


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str
    """Machine-readable class: not_json, too_large, bad_topic, invalid, future, too_old,
    unknown_device, wrong_kind, decommissioned."""
    reason: str
    """What is wrong and what to do about it, for the sender."""
    item: int | None = None
    """Index of the rejected item in a backlog array (``None``: the whole message)."""


@dataclass(frozen=True, slots=True)
class TopicParts:
    kind: str
    device_id: str
    channel: str


_PARSED_MAX = 100_000

DEVICE_CHANNELS = ("telemetry", "status")
"""Channels a device writes and ingest stores."""
OTHER_CHANNELS = frozenset({"stored", "commands", "reply"})
"""Channels under the root that other parts of the platform own (the watermark ingest
writes, commands and their replies): ingest passes over them without a dead letter."""


class Topics:
    """Builds and parses Citysense topics under one versioned root."""

    def __init__(self, root: str = "citysense/v1") -> None:
        self.root = root.rstrip("/")
        self._depth = self.root.count("/") + 1
        self._parsed: dict[str, TopicParts | None] = {}
        """Parsed topics: a fleet publishes on the same few thousand topics again and again."""

    def telemetry(self, kind: str, device_id: str) -> str:
        return f"{self.root}/{kind}/{device_id}/telemetry"

    def status(self, kind: str, device_id: str) -> str:
        return f"{self.root}/{kind}/{device_id}/status"

    def stored(self, kind: str, device_id: str) -> str:
        return f"{self.root}/{kind}/{device_id}/stored"

    def telemetry_filter(self) -> str:
        return f"{self.root}/+/+/telemetry"

    def everything_filter(self) -> str:
        return f"{self.root}/#"

    def is_other_channel(self, topic: str) -> bool:
        """``{root}/{kind}/{id}/{stored|commands|reply}``: someone else's, not a device's."""
        rest = topic[len(self.root) + 1 :].split("/") if topic.startswith(self.root + "/") else []
        return len(rest) == 3 and rest[2] in OTHER_CHANNELS

    def parse(self, topic: str) -> TopicParts | None:
        try:
            return self._parsed[topic]
        except KeyError:
            pass
        parts = self._parse(topic)
        if len(self._parsed) >= _PARSED_MAX:  # random topics from a misbehaving publisher
            self._parsed.clear()
        self._parsed[topic] = parts
        return parts

    def _parse(self, topic: str) -> TopicParts | None:
        if not topic.startswith(self.root + "/"):
            return None
        rest = topic[len(self.root) + 1 :].split("/")
        if len(rest) != 3 or rest[2] not in DEVICE_CHANNELS:
            return None
        kind, device_id, channel = rest
        if not DEVICE_ID.match(device_id):
            return None
        return TopicParts(kind=kind, device_id=device_id, channel=channel)


class _InvalidError(Exception):
    pass


def _reject_constant(name: str) -> NoReturn:
    raise _InvalidError(f"{name} is not a number JSON allows; send null or omit the field")


def parse_timestamp(raw: Any) -> datetime:
    """Device time from ISO 8601 (with offset) or epoch milliseconds, as aware UTC."""
    if isinstance(raw, bool) or raw is None:
        raise _InvalidError("'ts' is required: ISO 8601 with an offset, or epoch milliseconds")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise _InvalidError("'ts' must be finite")
        if 946_684_800 <= raw < 4_102_444_800:
            raise _InvalidError(f"'ts' {raw} looks like epoch seconds; send epoch milliseconds")
        if not _MIN_EPOCH_MS <= raw < _MAX_EPOCH_MS:
            raise _InvalidError(f"'ts' {raw} is outside 2000..2100 in epoch milliseconds")
        return datetime.fromtimestamp(raw / 1000, tz=UTC)
    if isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:
            raise _InvalidError(f"'ts' {raw[:40]!r} is not ISO 8601") from None
        if _SUB_MICROSECOND.search(raw):
            # fromisoformat drops digits past the microsecond: two readings that differ
            # only there would become one.
            raise _InvalidError(
                f"'ts' {raw[:40]!r} is more precise than a microsecond, which is not kept;"
                " round it to microseconds (or milliseconds)"
            )
        if ts.tzinfo is None:
            raise _InvalidError(f"'ts' {raw[:40]!r} has no UTC offset; add 'Z' or '+07:00'")
        return ts.astimezone(UTC)
    raise _InvalidError("'ts' must be an ISO 8601 string or epoch milliseconds")


def _check_value(kind: DeviceKind, name: str, raw: Any) -> Value:
    f = kind.field(name)
    if f is None:
        known = ", ".join(x.name for x in kind.fields)
        raise _InvalidError(f"unknown field {name!r} for kind {kind.name}; known fields: {known}")
    if f.type is FieldType.BOOL:
        if not isinstance(raw, bool):
            raise _InvalidError(f"{name} must be true or false, got {raw!r}")
        return raw
    if f.type is FieldType.ENUM:
        if raw not in f.choices:
            raise _InvalidError(f"{name} must be one of {', '.join(f.choices)}; got {raw!r}")
        return str(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _InvalidError(f"{name} must be a number, got {type(raw).__name__} {raw!r}"[:200])
    if isinstance(raw, float) and not math.isfinite(raw):
        raise _InvalidError(f"{name} must be finite")
    number: float | int
    if f.type is FieldType.INT:
        if isinstance(raw, float) and not raw.is_integer():
            raise _InvalidError(f"{name} must be a whole number, got {raw!r}")
        number = int(raw)
    else:
        try:
            number = float(raw)
        except OverflowError:  # a whole number of hundreds of digits
            raise _InvalidError(f"{name} is {_about(int(raw))}, too large to be a number") from None
    if f.valid is not None and not f.valid[0] <= number <= f.valid[1]:
        unit = f" {f.unit}" if f.unit else ""
        raise _InvalidError(
            f"{name}={number}{unit} is outside the valid range {f.valid[0]}..{f.valid[1]}{unit}"
        )
    lo, hi = f.bounds
    if not lo <= number <= hi:  # an INT beyond 64 bits, where no narrower range is declared
        shown = f"={number}" if abs(number) < 2**128 else f" is {_about(int(number))}, which"
        raise _InvalidError(f"{name}{shown} does not fit a 64-bit whole number ({lo}..{hi})")
    return number


def _about(whole: int) -> str:
    """A huge whole number by its size, not its digits (the reason would be longer than
    the payload's point; JSON parsing refuses more than 4,300 digits before this)."""
    return f"a whole number of {len(str(abs(whole)))} digits"


@dataclass(frozen=True, slots=True)
class _Specs:
    """A kind's fields by JSON type, for the decoder's fast path: a plain valid value is
    one type test and one lookup. Ranges are the fields' ``bounds``: an undeclared one is
    +-float max (keeping out infinities) or a 64-bit whole number's."""

    floats: dict[str, tuple[float, float]]
    ints: dict[str, tuple[float, float]]
    bools: frozenset[str]
    enums: dict[str, frozenset[str]]


@per_kind
def _field_specs(kind: DeviceKind) -> _Specs:
    specs = _Specs({}, {}, frozenset(f.name for f in kind.fields if f.type is FieldType.BOOL), {})
    for f in kind.fields:
        if f.type is FieldType.FLOAT:
            specs.floats[f.name] = f.bounds
        elif f.type is FieldType.INT:
            specs.ints[f.name] = f.bounds
        elif f.type is FieldType.ENUM:
            specs.enums[f.name] = frozenset(f.choices)
    return specs


def _check_values(kind: DeviceKind, specs: _Specs, item: dict[str, Any]) -> None:
    """Validate an item's fields (``ts`` already taken out) in place: the decoded dict is
    ours, so it becomes the reading's values without a copy. Plain valid values take the
    fast path; anything else goes through :func:`_check_value`, which converts it or says
    exactly what is wrong."""
    floats, ints, enums = specs.floats, specs.ints, specs.enums
    fixed: list[tuple[str, Value]] | None = None
    for name, raw in item.items():
        t = type(raw)
        if t is float:
            r = floats.get(name)
            if r is not None and r[0] <= raw <= r[1]:
                continue
        elif t is int:
            r = ints.get(name)
            if r is not None and r[0] <= raw <= r[1]:
                continue
        elif t is str:
            c = enums.get(name)
            if c is not None and raw in c:
                continue
        elif t is bool and name in specs.bools:
            continue
        value = _check_value(kind, name, raw)
        if fixed is None:
            fixed = []
        fixed.append((name, value))  # not while iterating over the dict
    if fixed:
        item.update(fixed)


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    max_payload_bytes: int = 256 * 1024
    max_future: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=730)


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""One strict decoder, reused: ``json.loads(.., parse_constant=..)`` builds a new one per call."""
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_OPENERS = (b"{", b"[")

_SHAPE = bytes(48 if 48 <= b <= 57 else 91 if b in b"[{" else 32 for b in range(256))
"""Maps a payload to its shape for :func:`_orjson_agrees`: digits to ``0``, ``[``/``{`` to
``[``, every other byte to a space."""
_LONG_DIGITS = b"0" * 19
_MAX_OPENERS = 512


def _orjson_agrees(payload: bytes) -> bool:
    """Whether ``orjson.loads`` may decide for the stdlib decoder: where orjson parses a
    payload at all, it gives what the stdlib gives, except for

    - an integer literal beyond 64 bits, which orjson turns into a float (the stdlib
      keeps an int); it needs a run of 19+ digits, so such payloads are left to the stdlib;
    - nesting near 1000 levels, where the stdlib's recursive scanner raises
      ``RecursionError`` (how deep exactly depends on the caller's stack) and orjson parses
      up to 1024 levels; fewer than 512 openers keep the depth far below either limit
      (a backlog of more than ~500 readings is therefore parsed by the stdlib, as before).
    """
    shape = payload.translate(_SHAPE)
    return _LONG_DIGITS not in shape and shape.count(b"[") < _MAX_OPENERS


def decode_json(payload: bytes, limits: DecodeLimits) -> Any:
    """Parse JSON strictly (no NaN/Infinity); raises ``ValueError`` with a sender-facing reason.

    orjson parses first (about 3x faster than the stdlib on a 100-reading backlog; 2x with
    :func:`_orjson_agrees`' pass over the bytes); anything it rejects goes through the
    stdlib decoder, whose error is the reason a sender gets, so reasons (and what a BOM,
    UTF-16, lone surrogates or 1e400 decode to) stay the stdlib's.
    """
    if len(payload) > limits.max_payload_bytes:
        raise ValueError(
            f"payload of {len(payload)} bytes exceeds the {limits.max_payload_bytes}-byte limit;"
            " split the backlog into smaller messages"
        )
    doc = None
    if _orjson_agrees(payload):
        try:  # noqa: SIM105 (contextlib.suppress costs ~0.5 us per message here)
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    if doc is None:
        doc = _decode_stdlib(payload)
    # Every key is followed by a colon outside strings; if the payload has more colons than
    # the document's keys and string colons, a key came twice (the dict kept one of them).
    if payload.count(b":") != _keys_and_colons(doc):
        doc = _decode_stdlib(payload, _DECODER_UNIQUE)  # finds the duplicate, or agrees
    if _NUL_ESCAPE in payload and _has_nul(doc):
        raise ValueError(_NUL_REASON)
    return doc


_NUL_REASON = (
    "a string contains a NUL character (\\u0000), which cannot be stored; send text without it"
)


def _decode_reference(payload: bytes) -> Any:
    """What :func:`decode_json` must give (minus the size check), the slow obvious way:
    the stdlib decoder, refusing duplicate keys as it parses, then a walk for NULs."""
    doc = _decode_stdlib(payload, _DECODER_UNIQUE)
    if _has_nul(doc):
        raise ValueError(_NUL_REASON)
    return doc


def _keys_and_colons(doc: Any) -> int:
    """Keys in the decoded document plus the colons inside its strings (keys and values).

    The colons of the document re-encoded by orjson (fast, in C; it adds no spaces and
    escapes no colon); a walk where orjson cannot encode it (ints beyond 64 bits, lone
    surrogates, which only the stdlib decoder lets through).
    """
    try:
        return orjson.dumps(doc).count(b":")
    except orjson.JSONEncodeError:
        return _walk_keys_and_colons(doc)


def _walk_keys_and_colons(doc: Any) -> int:
    n = 0
    stack = [doc]
    while stack:
        v = stack.pop()
        if type(v) is dict:
            n += len(v)
            for k, x in v.items():
                if ":" in k:
                    n += k.count(":")
                t = type(x)
                if t is str:
                    if ":" in x:
                        n += x.count(":")
                elif t is dict or t is list:
                    stack.append(x)
        elif type(v) is list:
            for x in v:
                t = type(x)
                if t is str:
                    if ":" in x:
                        n += x.count(":")
                elif t is dict or t is list:
                    stack.append(x)
        elif type(v) is str:
            n += v.count(":")
    return n


def _has_nul(doc: Any) -> bool:
    stack = [doc]
    while stack:
        v = stack.pop()
        if type(v) is str:
            if "\x00" in v:
                return True
        elif type(v) is dict:
            stack.extend(v.keys())
            stack.extend(v.values())
        elif type(v) is list:
            stack.extend(v)
    return False


_NUL_ESCAPE = b"\\u0000"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _InvalidError(
                    f"key {k[:40]!r} appears twice in one object; send each field once"
                )
            seen.add(k)
    return out


_DECODER_UNIQUE = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
_BOM = b"\xef\xbb\xbf"


def _decode_stdlib(payload: bytes, decoder: json.JSONDecoder = _DECODER) -> Any:
    try:
        if decoder is _DECODER and payload[:1] in _OPENERS and payload[1:2] != b"\x00":
            # UTF-8 with no leading whitespace: scan from 0 directly, which is what the
            # call below does, minus two Python frames per message.
            text = payload.decode("utf-8")
            try:
                doc, end = _SCAN(text, 0)
            except StopIteration:
                pass
            else:
                if end == len(text):
                    return doc
        if payload.startswith(_BOM):
            raise ValueError(
                "payload is not UTF-8 JSON: it starts with a byte order mark; send it without"
            )
        if json.detect_encoding(payload) != "utf-8":
            raise ValueError("payload is not UTF-8 JSON: it looks like UTF-16 or UTF-32")
        return decoder.decode(payload.decode("utf-8"))
    except _InvalidError as exc:
        raise ValueError(str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"payload is not UTF-8 JSON: {exc}"[:300]) from None
    except RecursionError:
        raise ValueError(
            "payload is nested too deeply to be telemetry; send flat objects"
        ) from None
    except ValueError as exc:  # int() refusing a digit string past the interpreter's limit
        if "integer string conversion" not in str(exc):
            raise
        raise ValueError(
            f"payload has a number of more than {sys.get_int_max_str_digits()} digits;"
            " send numbers that fit 64 bits"
        ) from None


@functools.lru_cache(maxsize=8)
def _window(
    now: datetime, max_future: timedelta, max_age: timedelta
) -> tuple[datetime, datetime, int, int]:
    """``oldest``, ``latest`` and the epoch-ms ``ts`` values that pass every time check:
    inside 2000..2100 and inside ``oldest..latest`` (compared as :func:`parse_timestamp`'s
    datetime would be, to the microsecond). The ms range is empty for a naive clock, so
    every ``ts`` then takes the full checks. Cached: a batch decodes all its messages with
    one ``now``."""
    latest = now + max_future
    oldest = now - max_age
    if now.tzinfo is None:
        return oldest, latest, 1, 0
    lo = -(-((oldest - _EPOCH) // _US) // 1000)  # ts >= oldest
    hi = ((latest - _EPOCH) // _US) // 1000  # ts <= latest
    return oldest, latest, max(lo, _MIN_EPOCH_MS), min(hi, _MAX_EPOCH_MS - 1)


def _typed(kind: DeviceKind, payload: bytes, limits: DecodeLimits) -> Any:
    """The payload parsed and every value checked in one compiled pass
    (:mod:`core.wire_typed`), or ``None`` where :func:`decode_json` and
    :func:`_check_values` must decide and word the reason: msgspec refused it, it is too
    large, it holds an escape (``\\u003a`` is a colon the count below would not see; a
    NUL escape has its own reason), or msgspec dropped an unknown key or kept one of a
    repeated key (either leaves more colons in the payload than the items have keys and
    colons)."""
    if len(payload) > limits.max_payload_bytes or b"\\" in payload:
        return None
    try:
        doc = wire_typed.decoder(kind).decode(payload)
    except wire_typed.Errors:
        return None
    colons = payload.count(b":")
    if type(doc) is list:
        if not doc:
            return None  # the empty-array reason is the decoder's own
        if colons != sum(map(len, doc)) and colons != _keys_and_colons(doc):
            return None
    elif colons != len(doc) and colons != _keys_and_colons(doc):
        return None
    return doc


def decode_telemetry(
    kind: DeviceKind,
    device_id: str,
    payload: bytes,
    now: datetime,
    limits: DecodeLimits,
) -> tuple[list[Reading], list[Rejection]]:
    """Decode one telemetry message into readings; bad items become rejections, good ones stay."""
    doc = _typed(kind, payload, limits)
    if type(doc) is dict and len(doc) > 1:
        # One reading, every value already inside the declaration: live traffic's case.
        raw_ts = doc["ts"]
        _, _, lo_ms, hi_ms = _window(now, limits.max_future, limits.max_age)
        if type(raw_ts) is int and lo_ms <= raw_ts <= hi_ms:
            del doc["ts"]
            return [Reading(device_id, kind.name, _from_epoch(raw_ts / 1000, UTC), doc)], []
    checked = doc is not None  # every value already inside the declaration
    if doc is None:
        try:
            doc = decode_json(payload, limits)
        except ValueError as exc:
            code = "too_large" if len(payload) > limits.max_payload_bytes else "not_json"
            return [], [Rejection(code, str(exc))]
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        return [], [Rejection("invalid", "empty array: send at least one reading")]
    batch = isinstance(doc, list)
    specs = _field_specs(kind)
    oldest, latest, lo_ms, hi_ms = _window(now, limits.max_future, limits.max_age)
    kind_name = kind.name
    readings: list[Reading] = []
    rejections: list[Rejection] = []
    for index, item in enumerate(items):
        if type(item) is not dict:  # JSON objects decode to plain dicts
            where = f"item {index}: " if batch else ""
            rejections.append(
                Rejection(
                    "invalid",
                    f"{where}expected a JSON object, got {type(item).__name__}",
                    index if batch else None,
                )
            )
            continue
        raw_ts = item.pop("ts", None)
        try:
            if type(raw_ts) is int and lo_ms <= raw_ts <= hi_ms:
                # The common case: epoch ms inside the accepted window, so no further checks.
                if not checked:
                    _check_values(kind, specs, item)
                if not item:
                    raise _InvalidError("no telemetry fields; send at least one field of the kind")
                ts = _from_epoch(raw_ts / 1000, UTC)
                readings.append(Reading(device_id, kind_name, ts, item))
                continue
            ts = parse_timestamp(raw_ts)
            if not checked:
                _check_values(kind, specs, item)
            if not item:
                raise _InvalidError("no telemetry fields; send at least one field of the kind")
        except _InvalidError as exc:
            where = f"item {index}: " if batch else ""
            rejections.append(Rejection("invalid", f"{where}{exc}", index if batch else None))
            continue
        if ts > latest:
            where = f"item {index}: " if batch else ""
            rejections.append(
                Rejection(
                    "future",
                    f"{where}ts {ts.isoformat()} is more than {limits.max_future} ahead of the"
                    " server clock; check the device's clock (NTP/GPS)",
                    index if batch else None,
                )
            )
            continue
        if ts < oldest:
            where = f"item {index}: " if batch else ""
            rejections.append(
                Rejection(
                    "too_old",
                    f"{where}ts {ts.isoformat()} is older than the retention period"
                    f" ({limits.max_age.days} days) and would be deleted at once",
                    index if batch else None,
                )
            )
            continue
        readings.append(Reading(device_id, kind_name, ts, item))
    return readings, rejections


def encode_telemetry(readings: list[dict[str, Value | datetime]]) -> bytes:
    """Encode readings as a device would: ``ts`` as ISO 8601 UTC; a list becomes a backlog."""

    def one(r: dict[str, Value | datetime]) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for k, v in r.items():
            out[k] = (
                v.astimezone(UTC).isoformat().replace("+00:00", "Z")
                if isinstance(v, datetime)
                else v
            )
        return out

    doc: Any = one(readings[0]) if len(readings) == 1 else [one(r) for r in readings]
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def kind_of_topic(kinds: KindRegistry, parts: TopicParts) -> DeviceKind | None:
    return kinds.get(parts.kind)


def encode_watermark(stored_up_to: datetime) -> bytes:
    """The retained payload ingest publishes on ``{root}/{kind}/{id}/stored`` after a commit.

    ``stored_up_to`` is the newest device time (``ts``) of that device's readings committed
    so far. A device keeps each reading it sent until a watermark at or after its ``ts``
    arrives, and after a reconnect resends the readings newer than the watermark.
    """
    ms = (stored_up_to - _EPOCH) // _MS
    return orjson.dumps({"stored_up_to": stored_up_to, "stored_up_to_ms": ms})


def decode_watermark(payload: bytes) -> datetime | None:
    """The watermark's time, or ``None`` if the payload is not one (or empty: cleared)."""
    try:
        data = orjson.loads(payload)
        return datetime.fromisoformat(data["stored_up_to"]).astimezone(UTC)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
