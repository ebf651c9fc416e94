"""Approximate district (kecamatan) outlines for the offline map: the Voronoi cell of each
district centre, clipped to the regency's bounding box.

No openly licensed kecamatan boundary data ships as a package here, so the outlines are
derived and labelled approximate (``properties.approximate``): they answer "which district is
this dot in, roughly" without a tile server. Pure: no I/O beyond the region passed in.
"""

from __future__ import annotations

import math
from typing import Any

from devices.region import Region

Point = tuple[float, float]


def _clip(poly: list[Point], p: Point, q: Point) -> list[Point]:
    """The part of ``poly`` nearer to ``p`` than to ``q`` (Sutherland-Hodgman, one edge)."""
    mx, my = (p[0] + q[0]) / 2, (p[1] + q[1]) / 2
    nx, ny = q[0] - p[0], q[1] - p[1]

    def side(a: Point) -> float:
        return (a[0] - mx) * nx + (a[1] - my) * ny

    out: list[Point] = []
    for i, a in enumerate(poly):
        b = poly[(i + 1) % len(poly)]
        sa, sb = side(a), side(b)
        if sa <= 0:
            out.append(a)
        if (sa < 0 < sb) or (sb < 0 < sa):
            t = sa / (sa - sb)
            out.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
    return out


def district_outlines(region: Region) -> dict[str, Any]:
    """A GeoJSON FeatureCollection: one Polygon per district, [lon, lat] rings, closed."""
    b = region.bbox
    scale = math.cos(math.radians((b.min_lat + b.max_lat) / 2))  # metres per degree, roughly

    def xy(lon: float, lat: float) -> Point:
        return (lon * scale, lat)

    box = [
        xy(b.min_lon, b.min_lat),
        xy(b.max_lon, b.min_lat),
        xy(b.max_lon, b.max_lat),
        xy(b.min_lon, b.max_lat),
    ]
    centres = [xy(d.lon, d.lat) for d in region.districts]
    features: list[dict[str, Any]] = []
    for i, d in enumerate(region.districts):
        cell = box
        for j, other in enumerate(centres):
            if j != i and other != centres[i]:
                cell = _clip(cell, centres[i], other)
        if len(cell) < 3:
            continue
        ring = [[round(x / scale, 5), round(y, 5)] for x, y in cell]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "name": d.name,
                    "code": d.code,
                    "approximate": True,
                    "method": "Voronoi cell of the kecamatan centre, clipped to the regency bbox",
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": features}
