"""Approximate kecamatan outlines for the offline map: one closed cell per district, holding
its own centre, inside the regency's bbox, marked approximate; served as GeoJSON."""

from __future__ import annotations

import itertools

from api.district_outlines import district_outlines
from devices.region import load_region


def _inside(lon: float, lat: float, ring: list[list[float]]) -> bool:
    hit = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def test_every_district_gets_a_closed_cell_around_its_centre_inside_the_regency() -> None:
    region = load_region()
    doc = district_outlines(region)
    assert len(doc["features"]) == len(region.districts) == 22
    b = region.bbox
    for f, d in zip(doc["features"], region.districts, strict=True):
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1]
        assert f["properties"]["name"] == d.name
        assert f["properties"]["approximate"] is True
        assert _inside(d.lon, d.lat, ring), d.name
        for other in region.districts:
            if other is not d:
                assert not _inside(other.lon, other.lat, ring), (d.name, other.name)
        for lon, lat in ring:
            assert b.min_lon - 1e-4 <= lon <= b.max_lon + 1e-4
            assert b.min_lat - 1e-4 <= lat <= b.max_lat + 1e-4
