"""What a committed batch tells the rest of the system: rollup buckets to refresh and a
``NOTIFY`` per batch for the live stream and the alert evaluator.

Rollup marks cover every reading; the notification carries what the live picture needs
(:func:`live_readings`): each device's oldest and newest reading. A batch of live traffic is
announced whole; a backlog of hours from a device, as two readings. A backlog of a kind
with a field judged reading by reading (the gauges' water level) also gets a "backlog"
notification after the readings: its span (device, first and last time, received_at), which
the alert evaluator reads back from the table.

Called once inside ``write_batch``'s transaction: the dirty marks commit with the readings,
and PostgreSQL delivers the notifications at commit, in commit order.

Readings travel as compact, columnar chunks, because they are built for every reading ingest
commits: on Python 3.11 the C JSON encoder costs ~0.15 µs per value, and ``float.__repr__``
and ``datetime.isoformat`` far more, so numbers and times go as packed binary::

    {"type": "readings", "v": 3, "received_at": "<iso>",
     "devices": ["<device_id>", ...],
     "shapes": [["<kind>", ["<field>", ...], [<column>, ...]], ...],
     "device": <row -> index into devices>,
     "shape": <row -> index into shapes>,
     "time": "<base64 10-byte datetime state per row, UTC>" | ["<iso>", ...],
     "backlog": [<index into devices>, ...]}   (only when a device is in a span)

Rows are oldest first (by time, then device id). Row indexes are ``0`` when the chunk has
one device (shape), else base64 of a byte per row (uint16 LE past 256). A shape is a kind
and one values dict's keys, in their order; its columns hold, in row order, the values of
the rows of that shape: ``"d<base64>"`` (float64 LE), ``"b|h|i|q<base64>"`` (the narrowest
signed LE integer that holds them all), ``"?<base64>"`` (a byte per bool), or a plain JSON
list (strings, mixed types). A time is datetime's own pickle state (year in two bytes,
month, day, hour, minute, second, microsecond in three, big-endian): cheaper to get than
any number, and its bytes sort like the times. Times go as ISO strings only in a batch with
a reading not in UTC. :func:`decode_notification` turns a chunk back into exactly
:func:`reading_items` (items of a device marked ``backlog`` carry ``"backlog": true``: the
evaluator judges its readings per reading from the span instead). "alert", "state" and
"backlog" notifications (and older "readings") are ``{"type": kind, "items": [...]}``.
"""

from __future__ import annotations

import json
import logging
import struct
from _json import make_encoder
from binascii import a2b_base64, b2a_base64
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from operator import attrgetter, floordiv, itemgetter
from typing import TYPE_CHECKING, Any

import asyncpg

from core.kinds import DeviceKind
from core.storage.runs import Run
from core.wire import Reading

if TYPE_CHECKING:
    from core.storage.pool import Conn

log = logging.getLogger(__name__)

CHANNEL = "citysense_events"
MAX_PAYLOAD = 7000
"""Bytes per notification; PostgreSQL's limit is 8000, so batches are chunked below it."""

READINGS_VERSION = 3
"""Version of the "readings" payload (3 added the ``backlog`` marks; a version 2 chunk is a
version 3 chunk without them); :func:`decode_notification` refuses others."""
_READINGS_VERSIONS = (2, READINGS_VERSION)


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)
"""One encoder, reused: ``json.dumps`` with options builds a new one per call. It escapes
to ASCII (the default), so a payload's length in characters is its length in bytes."""


_ENCODE = make_encoder(
    None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
)
"""The C encoder that ``_ENCODER.encode`` builds afresh on every call (markers aside, which
only guard against cycles our payloads cannot have), built once: same text, less CPU."""


def _json(obj: Any) -> str:
    return "".join(_ENCODE(obj, 0))


_TIME = attrgetter("time")
_TZ = attrgetter("tzinfo")
_ID = attrgetter("device_id")
_KIND = attrgetter("kind")
_VALUES = attrgetter("values")
_REDUCE = datetime.__reduce__
_SECOND = itemgetter(1)
_FIRST = itemgetter(0)
_FOURTH = itemgetter(3)
_UNSAFE = bytes(range(32)) + b'"\\\x7f'
"""What JSON (or the ASCII escaping encoder) would escape in a plain ASCII string."""
_INT_CODES = (("b", 1 << 7), ("h", 1 << 15), ("i", 1 << 31), ("q", 1 << 63))
_ISO = "%04d-%02d-%02dT%02d:%02d:%02d+00:00"
_ISO_US = "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00"
_STATE = struct.Struct(">HBBBBBBH")
"""A datetime's pickle state: year, month, day, hour, minute, second, microsecond (3 bytes)."""

