"""Printable labels: a QR code of the device id with the id and details in clear text.

The QR holds just the id, so the phone page's scanner and a human typing the id find the
same device. Labels are 60 x 30 mm; a sheet lays them out 3 x 9 per A4 page.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from html import escape

import segno

from core.storage.registry import DeviceRecord

LABEL_W, LABEL_H = 60.0, 30.0  # mm
PER_ROW, ROWS_PER_PAGE = 3, 9


def qr_path(data: str, size_mm: float) -> str:
    """An SVG <path> drawing the QR code in a ``size_mm`` square at the origin."""
    qr = segno.make(data, error="m")
    matrix = list(qr.matrix_iter(scale=1, border=2))
    cell = size_mm / len(matrix)
    parts = []
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                parts.append(f"M{x * cell:.3f} {y * cell:.3f}h{cell:.3f}v{cell:.3f}h-{cell:.3f}z")
    return f'<path d="{"".join(parts)}" fill="#000"/>'


def _lines(d: DeviceRecord, kind_label: str) -> list[str]:
    lines = [kind_label]
    if d.name:
        lines.append(d.name)
    place = ", ".join(x for x in (d.village, d.district) if x)
    if place:
        lines.append(place)
    mounting = d.mounting.get("pole_number") or d.mounting.get("station")
    if mounting:
        lines.append(str(mounting))
    return [line[:28] for line in lines[:4]]


def label_group(d: DeviceRecord, kind_label: str, x: float = 0, y: float = 0) -> str:
    qr = LABEL_H - 4
    text = "".join(
        f'<text x="{qr + 4}" y="{13 + 4.2 * i}" font-size="3.2">{escape(line)}</text>'
        for i, line in enumerate(_lines(d, kind_label))
    )
    return (
        f'<g transform="translate({x} {y})" font-family="DejaVu Sans, Arial, sans-serif">'
        f'<rect width="{LABEL_W}" height="{LABEL_H}" rx="2" fill="#fff" stroke="#999"'
        ' stroke-width="0.2"/>'
        f'<g transform="translate(2 2)">{qr_path(d.id, qr)}</g>'
        f'<text x="{qr + 4}" y="8" font-size="5" font-weight="bold">{escape(d.id)}</text>'
        f"{text}</g>"
    )


def label_svg(d: DeviceRecord, kind_label: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{LABEL_W}mm" height="{LABEL_H}mm" viewBox="0 0 {LABEL_W} {LABEL_H}">'
        f"<title>{escape(d.id)}</title>{label_group(d, kind_label)}</svg>"
    )


def label_png(device_id: str, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    segno.make(device_id, error="m").save(buf, kind="png", scale=scale, border=2)
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
                label_group(d, kind_labels.get(d.kind, d.kind), 10 + col * 64, 10 + row * 31)
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
