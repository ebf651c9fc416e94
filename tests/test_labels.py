"""Labels fit a 60 x 40 mm sticker: measured in Chromium (SVG) and in the pixels (PNG)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from core.storage.registry import DeviceRecord
from devices import labels
from tests.support.browser import chromium

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _device(device_id: str, name: str, village: str, **mounting: str) -> DeviceRecord:
    return DeviceRecord(
        id=device_id, kind="streetlight", name=name, status="active", district="Lawang Kidul",
        village=village, latitude=-3.77, longitude=103.83, model_id=None, install_date=None,
        uplink_id=None, mounting=dict(mounting), waspada_cm=None, siaga_cm=None, awas_cm=None,
        batch=None, created_at=NOW, updated_at=NOW, credentials_issued_at=None,
    )  # fmt: skip


HARD = [
    _device("PJU-LK-010", "PJU Simpang Tanjung Enim", "Tanjung Enim", pole_number="P-101"),
    _device(
        "PJU-LAWANGKIDUL-000123-B",
        "Penerangan Jalan Umum Simpang Empat Pasar Tanjung Enim Lama Dekat Masjid Agung",
        "Kelurahan Tanjung Enim Selatan Kampung Baru Ujung",
        pole_number="TIANG-0000000000000000000000042",
    ),
    _device("AWLR-WWWWWWWWWWWWWWWWWWWWW", "W" * 80, "M" * 60),
    _device("PJU-1", "Lampu jalan désa Ngalam — ujung", "Désa Muara Lawai"),
]
KIND = "Lampu jalan (PJU)"

MEASURE = """() => [...document.querySelectorAll('text')].map(t => {
  const b = t.getBBox();
  return {text: t.textContent, x: b.x, y: b.y, right: b.x + b.width, bottom: b.y + b.height,
          box: parseFloat(t.dataset.box), start: parseFloat(t.getAttribute('x'))};
})"""


def test_every_line_of_every_svg_label_fits_inside_its_box_in_chromium() -> None:
    with chromium() as browser:
        page = browser.new_page()
        for d in HARD:
            page.set_content(f"<!doctype html><body style='margin:0'>{labels.label_svg(d, KIND)}")
            boxes = page.evaluate(MEASURE)
            assert boxes[0]["text"] == d.id or d.id.startswith("AWLR-W"), "the id is whole"
            for b in boxes:
                assert b["right"] <= b["start"] + b["box"] + 0.05, (d.id, b)
                assert b["right"] <= labels.LABEL_W - labels.MARGIN + 0.05, (d.id, b)
                assert b["x"] >= 0, (d.id, b)
                assert b["bottom"] <= labels.LABEL_H, (d.id, b)
            texts = [b["text"] for b in boxes]
            assert KIND in texts[1] or texts[1].startswith("Lampu jalan"), texts
            # Column text never overlaps the QR code.
            assert all(b["x"] >= labels.MARGIN + labels.QR_SIZE for b in boxes[1:]), boxes


def test_the_id_is_printed_whole_and_large_and_long_names_are_shortened() -> None:
    short = labels.layout(HARD[0], KIND)
    assert (short[0].text, short[0].size) == ("PJU-LK-010", 7.0)
    long = labels.layout(HARD[1], KIND)
    assert long[0].text == HARD[1].id, "a 24-character id still fits, in smaller print"
    assert long[0].size >= 3.0
    assert labels.layout(_device("AWLR-ENIM-0001", "", ""), KIND)[0].size >= 5.5
    assert any(t.text.endswith("…") for t in long), "what does not fit ends with an ellipsis"
    assert any(t.text.startswith("Penerangan Jalan") for t in long[2:])


@pytest.mark.parametrize("d", HARD, ids=lambda d: d.id)
def test_the_png_label_has_its_text_and_keeps_its_margins(d: DeviceRecord) -> None:
    img = Image.open(io.BytesIO(labels.label_png(d, KIND))).convert("L")
    per_mm = img.width / labels.LABEL_W
    assert (img.width, img.height) == (709, 472)
    ink = img.point(lambda v: 255 if v < 128 else 0)
    box = ink.getbbox()
    assert box is not None
    left, top, right, bottom = box
    margin = labels.MARGIN * per_mm - 2
    assert left >= margin
    assert top >= margin
    assert right <= img.width - margin
    assert bottom <= img.height - margin
    # The id line across the top is inked over most of the label's width.
    id_band = ink.crop((0, 0, img.width, round((labels.MARGIN + 7) * per_mm)))
    id_box = id_band.getbbox()
    assert id_box is not None
    assert id_box[2] - id_box[0] > 0.3 * img.width
    # The text column right of the QR code carries ink (kind, name, place).
    column = ink.crop((round(labels.COLUMN_X * per_mm), id_band.height, img.width, img.height))
    assert column.getbbox() is not None


def test_the_qr_code_is_a_full_qr_code_that_phone_scanners_read_never_a_micro_qr() -> None:
    # segno.make() chooses a Micro QR for short data; BarcodeDetector and jsQR cannot read it.
    for device_id in ("PJU-1", "AWLR-ENIM-01", "PJU-LAWANGKIDUL-000123-B"):
        assert len(labels._qr_matrix(device_id)) >= 21 + 4, device_id  # version 1 + border