_FIRST_CHUNK = 64
"""Rows in a batch's first chunk; later chunks are sized from the bytes per row measured."""
_FILL = 0.9
"""Aim chunks at this share of :data:`MAX_PAYLOAD`, so that few need encoding again."""
_MAX_ROWS = 4096
"""Row indexes are uint16; a chunk under :data:`MAX_PAYLOAD` holds a few hundred rows."""


def reading_items(readings: Sequence[Reading], received_at: datetime) -> list[dict[str, Any]]:
    """One item per reading, oldest first: what the live stream and the evaluator consume."""
    ra = received_at.isoformat()
    return [
        {
            "device_id": r.device_id,
            "kind": r.kind,
            "time": r.time.isoformat(),
            "received_at": ra,
            "values": r.values,
        }
        for r in sorted(readings, key=lambda r: (r.time, r.device_id))
    ]


def _b64(data: bytes) -> str:
    return b2a_base64(data, newline=False).decode("ascii")


def _strings(values: Sequence[Any]) -> str:
    """A JSON array of strings, joined as they are when none needs escaping (device ids,
    kinds, field names and enum choices are plain ASCII): the encoder checks every char."""
    try:
        text = '","'.join(values)
    except TypeError:
        return _json(list(values))
    # Plain when deleting control chars, quotes and backslashes leaves all but the quotes
    # of the separators (a C table lookup per char; str.isprintable costs twice as much).
    plain = len(text) - 2 * len(values) + 2
    if values and text.isascii() and len(text.encode("ascii").translate(None, _UNSAFE)) == plain:
        return f'["{text}"]'
    return _json(list(values))


def _int_code(values: Sequence[int]) -> str:
    lo, hi = min(values), max(values)
    for code, bound in _INT_CODES:
        if -bound <= lo and hi < bound:
            return code
    return ""


def _column(values: Sequence[Any]) -> str:
    """One field's values as JSON text: packed when all are exact floats, ints or bools."""
    types = set(map(type, values))
    if len(types) == 1:
        t = types.pop()
        if t is float:
            return f'"d{_b64(struct.pack(f"<{len(values)}d", *values))}"'
        if t is str:
            return _strings(values)
        if t is int:
            code = _int_code(values)
            if code:
                return f'"{code}{_b64(struct.pack(f"<{len(values)}{code}", *values))}"'
        elif t is bool:
            return f'"?{_b64(bytes(values))}"'
    return _json(list(values))


def _indexes(keys: list[Any]) -> tuple[list[Any], str]:
    """Distinct keys in first-seen order, and as JSON each key's position among them: 0 when
    there is one key, else base64 bytes (uint8, or uint16 LE past 256 keys)."""
    if keys.count(keys[0]) == len(keys):
        return [keys[0]], "0"
    distinct = list(dict.fromkeys(keys))
    n, code = len(keys), "B" if len(distinct) <= 256 else "H"
    if len(distinct) == n:  # one reading per device
        return distinct, f'"{_b64(struct.pack(f"<{n}{code}", *range(n)))}"'
    where = dict(zip(distinct, range(len(distinct)), strict=True))
    return distinct, f'"{_b64(struct.pack(f"<{n}{code}", *map(where.__getitem__, keys)))}"'


def _encode_chunk(
    head: str,
    rows: Sequence[Reading],
    ids: list[str],
    times: list[Any],
    spanned: AbstractSet[str],
) -> str:
    devices, device = _indexes(ids)
    values: list[dict[str, Any]] = list(map(_VALUES, rows))
    keys = list(map(tuple, values))
    kinds = list(map(_KIND, rows))
    if keys.count(keys[0]) == len(keys) and kinds.count(kinds[0]) == len(kinds):
        shapes, shape, groups = [(kinds[0], keys[0])], "0", [values]
    else:
        shapes, shape = _indexes(list(zip(kinds, keys, strict=True)))
        where = dict(zip(shapes, range(len(shapes)), strict=True))
        groups = [[] for _ in shapes]
        for v, k in zip(values, zip(kinds, keys, strict=True), strict=True):
            groups[where[k]].append(v)
    parts = []
    for (kind, fields), group in zip(shapes, groups, strict=True):
        columns = ",".join(_column(list(map(itemgetter(f), group))) for f in fields)
        parts.append(f"[{_json(kind)},{_strings(fields)},[{columns}]]")
    time = f'"{_b64(b"".join(times))}"' if type(times[0]) is bytes else _json(times)
    backlog = ""
    if spanned:
        marked = [i for i, d in enumerate(devices) if d in spanned]
        if marked:
            backlog = f',"backlog":{_json(marked)}'
    return (
        f'{head}"devices":{_strings(devices)},"shapes":[{",".join(parts)}],'
        f'"device":{device},"shape":{shape},"time":{time}{backlog}}}'
    )


