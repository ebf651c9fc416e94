"""The region devices may be placed in: a bounding box and its districts (kecamatan).

The bundled region is Kabupaten Muara Enim. The district list is configuration, not code
(six districts may split off into a new regency): point ``CITYSENSE_REGION_FILE`` at a
JSON file of the same shape to change it.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True, slots=True)
class BBox:
    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon

    def describe(self) -> str:
        return f"latitude {self.min_lat}..{self.max_lat}, longitude {self.min_lon}..{self.max_lon}"


@dataclass(frozen=True, slots=True)
class District:
    code: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    bbox: BBox
    districts: tuple[District, ...]

    def district(self, raw: str) -> District | None:
        """The district called ``raw`` (case and spacing ignored), or ``None``."""
        key = " ".join(raw.split()).casefold()
        for d in self.districts:
            if d.name.casefold() == key or d.code == key:
                return d
        return None

    def suggest(self, raw: str) -> str:
        """A hint for an unknown district name: the closest names, else the whole list."""
        names = [d.name for d in self.districts]
        close = difflib.get_close_matches(raw.strip().title(), names, n=3, cutoff=0.6)
        if close:
            return "did you mean " + " or ".join(repr(c) for c in close) + "?"
        return "use one of: " + ", ".join(names)


def parse_region(doc: dict[str, object]) -> Region:
    bbox = doc["bbox"]
    districts = doc["districts"]
    if not isinstance(bbox, dict) or not isinstance(districts, list):
        raise ValueError("region file needs 'bbox' {min_lat,..} and a 'districts' list")
    return Region(
        name=str(doc.get("regency", "region")),
        bbox=BBox(
            float(bbox["min_lat"]),
            float(bbox["max_lat"]),
            float(bbox["min_lon"]),
            float(bbox["max_lon"]),
        ),
        districts=tuple(
            District(str(d["kode"]), str(d["name"]), float(d["lat"]), float(d["lon"]))
            for d in districts
        ),
    )


def load_region(path: str | Path | None = None) -> Region:
    """The configured region file, or the bundled Muara Enim one."""
    if path is None:
        text = resources.files("devices.data").joinpath("muara-enim.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"region file {path} must hold a JSON object")
    return parse_region(doc)
