"""Payload codecs per device model, declared as data.

A codec lists where each of the kind's fields sits in the uplink's bytes (offset, binary
type, scale) and, for commands, how to lay out a downlink. Codecs are JSON (the bundled
``codecs.json``, or ``citysense lorawan run --codecs FILE``)::

    {"PJU-LORA-1": {
        "uplink": [{"field": "dim_pct", "offset": 0, "type": "u8"},
                   {"field": "active_power", "offset": 1, "type": "u16", "scale": 0.1},
                   {"field": "power_state", "offset": 5, "type": "u8",
                    "choices": ["off", "on", "low"]}],
        "downlink": {"dim": {"fport": 10, "layout": [{"const": 2, "type": "u8"},
                                                      {"arg": "level", "type": "u8"}]}}}}

Types are big-endian ``u8 i8 u16 i16 u32 i32`` (``_le`` for little-endian) and ``bool``
(one byte, non-zero is true). A value is ``raw * scale``; ``choices`` maps a raw index to
an enum's text. A field whose raw value is the type's maximum (e.g. 0xFFFF) is "not
measured" and left out, as most device vendors document.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from core.kinds import FieldType, KindRegistry

_TYPES: dict[str, tuple[str, int]] = {
    "u8": (">B", 1),
    "i8": (">b", 1),
    "u16": (">H", 2),
    "i16": (">h", 2),
    "u32": (">I", 4),
    "i32": (">i", 4),
    "u16_le": ("<H", 2),
    "i16_le": ("<h", 2),
    "u32_le": ("<I", 4),
    "i32_le": ("<i", 4),
    "bool": (">B", 1),
}
_MISSING = {"u8": 0xFF, "u16": 0xFFFF, "u32": 0xFFFFFFFF, "u16_le": 0xFFFF, "u32_le": 0xFFFFFFFF}


class CodecError(ValueError):
    """A codec declaration or a payload that does not fit it; the message says which."""


@dataclass(frozen=True, slots=True)
class Slot:
    field: str
    offset: int
    type: str
    scale: float = 1.0
    choices: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return _TYPES[self.type][1]


@dataclass(frozen=True, slots=True)
class DownlinkPart:
    type: str
    const: int | None = None
    arg: str | None = None
    scale: float = 1.0
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Downlink:
    fport: int
    layout: tuple[DownlinkPart, ...]


@dataclass(frozen=True, slots=True)
class Codec:
    model: str
    kind: str
    uplink: tuple[Slot, ...]
    downlink: Mapping[str, Downlink]

    def decode(self, data: bytes) -> dict[str, Any]:
        """The fields in ``data``; a :class:`CodecError` when the payload is too short."""
        need = max((s.offset + s.size for s in self.uplink), default=0)
        if len(data) < need:
            raise CodecError(
                f"payload has {len(data)} bytes; codec {self.model!r} reads {need}"
                f" (hex {data.hex()})"
            )
        out: dict[str, Any] = {}
        for s in self.uplink:
            fmt, _size = _TYPES[s.type]
            (raw,) = struct.unpack_from(fmt, data, s.offset)
            if _MISSING.get(s.type) == raw:
                continue
            if s.type == "bool":
                out[s.field] = raw != 0
            elif s.choices:
                if raw >= len(s.choices):
                    raise CodecError(f"{s.field}: code {raw} is not one of {len(s.choices)}")
                out[s.field] = s.choices[raw]
            else:
                value = raw * s.scale
                out[s.field] = round(value, 6) if isinstance(value, float) else value
        return out

    def encode(self, command: str, args: Mapping[str, Any]) -> tuple[int, bytes]:
        """(fport, bytes) of a downlink for ``command``; a :class:`CodecError` if undeclared."""
        d = self.downlink.get(command)
        if d is None:
            raise CodecError(f"codec {self.model!r} declares no downlink for {command!r}")
        out = b""
        for p in d.layout:
            if p.const is not None:
                raw = p.const
            else:
                assert p.arg is not None
                v = args[p.arg]
                raw = p.choices.index(v) if p.choices else round(float(v) / p.scale)
            try:
                out += struct.pack(_TYPES[p.type][0], raw)
            except struct.error:
                raise CodecError(f"{p.arg or 'constant'}={raw} does not fit {p.type}") from None
        return d.fport, out


def _slot(model: str, kind: Any, raw: Mapping[str, Any]) -> Slot:
    name = raw.get("field")
    f = kind.field(name) if isinstance(name, str) else None
    if f is None or not isinstance(name, str):
        raise CodecError(f"codec {model!r}: {name!r} is not a {kind.name} field")
    t = raw.get("type")
    if t not in _TYPES:
        raise CodecError(f"codec {model!r}: {name}: type {t!r}; use one of {', '.join(_TYPES)}")
    choices = tuple(raw.get("choices", ()))
    if f.type is FieldType.ENUM and not set(choices) <= set(f.choices):
        raise CodecError(f"codec {model!r}: {name}: choices must be among {f.choices}")
    if f.type is FieldType.ENUM and not choices:
        raise CodecError(f"codec {model!r}: {name} is an enum; list its choices by code")
    offset = raw.get("offset")
    if not isinstance(offset, int) or offset < 0:
        raise CodecError(f"codec {model!r}: {name}: offset must be a byte index >= 0")
    return Slot(name, offset, t, float(raw.get("scale", 1.0)), choices)


def parse_codecs(doc: Mapping[str, Any], kinds: KindRegistry) -> dict[str, Codec]:
    out = {}
    for model, spec in doc.items():
        kind = kinds.get(spec.get("kind", ""))
        if kind is None:
            raise CodecError(f"codec {model!r}: kind must be one of {', '.join(sorted(kinds))}")
        uplink = tuple(_slot(model, kind, s) for s in spec.get("uplink", ()))
        downlink = {}
        for command, d in spec.get("downlink", {}).items():
            if kind.command(command) is None:
                raise CodecError(f"codec {model!r}: {kind.name} has no command {command!r}")
            parts = []
            for p in d.get("layout", ()):
                if p.get("type") not in _TYPES:
                    raise CodecError(f"codec {model!r}: {command}: type {p.get('type')!r}")
                parts.append(
                    DownlinkPart(
                        p["type"],
                        p.get("const"),
                        p.get("arg"),
                        float(p.get("scale", 1.0)),
                        tuple(p.get("choices", ())),
                    )
                )
            downlink[command] = Downlink(int(d.get("fport", 1)), tuple(parts))
        out[model] = Codec(model, kind.name, uplink, downlink)
    return out


def load_codecs(kinds: KindRegistry, path: Path | None = None) -> dict[str, Codec]:
    text = (
        path.read_text("utf-8")
        if path is not None
        else resources.files("lorawan").joinpath("codecs.json").read_text("utf-8")
    )
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CodecError(f"codecs {path or 'bundled'}: not JSON: {exc}") from None
    return parse_codecs(doc, kinds)