def readings_payloads(
    readings: Sequence[Reading],
    received_at: datetime,
    spanned: AbstractSet[str] = frozenset(),
) -> list[str]:
    """The "readings" chunks for a batch, each at most :data:`MAX_PAYLOAD` bytes. A reading
    too large for a chunk of its own is logged and left out: a ``NOTIFY`` over 8000 bytes
    would fail the whole batch. The readings of ``spanned`` devices are marked ``backlog``
    (their span is judged from the database, see :func:`live_readings`)."""
    if not readings:
        return []
    rows: list[Reading]
    times: list[Any]
    stamps = list(map(_TIME, readings))
    if set(map(type, stamps)) == {datetime} and set(map(_TZ, stamps)) == {UTC}:
        # Pickle states sort like the times they hold (one tzinfo) and cost less than half
        # of microseconds since 1970 through timedelta arithmetic. Sorted by (time, device
        # id), then arrival: what reading_items' stable sort gives.
        states = map(_FIRST, map(_SECOND, map(_REDUCE, stamps)))
        order = sorted(zip(states, map(_ID, readings), range(len(readings)), readings, strict=True))
        times = list(map(_FIRST, order))
        ids = list(map(_SECOND, order))
        rows = list(map(_FOURTH, order))
    else:
        rows = sorted(readings, key=lambda r: (r.time, r.device_id))
        times = [r.time.isoformat() for r in rows]
        ids = list(map(_ID, rows))
    head = (
        f'{{"type":"readings","v":{READINGS_VERSION},'
        f'"received_at":{_json(received_at.isoformat())},'
    )
    out: list[str] = []
    start, per, n = 0, _FIRST_CHUNK, len(rows)
    while start < n:
        end = min(n, start + per)
        payload = _encode_chunk(head, rows[start:end], ids[start:end], times[start:end], spanned)
        size = len(payload)
        if size > MAX_PAYLOAD:
            if end - start == 1:
                r = rows[start]
                log.warning(
                    "events: reading of %s at %s is too large to announce (%d bytes); skipped",
                    r.device_id,
                    r.time.isoformat(),
                    size,
                )
                start = end
                continue
            per = max(1, min(end - start - 1, int((end - start) * MAX_PAYLOAD * _FILL / size)))
            continue
        out.append(payload)
        per = max(1, min(_MAX_ROWS, int((end - start) * MAX_PAYLOAD * _FILL / size)))
        start = end
    return out


class _MalformedError(ValueError):
    pass


def _unpack(code: str, text: Any) -> tuple[Any, ...]:
    if not isinstance(text, str):
        raise _MalformedError("packed values must be a string")
    data = a2b_base64(text)
    return struct.unpack(f"<{len(data) // struct.calcsize(code)}{code}", data)


def _column_values(col: Any) -> list[Any]:
    if isinstance(col, list):
        return col
    if not isinstance(col, str) or not col:
        raise _MalformedError("bad column")
    code, data = col[0], col[1:]
    if code in "dbhiq":
        return list(_unpack(code, data))
    if code == "?":
        return list(map(bool, a2b_base64(data)))
    raise _MalformedError(f"unknown column code {code!r}")


def _positions(packed: Any, n: int) -> tuple[int, ...]:
    if packed == 0:
        return (0,) * n
    data = a2b_base64(packed)
    if len(data) == n:
        return tuple(data)
    return _unpack("H", packed)


def _times(t: Any) -> list[str]:
    if isinstance(t, str):
        # What datetime.isoformat() prints in UTC, without building datetimes (half the cost).
        return [
            _ISO_US % (y, mo, d, h, mi, s, (hi << 16) | lo)
            if hi or lo
            else _ISO % (y, mo, d, h, mi, s)
            for y, mo, d, h, mi, s, hi, lo in _STATE.iter_unpack(a2b_base64(t))
        ]
    if isinstance(t, list) and all(isinstance(x, str) for x in t):
        return t
    raise _MalformedError("bad times")


