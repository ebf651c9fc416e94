"""``per_kind`` builds once per kind object (an equal kind is another object: built for
itself) and stays bounded."""

from __future__ import annotations

from core import kinds as kinds_module
from core.kinds import DeviceKind, FieldType, TelemetryField, per_kind


def _kind(name: str) -> DeviceKind:
    return DeviceKind(name, name, (TelemetryField("level", FieldType.FLOAT),))


def test_built_once_per_kind_and_bounded() -> None:
    built: list[str] = []

    @per_kind
    def label(kind: DeviceKind) -> str:
        built.append(kind.name)
        return f"<{kind.name}>"

    a, twin = _kind("a"), _kind("a")
    assert [label(a), label(a), label(twin)] == ["<a>", "<a>", "<a>"]
    assert built == ["a", "a"]  # an equal kind is another kind: built again
    many = [_kind(f"k{i}") for i in range(kinds_module._PER_KIND_KEPT + 5)]
    assert [label(k) for k in many] == [f"<k{i}>" for i in range(len(many))]
    assert len(built) == 2 + len(many)
    label(many[-1])  # still cached after the cache started again
    assert len(built) == 2 + len(many)
