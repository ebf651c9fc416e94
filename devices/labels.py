"""Printable 60 x 40 mm labels: QR code, the id in large print, the kind in Bahasa, the
name and place wrapped or shortened to fit; and A4 sheets of them (3 x 6 per page).

The QR holds just the id, so the phone's scanner and a person typing the id find the same
device. One layout (:func:`layout`) serves the SVG and the PNG: every line is measured with
DejaVu Sans metrics (:mod:`devices.label_metrics`) and shrunk, wrapped or cut with "…" until
it fits its box, so nothing runs past the edge whatever the name.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from core.storage.registry import DeviceRecord
from devices import label_metrics

LABEL_W, LABEL_H = 60.0, 40.0  # mm
MARGIN = 2.0
QR_SIZE = 25.0
ID_BOX = (MARGIN, LABEL_W - 2 * MARGIN)  # x, width of the id line across the top
COLUMN_X = MARGIN + QR_SIZE + 1.5  # the text column right of the QR code
COLUMN_W = LABEL_W - MARGIN - COLUMN_X
PER_ROW, ROWS_PER_PAGE = 3, 6
GAP = 4.0
SHEET_X = (210 - PER_ROW * LABEL_W - (PER_ROW - 1) * GAP) / 2
SHEET_Y = (297 - ROWS_PER_PAGE * LABEL_H - (ROWS_PER_PAGE - 1) * GAP) / 2
FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif"
ELLIPSIS = "…"
FONT_FILES = {
    False: ("DejaVuSans.ttf", "dejavu/DejaVuSans.ttf", "truetype/dejavu/DejaVuSans.ttf"),
    True: (
        "DejaVuSans-Bold.ttf",
        "dejavu/DejaVuSans-Bold.ttf",
        "truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
}
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text: baseline at (x, y) mm, font size in mm, its measured width."""

    text: str
    x: float
    y: float
    size: float
    bold: bool
    width: float
    box: float
    """The width it was fitted into (mm)."""


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Width in mm of ``text`` set in DejaVu Sans at ``size`` mm."""
    table = label_metrics.BOLD if bold else label_metrics.REGULAR
    units = 0
    for ch in text:
        i = ord(ch) - label_metrics.FIRST
        units += table[i] if 0 <= i < len(table) else label_metrics.UNKNOWN
    return units * size / 1000


def _cut(text: str, size: float, box: float, *, bold: bool) -> str:
    """``text`` if it fits ``box``, else its longest start that fits with "…"."""
    if text_width(text, size, bold=bold) <= box:
        return text
    while text and text_width(text.rstrip() + ELLIPSIS, size, bold=bold) > box:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS if text else ""


def wrap(text: str, size: float, box: float, max_lines: int, *, bold: bool = False) -> list[str]:
    """``text`` broken at spaces into at most ``max_lines`` lines that each fit ``box`` mm;
    a word longer than a line is cut, and what does not fit ends with "…"."""
    words = text.split()
    lines: list[str] = []
    line = ""
    for i, word in enumerate(words):
        candidate = f"{line} {word}" if line else word
        if text_width(candidate, size, bold=bold) <= box:
            line = candidate
            continue
        if line:
            lines.append(line)
            line = ""
        if len(lines) == max_lines - 1:
            lines.append(_cut(" ".join(words[i:]), size, box, bold=bold))
            return lines
        if text_width(word, size, bold=bold) <= box:
            line = word
        else:  # a word longer than a whole line: its start, cut
            lines.append(_cut(word, size, box, bold=bold))
    if line:
        lines.append(line)
    return lines[:max_lines]


def _id_size(device_id: str) -> float:
    """The largest size, 7 mm down to 3 mm, at which the id fits across the label."""
    size = 7.0
    while size > 3.0 and text_width(device_id, size, bold=True) > ID_BOX[1]:
        size -= 0.25
    return size


def layout(d: DeviceRecord, kind_label: str) -> list[TextLine]:
    """Every text line of the label, placed and fitted (the first is the id)."""
    size = _id_size(d.id)
    out = [
        TextLine(
            _cut(d.id, size, ID_BOX[1], bold=True),
            ID_BOX[0],
            MARGIN + size * 0.8,
            size,
            True,
            0.0,
            ID_BOX[1],
        )
    ]
    top = MARGIN + size + 1.2
    place = ", ".join(x for x in (d.village, d.district) if x)
    mounting = d.mounting.get("pole_number") or d.mounting.get("station")
    blocks: list[tuple[str, float, bool, int]] = [(kind_label, 2.8, True, 2)]
    if d.name:
        blocks.append((d.name, 2.8, False, 2))
    if place:
        blocks.append((place, 2.6, False, 2))
    if mounting:
        blocks.append((str(mounting), 2.6, False, 1))
    y = top
    bottom = LABEL_H - MARGIN
    for text, sz, bold, max_lines in blocks:
        for line in wrap(text, sz, COLUMN_W, max_lines, bold=bold):
            if y + sz > bottom:
                break
            out.append(TextLine(line, COLUMN_X, y + sz * 0.8, sz, bold, 0.0, COLUMN_W))
            y += sz * 1.2
        y += 0.5
    return [
        TextLine(t.text, t.x, t.y, t.size, t.bold, text_width(t.text, t.size, bold=t.bold), t.box)
        for t in out
    ]


def _qr_top(d: DeviceRecord) -> float:
    return MARGIN + _id_size(d.id) + 1.2


def qr_path(data: str, size_mm: float) -> str:
    """An SVG <path> drawing the QR code in a ``size_mm`` square at the origin."""
    matrix = _qr_matrix(data)
    cell = size_mm / len(matrix)
    parts = []
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                parts.append(f"M{x * cell:.3f} {y * cell:.3f}h{cell:.3f}v{cell:.3f}h-{cell:.3f}z")
    return f'<path d="{"".join(parts)}" fill="#000"/>'


def _qr_matrix(data: str) -> list[list[bool]]:
    # make_qr, not make: segno picks a Micro QR for short ids, which phone scanners
    # (BarcodeDetector's "qr_code", jsQR) do not read.
    qr = segno.make_qr(data, error="m")
    return [[bool(v) for v in row] for row in qr.matrix_iter(scale=1, border=2)]


def _qr_size(d: DeviceRecord) -> float:
    return min(QR_SIZE, LABEL_H - MARGIN - _qr_top(d))


_BOLD = {True: ' font-weight="bold"', False: ""}


def label_group(d: DeviceRecord, kind_label: str, x: float = 0, y: float = 0) -> str:
    texts = "".join(
        f'<text x="{t.x:.2f}" y="{t.y:.2f}" font-size="{t.size:.2f}"{_BOLD[t.bold]}'
        f' data-box="{t.box:.2f}">{escape(t.text)}</text>'
        for t in layout(d, kind_label)
    )
    qr = _qr_size(d)
    return (
        f'<g transform="translate({x} {y})" font-family="{FONT_FAMILY}">'
        f'<rect width="{LABEL_W}" height="{LABEL_H}" rx="2" fill="#fff" stroke="#999"'
        ' stroke-width="0.2"/>'
        f'<g transform="translate({MARGIN} {_qr_top(d):.2f})">{qr_path(d.id, qr)}</g>'
        f"{texts}</g>"
    )


def label_svg(d: DeviceRecord, kind_label: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{LABEL_W}mm" height="{LABEL_H}mm" viewBox="0 0 {LABEL_W} {LABEL_H}">'
        f"<title>{escape(d.id)}</title>{label_group(d, kind_label)}</svg>"
    )


@cache
def _font(bold: bool, px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for base in FONT_DIRS:
        for name in FONT_FILES[bold]:
            path = base / name
            if path.is_file():
                return ImageFont.truetype(str(path), px)
    # Pillow's own font is narrower than DejaVu, so the layout's widths still hold.
    return ImageFont.load_default(px)


def label_png(d: DeviceRecord, kind_label: str, *, dpi: int = 300) -> bytes:
    """The same label as :func:`label_svg`, as a PNG at ``dpi`` (300: 709 x 472 px)."""
    scale = dpi / 25.4
    img = Image.new("L", (round(LABEL_W * scale), round(LABEL_H * scale)), 255)
    draw = ImageDraw.Draw(img)
    matrix = _qr_matrix(d.id)
    cell = _qr_size(d) * scale / len(matrix)
    x0, y0 = MARGIN * scale, _qr_top(d) * scale
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                draw.rectangle(
                    (
                        x0 + x * cell,
                        y0 + y * cell,
                        x0 + (x + 1) * cell - 1,
                        y0 + (y + 1) * cell - 1,
                    ),
                    fill=0,
                )
    for t in layout(d, kind_label):
        draw.text(
            (t.x * scale, t.y * scale),
            t.text,
            fill=0,
            anchor="ls",
            font=_font(t.bold, round(t.size * scale)),
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(dpi, dpi))
    return buf.getvalue()


def sheet_pages(devices: Sequence[DeviceRecord], kind_labels: dict[str, str]) -> list[str]:
    """One A4 SVG per page of labels."""
    per_page = PER_ROW * ROWS_PER_PAGE
    pages = []
    for start in range(0, len(devices), per_page):
        groups = []
        for i, d in enumerate(devices[start : start + per_page]):
            col, row = i % PER_ROW, i // PER_ROW
            groups.append(
                label_group(
                    d,
                    kind_labels.get(d.kind, d.kind),
                    round(SHEET_X + col * (LABEL_W + GAP), 2),
                    round(SHEET_Y + row * (LABEL_H + GAP), 2),
                )
            )
        pages.append(
            '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm"'
            f' viewBox="0 0 210 297">{"".join(groups)}</svg>'
        )
    return pages


def sheet_html(title: str, pages: Sequence[str]) -> str:
    body = "".join(f'<div class="page">{p}</div>' for p in pages)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>@page{{size:A4;margin:0}}body{{margin:0}}"
        ".page{width:210mm;height:297mm;page-break-after:always}</style></head>"
        f"<body>{body}</body></html>"
    )