def _expand(msg: dict[str, Any]) -> list[dict[str, Any]]:
    """A "readings" chunk, as :func:`reading_items` gives it; items of a device the chunk
    marks ``backlog`` (version 3) carry ``"backlog": True``."""
    received_at = msg["received_at"]
    devices = msg["devices"]
    times = _times(msg["time"])
    n = len(times)
    device = _positions(msg["device"], n)
    shape = _positions(msg["shape"], n)
    if len(device) != n or len(shape) != n or not isinstance(received_at, str):
        raise _MalformedError("rows of different lengths")
    if not all(isinstance(d, str) for d in devices):
        raise _MalformedError("bad devices")
    kinds: list[str] = []
    values: list[Any] = []
    for j, (kind, fields, cols) in enumerate(msg["shapes"]):
        count = shape.count(j)
        columns = [_column_values(c) for c in cols]
        if not isinstance(kind, str) or not isinstance(fields, list) or len(cols) != len(fields):
            raise _MalformedError("bad shape")
        if any(len(c) != count for c in columns):
            raise _MalformedError("columns of different lengths")
        kinds.append(kind)
        if fields:
            values.append(map(dict, map(zip, repeat(fields), zip(*columns, strict=True))))
        else:
            values.append(iter([{} for _ in range(count)]))
    items = [
        {
            "device_id": devices[d],
            "kind": kinds[s],
            "time": tm,
            "received_at": received_at,
            "values": next(values[s]),
        }
        for d, s, tm in zip(device, shape, times, strict=True)
    ]
    marked = msg.get("backlog", ())
    if marked:
        if not isinstance(marked, list) or not all(type(i) is int for i in marked):
            raise _MalformedError("bad backlog marks")
        spanned = {devices[i] for i in marked}
        for it in items:
            if it["device_id"] in spanned:
                it["backlog"] = True
    return items


def decode_notification(payload: str) -> tuple[str, list[dict[str, Any]]]:
    """A notification's type and items, readings expanded to :func:`reading_items`' shape.

    Raises ``ValueError`` (only) for anything malformed or of an unknown version.
    """
    try:
        msg = json.loads(payload)
        kind = msg["type"]
        if not isinstance(kind, str):
            raise _MalformedError("type is not a string")
        if kind == "readings" and "v" in msg:
            if msg["v"] not in _READINGS_VERSIONS:
                raise _MalformedError(f"unknown readings version {msg['v']!r}")
            return kind, _expand(msg)
        items = msg["items"]
        if not isinstance(items, list) or not all(isinstance(it, dict) for it in items):
            raise _MalformedError("items is not a list of objects")
        return kind, items
    except (KeyError, IndexError, TypeError, AttributeError, OverflowError, struct.error) as e:
        raise _MalformedError(f"{type(e).__name__}: {e}") from None


def chunk_payloads(kind: str, items: Sequence[dict[str, Any]]) -> list[str]:
    """JSON payloads ``{"type": kind, "items": [...]}``, each under :data:`MAX_PAYLOAD` bytes."""
    return chunk_encoded(kind, [_ENCODER.encode(it) for it in items])


