"""CSV in and out for bulk registration, checked as a whole before anything is written.

Spreadsheets export CSV in many ways; this reads what technicians actually send: a
UTF-8 byte-order mark, ``;`` or tab separators (Indonesian Excel uses ``;``), common
Indonesian/English header names, and it says clearly when a file is not UTF-8.
Line numbers are the file's own (the header is line 1).
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.storage.registry import DeviceRecord
from devices.model import DeviceInput, FieldError
from devices.mounting import THRESHOLDS, all_mounting_fields

BASE_COLUMNS = (
    "id",
    "kind",
    "model_id",
    "name",
    "district",
    "village",
    "latitude",
    "longitude",
    "install_date",
    "status",
    "uplink_id",
)
REQUIRED = ("id", "kind", "district")


def columns() -> list[str]:
    return [*BASE_COLUMNS, *(f.name for f in all_mounting_fields()), *THRESHOLDS]


ALIASES = {
    "device_id": "id",
    "label": "id",
    "device": "id",
    "type": "kind",
    "jenis": "kind",
    "model": "model_id",
    "nama": "name",
    "kecamatan": "district",
    "desa": "village",
    "kelurahan": "village",
    "desa_kelurahan": "village",
    "lat": "latitude",
    "lintang": "latitude",
    "lon": "longitude",
    "lng": "longitude",
    "long": "longitude",
    "bujur": "longitude",
    "installed": "install_date",
    "installed_on": "install_date",
    "tanggal_pasang": "install_date",
    "uplink": "uplink",
    "pole": "pole_number",
    "tiang": "pole_number",
    "no_tiang": "pole_number",
    "panel": "cabinet",
    "stasiun": "station",
    "sungai": "river",
}


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class ParsedCsv:
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    delimiter: str = ","


def _normalise(header: str) -> str:
    return "_".join(header.strip().strip('"').lower().replace("-", " ").split())


def decode(data: bytes) -> tuple[str | None, LineError | None]:
    """UTF-8 text without a BOM, or an error naming the line of the first bad byte."""
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        return None, LineError(
            1, None, "the file is UTF-16; save it as 'CSV UTF-8 (comma delimited)' and retry"
        )
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 1].hex()
        return None, LineError(
            line,
            None,
            f"the file is not UTF-8 (byte 0x{bad}, probably Windows-1252/Latin-1); save it"
            " as 'CSV UTF-8' and import again",
        )


def _sniff(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def parse_csv(data: bytes) -> ParsedCsv:
    out = ParsedCsv()
    text, err = decode(data)
    if err is not None or text is None:
        out.errors.append(err or LineError(1, None, "empty file"))
        return out
    if not text.strip():
        out.errors.append(
            LineError(1, None, f"the file is empty; the header line needs: {', '.join(REQUIRED)}")
        )
        return out
    out.delimiter = _sniff(text.splitlines()[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=out.delimiter)
    header = next(reader)
    known = set(columns())
    mapped: list[str | None] = []
    for raw in header:
        name = _normalise(raw)
        name = ALIASES.get(name, name)
        if not name:
            mapped.append(None)
            continue
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; known columns: {', '.join(columns())}"
            )
            out.errors.append(LineError(1, raw, f"unknown column {raw!r}{hint}"))
            mapped.append(None)
            continue
        if name in mapped:
            out.errors.append(LineError(1, raw, f"column {name!r} appears twice; keep one"))
        mapped.append(name)
    for req in REQUIRED:
        if req not in mapped:
            out.errors.append(
                LineError(1, req, f"missing column {req!r}; add it to the header line")
            )
    if out.errors:
        return out
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(mapped):
            out.errors.append(
                LineError(
                    line,
                    None,
                    f"{len(row)} values but {len(mapped)} columns; check for an unquoted"
                    f" {out.delimiter!r} inside a value",
                )
            )
            continue
        values = {
            name: cell.strip() for name, cell in zip(mapped, row, strict=False) if name is not None
        }
        out.rows.append((line, values))
    return out


@dataclass(slots=True)
class ImportPlan:
    """The outcome of checking a whole file: what would be imported and every problem."""

    good: list[tuple[int, DeviceInput]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    rows: int = 0

    @property
    def bad_lines(self) -> int:
        return len({e.line for e in self.errors})


def add_field_errors(plan: ImportPlan, line: int, errors: Iterable[FieldError]) -> None:
    plan.errors.extend(LineError(line, e.field, e.reason) for e in errors)


def export_csv(records: Sequence[DeviceRecord], *, delimiter: str = ",") -> str:
    """The registry as CSV in the import's own columns, so an export imports back."""
    buf = io.StringIO()
    cols = columns()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(cols)
    for r in records:
        row: dict[str, Any] = {
            "id": r.id,
            "kind": r.kind,
            "model_id": r.model_id,
            "name": r.name,
            "district": r.district,
            "village": r.village,
            "latitude": r.latitude,
            "longitude": r.longitude,
            "install_date": r.install_date.isoformat() if r.install_date else None,
            "status": r.status,
            "uplink_id": r.uplink_id,
            "waspada_cm": r.waspada_cm,
            "siaga_cm": r.siaga_cm,
            "awas_cm": r.awas_cm,
            **r.mounting,
        }
        w.writerow([_cell(row.get(c)) for c in cols])
    return buf.getvalue()


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "@", "\t", "\r"):
        return "'" + value
    return value