def chunk_encoded(kind: str, encoded: Sequence[str]) -> list[str]:
    """:func:`chunk_payloads` for items that are already JSON-encoded (ASCII) text. An item
    too large for a notification of its own is logged and left out: ``pg_notify`` would
    refuse the whole call."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for enc in encoded:
        if len(enc) + 40 > MAX_PAYLOAD:
            log.warning(
                "events: a %s item is too large to announce (%d bytes); skipped", kind, len(enc)
            )
            continue
        if current and size + len(enc) + 40 > MAX_PAYLOAD:
            out.append(f'{{"type":"{kind}","items":[{",".join(current)}]}}')
            current, size = [], 0
        current.append(enc)
        size += len(enc) + 1
    if current:
        out.append(f'{{"type":"{kind}","items":[{",".join(current)}]}}')
    return out


async def notify(conn: Conn, payloads: Sequence[str]) -> None:
    """All payloads in one round trip, delivered in the order given."""
    if len(payloads) == 1:
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payloads[0])
    elif payloads:
        await conn.execute(
            "SELECT pg_notify($1, u.p) FROM unnest($2::text[]) WITH ORDINALITY AS u(p, i)"
            " ORDER BY u.i",
            CHANNEL,
            list(payloads),
        )


@dataclass(frozen=True, slots=True)
class BatchEvents:
    """What a batch tells the rest of the system, worked out before its transaction opens."""

    dirty: tuple[list[str], list[str], list[datetime]]
    """(kind, device, hour) rollup buckets the batch touches, as three columns."""
    payloads: list[str]
    """The "readings" notifications."""


_BACKLOG = 8
"""Readings of one device in a batch from which :func:`live_readings` picks."""


@dataclass(frozen=True, slots=True)
class Span:
    """A device's backlog in one batch, for a kind judged reading by reading: the alert
    evaluator reads these readings back from the table (those stored at ``received_at``
    between ``first`` and ``last``) instead of ingest announcing each one."""

    device_id: str
    kind: str
    first: datetime
    last: datetime


@dataclass(frozen=True, slots=True)
class LivePicture:
    readings: list[Reading]
    """To announce, in batch order."""
    spans: list[Span]
    """Backlogs the evaluator reads back (their devices' announced readings are marked)."""


def live_readings(
    readings: Sequence[Reading],
    kinds: Mapping[str, DeviceKind],
    runs: Sequence[Run] | None = None,
) -> LivePicture:
    """What of a batch the live picture needs: per device its oldest and newest reading,
    and, for a device of a kind that judges a field reading by reading
    (``judged_per_reading``: the gauges' water level, whose flood level steps down only after
    a dwell measured in reading time, so it depends on every reading and its time), a
    :class:`Span` that makes the evaluator read the rest back from the database.

    A device's backlog of old readings changes the live stream and the other alert rules
    only through these: each rule that reads a window (node latency and loss, rate of rise)
    reads it from the database up to the device's newest reading; offline, stale, "late" and
    "back" judge its newest and oldest time. Announcing each reading cost ingest more than
    storing it (its encoding was 13-23 % of ingest's CPU for gauge backlogs); the read-back
    is one index range per device in the alert service. A device with fewer than
    :data:`_BACKLOG` readings in the batch is announced whole (announcing more is always
    safe): picking costs more than it saves there. Given the batch's runs
    (:func:`~core.storage.runs.runs_of`), the picking is done a run at a time.
    """
    if runs is not None:
        return _live_readings_runs(runs, kinds)
    counts = Counter(map(_ID, readings))  # live traffic stops here
    if not counts or max(counts.values()) < _BACKLOG:
        return LivePicture(list(readings), [])
    groups: dict[str, list[Reading]] = {d: [] for d, n in counts.items() if n >= _BACKLOG}
    keep: set[int] = set()
    for r in readings:
        group = groups.get(r.device_id)
        if group is None:
            keep.add(id(r))
        else:
            group.append(r)
    spans: list[Span] = []
    judged = {name for name, k in kinds.items() if k.judged_per_reading}
    for device, group in groups.items():
        oldest, newest = min(group, key=_TIME), max(group, key=_TIME)
        keep.add(id(oldest))
        keep.add(id(newest))
        if group[0].kind in judged:
            spans.append(Span(device, group[0].kind, oldest.time, newest.time))
    return LivePicture([r for r in readings if id(r) in keep], spans)


def _live_readings_runs(runs: Sequence[Run], kinds: Mapping[str, DeviceKind]) -> LivePicture:
    """:func:`live_readings` from the batch's runs: the same readings in the same order and
    the same spans (the first of equal oldest or newest times, as ``min`` and ``max``
    pick over the batch), with one step per run instead of per reading."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.device_id] = counts.get(run.device_id, 0) + len(run.readings)
    # Per picked device: (time, run index, position) of its oldest and newest reading.
    oldest: dict[str, tuple[datetime, int, int]] = {}
    newest: dict[str, tuple[datetime, int, int]] = {}
    kind_of: dict[str, str] = {}
    for j, run in enumerate(runs):
        device_id = run.device_id
        if counts[device_id] < _BACKLOG:
            continue
        times = run.times
        if run.ordered:  # the first of its oldest times, and of its newest
            first, last = 0, bisect_left(times, times[-1])
        else:
            first = min(range(len(times)), key=times.__getitem__)
            last = max(range(len(times)), key=times.__getitem__)
        seen = oldest.get(device_id)
        if seen is None:
            kind_of[device_id] = run.kind
            oldest[device_id] = (times[first], j, first)
            newest[device_id] = (times[last], j, last)
            continue
        if times[first] < seen[0]:
            oldest[device_id] = (times[first], j, first)
        if times[last] > newest[device_id][0]:
            newest[device_id] = (times[last], j, last)
    picked: dict[int, list[int]] = {}
    for where in (*oldest.values(), *newest.values()):
        positions = picked.setdefault(where[1], [])
        if where[2] not in positions:
            positions.append(where[2])
    out: list[Reading] = []
    for j, run in enumerate(runs):
        if counts[run.device_id] < _BACKLOG:
            out.extend(run.readings)
        elif j in picked:
            out.extend(run.readings[p] for p in sorted(picked[j]))
    judged = {name for name, k in kinds.items() if k.judged_per_reading}
    spans = [
        Span(device_id, kind_of[device_id], oldest[device_id][0], newest[device_id][0])
        for device_id in oldest
        if kind_of[device_id] in judged
    ]
    return LivePicture(out, spans)


def span_items(spans: Sequence[Span], received_at: datetime) -> list[dict[str, Any]]:
    """The "backlog" notification's items: what :func:`core.storage.alert_inputs.
    backlog_readings` takes back."""
    ra = received_at.isoformat()
    return [
        {
            "device_id": s.device_id,
            "kind": s.kind,
            "first": s.first.isoformat(),
            "last": s.last.isoformat(),
            "received_at": ra,
        }
        for s in spans
    ]


def _hours(readings: Sequence[Reading], runs: Sequence[Run] | None) -> list[tuple[str, str, float]]:
    """(kind, device, hour number) of every reading, deduplicated and sorted; per run, a
    time-ordered run within one hour is one mark from its first and last time."""
    if runs is None:
        return sorted({(r.kind, r.device_id, r.time.timestamp() // 3600) for r in readings})
    marks: set[tuple[str, str, float]] = set()
    for run in runs:
        times = run.times
        if run.ordered:
            first = times[0].timestamp() // 3600
            if times[-1].timestamp() // 3600 == first:
                marks.add((run.kind, run.device_id, first))
                continue
        hours = set(map(floordiv, map(datetime.timestamp, times), repeat(3600)))
        marks.update(zip(repeat(run.kind), repeat(run.device_id), hours))
    return sorted(marks)


def batch_events(
    readings: Sequence[Reading],
    received_at: datetime,
    kinds: Mapping[str, DeviceKind] | None = None,
    runs: Sequence[Run] | None = None,
) -> BatchEvents:
    """Rollup marks for every reading. Notifications: given the kinds (ingest), the "readings"
    chunks of the batch's :func:`live_readings`, then a "backlog" notification for its spans;
    without them, every reading. Given the batch's runs (:func:`~core.storage.runs.runs_of`),
    both are worked out a run at a time."""
    # Deduplicate on the hour number (cheap), then build one datetime per distinct bucket.
    hours = _hours(readings, runs)
    picture = (
        LivePicture(list(readings), []) if kinds is None else live_readings(readings, kinds, runs)
    )
    spanned = {s.device_id for s in picture.spans}
    return BatchEvents(
        dirty=(
            [h[0] for h in hours],
            [h[1] for h in hours],
            [datetime.fromtimestamp(h[2] * 3600, UTC) for h in hours],
        ),
        payloads=[
            *readings_payloads(picture.readings, received_at, spanned),
            *chunk_payloads("backlog", span_items(picture.spans, received_at)),
        ],
    )


async def publish_events(conn: Conn, events: BatchEvents) -> None:
    """Mark the rollup hours dirty and announce the batch; runs in the batch transaction."""
    kinds, devices, buckets = events.dirty
    if kinds:
        await conn.execute(
            "INSERT INTO rollup_dirty (kind, device_id, bucket) SELECT * FROM"
            " unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING",
            kinds,
            devices,
            buckets,
        )
    await notify(conn, events.payloads)


async def announce(pool: asyncpg.Pool, kind: str, items: Sequence[dict[str, Any]]) -> None:
    """Announce alert or state changes (``kind`` = "alert" or "state") to live listeners."""
    payloads = chunk_payloads(kind, items)
    if payloads:
        async with pool.acquire() as conn:
            await notify(conn, payloads)
