"""How the sky is stored for a database to index it: GeoJSON for MongoDB's ``2dsphere`` index
and HEALPix cells (``skyCells``) read in bounded ranges. Pure.

GeoJSON for MongoDB, cones.

Pure: no I/O except :func:`resolve` (astropy's name resolver). astropy, numpy and
spherical-geometry are imported inside the functions, so ``import jwstnb.sky`` is light.

What each library does for us:

- ``spherical_geometry`` (STScI): polygons with great-circle edges on the unit sphere
  (orientation, point-in-polygon, cones as polygons, great-circle interpolation, lon/lat <->
  unit vectors).
- ``astropy.coordinates``: parsing positions and angles in every notation astronomers type,
  frame conversion (FK4/B1950, FK5, Galactic -> ICRS), angular separations, offsets for STC-S
  boxes, the Sesame name resolver; ``astropy.wcs`` maps image corners onto the sky.

GeoJSON for MongoDB (:meth:`Footprint.geojson`, :func:`cone_geojson`) is built so that it means
the same region whether a server reads edges as great circles (MongoDB's ``2dsphere``) or as
straight lines in longitude/latitude (SecantusDB, the embedded server): every edge is cut into
pieces short enough that the two readings differ by less than :data:`CHART_TOLERANCE`, and every
shape is cut along the meridians at multiples of 90 degrees (meridians are great circles AND
straight lines, so the cuts are exact in both readings). Each piece is therefore smaller than a
hemisphere, never crosses RA 180 (longitude +-180), and a region around a pole is a band that
reaches latitude +-90: no big-polygon CRS is needed, so the same GeoJSON can be stored in a
document and sent in a query. Cones are padded by :data:`CONE_PAD` so a candidate set built
with them holds every true match under either reading; :func:`matches_cone` then decides
exactly with great circles.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

from jwstnb.sky.astronomy import (
    _CIRCLE_SIDES,
    _MAX_POLYGON_RADIUS,
    _MERIDIAN_STEP,
    _PARALLEL_STEP,
    _POLE,
    _WHOLE_SKY,
    CHART_TOLERANCE,
    CONE_PAD,
    Footprint,
    Vertex,
    _angle,
    _invalid,
    _is_convex,
    _oriented,
    _to_lonlat,
    _to_vectors,
    _vertex,
    parse_radius,
)

if TYPE_CHECKING:
    from jwstnb.sky.astronomy import Vectors

__all__ = [
    "CELLS_PER_CONE",
    "CELLS_PER_RECORD",
    "CELL_ORDER",
    "cone_cells",
    "cone_geojson",
    "point_geojson",
    "record_cells",
    "sky_geojson",
    "stored_geojson",
]


# --- longitude/latitude chart -> GeoJSON ---------------------------------------------------------


def _unwrap(previous: float, lon: float) -> float:
    return previous + ((lon - previous + 180.0) % 360.0 - 180.0)


def _edge_points(a: Vectors, b: Vectors, lon_a: float, depth: int = 0) -> list[Vertex]:
    """Points along the great circle a->b (a excluded, b included) at unwrapped longitudes,
    cut until the chart's straight chord and the great circle agree within CHART_TOLERANCE."""
    from spherical_geometry.great_circle_arc import midpoint  # type: ignore[import-untyped, unused-ignore]

    lon_b, lat_b = _to_lonlat(b)
    _, lat_a = _to_lonlat(a)
    if abs(lat_b) >= _POLE:  # up a meridian into the pole: straight in both readings
        return [(lon_a, lat_b)]
    lon_b = _unwrap(lon_a, lon_b)
    if abs(lat_a) >= _POLE:
        return [(lon_b, lat_b)]
    if depth < 24 and abs(lon_b - lon_a) > 1e-12:
        mid = midpoint(a, b)
        lat_m = _to_lonlat(mid)[1]
        chord = _to_vectors([(lon_a + lon_b) / 2.0], [(lat_a + lat_b) / 2.0])[0]
        if abs(lat_m) >= _POLE or math.degrees(float(_angle(chord, mid))) > CHART_TOLERANCE:
            first = _edge_points(a, mid, lon_a, depth + 1)
            return first + _edge_points(mid, b, first[-1][0], depth + 1)
    return [(lon_b, lat_b)]


def _chart_ring(xyz: Vectors) -> list[Vertex]:
    """A counter-clockwise great-circle ring as a closed ring in the (unwrapped lon, lat) chart.

    A ring that winds once around a pole becomes the band between it and that pole; a vertex
    at a pole becomes an edge along latitude +-90 spanning the polygon's angle there.
    """
    import numpy as np

    lonlat = [_to_lonlat(p) for p in xyz]
    start = next((i for i, (_, lat) in enumerate(lonlat) if abs(lat) < _POLE), None)
    if start is None:
        raise _invalid("footprint", "a polygon cannot have all its vertices at a pole")
    xyz = np.roll(xyz, -start, axis=0)
    lonlat = lonlat[start:] + lonlat[:start]
    chart: list[Vertex] = [lonlat[0]]
    n = len(xyz)
    for i in range(n):
        lon, lat = chart[-1]
        nxt = (i + 1) % n
        if abs(lonlat[nxt][1]) >= _POLE:  # into a pole and out along another meridian
            pole = math.copysign(90.0, lonlat[nxt][1])
            out_lon = lonlat[(i + 2) % n][0]
            # Inside on the left: at the north pole the corner runs west, at the south east.
            turn = (lon - out_lon) % 360.0 if pole > 0 else (out_lon - lon) % 360.0
            chart += [(lon, pole), (lon - turn if pole > 0 else lon + turn, pole)]
            continue
        if abs(lat) >= _POLE:  # leaving a pole: straight down the meridian
            chart.append((_unwrap(lon, lonlat[nxt][0]), lonlat[nxt][1]))
            continue
        chart += _edge_points(xyz[i], xyz[nxt], lon)
    winding = chart[-1][0] - chart[0][0]
    chart.pop()  # the closing vertex: same place as the first
    if abs(winding) > 180.0:  # the ring goes once around a pole: close it along the pole
        pole = 90.0 if winding > 0 else -90.0
        end = chart[0][0] + winding
        chart += [(end, chart[0][1]), (end, pole), (chart[0][0], pole)]
    return chart


def _chart_bounds(chart: list[Vertex]) -> tuple[float, float, float, float]:
    lons, lats = [v[0] for v in chart], [v[1] for v in chart]
    lo, hi = min(lons), max(lons)
    if hi - lo >= 360.0 - 1e-9:
        lo, hi = -180.0, 180.0
    pad = CONE_PAD
    return lo, hi, max(-90.0, min(lats) - pad), min(90.0, max(lats) + pad)


def _clip(ring: list[Vertex], x: float, keep_above: bool) -> list[Vertex]:
    """Sutherland-Hodgman against the line lon = x (hand-written: a vertical line in the
    chart is a meridian, so this is the exact great-circle cut, and no dependency of jwstnb
    clips polygons in a plane)."""
    out: list[Vertex] = []
    for i, (lon, lat) in enumerate(ring):
        p_lon, p_lat = ring[i - 1]
        inside = lon >= x if keep_above else lon <= x
        p_inside = p_lon >= x if keep_above else p_lon <= x
        if inside != p_inside:
            t = (x - p_lon) / (lon - p_lon)
            out.append((x, p_lat + t * (lat - p_lat)))
        if inside:
            out.append((lon, lat))
    return out


def _sector_pieces(chart: list[Vertex]) -> list[list[list[float]]]:
    """Cut a chart ring along lon = 90k and move each piece into [-180, 180]."""
    lo, hi = min(v[0] for v in chart), max(v[0] for v in chart)
    pieces = []
    sector = math.floor(lo / 90.0) * 90.0
    while sector < hi:
        part = _clip(_clip(chart, sector, True), sector + 90.0, False)
        shift = ((sector + 180.0) % 360.0 - 180.0) - sector
        ring = _finish([(lon + shift, lat) for lon, lat in part])
        if ring is not None:
            pieces.append(ring)
        sector += 90.0
    return pieces


def _finish(ring: list[Vertex]) -> list[list[float]] | None:
    """A GeoJSON ring: clamped, no repeated points, long meridian edges cut, closed, CCW."""
    clean: list[Vertex] = []
    for lon, lat in ring:
        v = (min(180.0, max(-180.0, lon)), min(90.0, max(-90.0, lat)))
        if not clean or abs(v[0] - clean[-1][0]) > 1e-12 or abs(v[1] - clean[-1][1]) > 1e-12:
            clean.append(v)
    while len(clean) > 1 and abs(clean[0][0] - clean[-1][0]) <= 1e-12 and abs(
            clean[0][1] - clean[-1][1]) <= 1e-12:
        clean.pop()
    if len(clean) < 3:
        return None
    area = sum(clean[i - 1][0] * v[1] - v[0] * clean[i - 1][1] for i, v in enumerate(clean))
    width = max(v[0] for v in clean) - min(v[0] for v in clean)
    if abs(area) <= 1e-14 or width <= 1e-10:  # a sliver left by a cut: nothing to index
        return None
    if area < 0:  # GeoJSON's exterior rings turn counter-clockwise
        clean.reverse()
    out: list[list[float]] = []
    for i, (lon, lat) in enumerate(clean):
        p_lon, p_lat = clean[i - 1]
        if abs(p_lon - lon) < 1e-9 and abs(lat - p_lat) > _MERIDIAN_STEP:
            steps = math.ceil(abs(lat - p_lat) / _MERIDIAN_STEP)
            out += [[lon, p_lat + (lat - p_lat) * k / steps] for k in range(1, steps)]
        out.append([lon, lat])
    out.append(list(out[0]))
    return out


def _box_pieces(lon_lo: float, lon_hi: float, lat_lo: float,
                lat_hi: float) -> list[list[list[float]]]:
    """A longitude/latitude box as GeoJSON pieces; parallels cut every _PARALLEL_STEP so their
    great-circle reading sags less than the padding the callers add."""
    steps = max(1, math.ceil((lon_hi - lon_lo) / _PARALLEL_STEP))
    lons = [lon_lo + (lon_hi - lon_lo) * k / steps for k in range(steps + 1)]
    bottom = [(lon, lat_lo) for lon in lons] if lat_lo > -90.0 else [(lon_lo, -90.0),
                                                                      (lon_hi, -90.0)]
    top = [(lon, lat_hi) for lon in reversed(lons)] if lat_hi < 90.0 else [(lon_hi, 90.0),
                                                                           (lon_lo, 90.0)]
    return _sector_pieces(bottom + top)


def _circle_pieces(ra: float, dec: float, radius: float) -> list[list[list[float]]]:
    """A circle as GeoJSON pieces that contain it: a circumscribed polygon when it is small,
    else its longitude/latitude box (the box of a cap is exact, astropy-free trigonometry)."""
    if radius <= _MAX_POLYGON_RADIUS:
        from spherical_geometry.polygon import SingleSphericalPolygon  # type: ignore[import-untyped, unused-ignore]

        # Vertices at the distance where the sides' midpoints touch the circle.
        vertex = math.atan(math.tan(math.radians(radius)) / math.cos(math.pi / _CIRCLE_SIDES))
        polygon = SingleSphericalPolygon.from_cone(
            ra, dec, math.degrees(vertex), degrees=True, steps=_CIRCLE_SIDES + 1)
        return _sector_pieces(_chart_ring(polygon.points[:-1][::-1].copy()))
    pad = math.degrees(math.radians(_PARALLEL_STEP) ** 2 / 16.0)  # parallels' sag bound
    lat_lo, lat_hi = max(-90.0, dec - radius - pad), min(90.0, dec + radius + pad)
    span = math.sin(math.radians(radius)) / max(math.cos(math.radians(dec)), 1e-300)
    if lat_hi >= 90.0 or lat_lo <= -90.0 or span >= 1.0:
        return _box_pieces(-180.0, 180.0, lat_lo, lat_hi)
    half = math.degrees(math.asin(span))
    return _box_pieces(ra - half, ra + half, lat_lo, lat_hi)


def _geometry(pieces: list[list[list[float]]]) -> dict[str, Any]:
    if len(pieces) == 1:
        return {"type": "Polygon", "coordinates": [pieces[0]]}
    return {"type": "MultiPolygon", "coordinates": [[ring] for ring in pieces]}


def point_geojson(ra: float, dec: float) -> dict[str, Any]:
    """A GeoJSON Point for a centre (longitude = RA in [-180, 180])."""
    ra_deg, dec_deg = _vertex(ra, dec, "position")
    lon = ra_deg - 360.0 if ra_deg > 180.0 else ra_deg
    return {"type": "Point", "coordinates": [lon, dec_deg]}


def stored_geojson(footprint: Footprint) -> dict[str, Any]:
    """The GeoJSON a record stores for its footprint, for a MongoDB ``2dsphere`` index
    (stored documents and queries alike).

    Longitude = RA in [-180, 180], latitude = Dec; counter-clockwise closed rings, cut
    along the meridians at multiples of 90 degrees so no piece crosses RA 180 or is bigger
    than a hemisphere (see the module notes); ``Polygon`` for one piece, else
    ``MultiPolygon``. A concave polygon is sent as its longitude/latitude box (a
    superset: what matches exactly is decided by :func:`matches_cone`).
    """
    pieces: list[list[list[float]]] = []
    for ring in footprint.polygons:
        xyz = _oriented(ring)
        if _is_convex(xyz):
            pieces.extend(_sector_pieces(_chart_ring(xyz)))
        else:
            pieces.extend(_box_pieces(*_chart_bounds(_chart_ring(xyz))))
    for ra, dec, radius in footprint.circles:
        pieces.extend(_circle_pieces(ra, dec, radius))
    return _geometry(pieces)


def sky_geojson(footprint: Footprint | None,
                centre: tuple[float, float] | None) -> dict[str, Any] | None:
    """What a record stores for position search: its footprint, else its centre, else None."""
    if footprint is not None:
        return stored_geojson(footprint)
    if centre is not None:
        return point_geojson(*centre)
    return None


# --- cells: a position index read in bounded ranges ---------------------------------------------
#
# SecantusDB's 2dsphere lookups return every record on the query's cube face (each record is
# filed under its S2 cells and all their ancestors down to the face), so a cone search there
# reads a sixth of the sky. The session leads position searches on SecantusDB with these cells
# instead: HEALPix (nested, NUNIQ numbering as in IVOA MOCs) through ``astropy_healpix``. A
# record is filed under its own cells (positive ids) at the finest order at which its
# footprint's bounding cap touches at most CELLS_PER_RECORD cells, and under their parents at
# every coarser order (negative ids). A cone looks up its cells at every order down to the
# finest at which it touches at most CELLS_PER_CONE cells, plus the parent tags at that order:
# a record that overlaps the cone shares one of those ids (both sides pad by CONE_PAD).

#: Finest HEALPix order of the cell index (order 8 cells are 0.23 degrees across; order 10
#: gave 42 lookups for a 0.1 degree cone instead of 14, and each costs SecantusDB a range read).
CELL_ORDER = 8
CELLS_PER_RECORD = 16
CELLS_PER_CONE = 128


def _uniq(order: int, pixel: int) -> int:
    return (4 << (2 * order)) + int(pixel)


@functools.cache
def _healpix(order: int) -> Any:
    from astropy_healpix import HEALPix  # type: ignore[import-untyped, unused-ignore]

    return HEALPix(nside=2**order, order="nested")


def _cap_pixels(order: int, ra: float, dec: float, radius: float) -> list[int]:
    """Every pixel of ``order`` that overlaps the cap (partly or whole)."""
    import astropy.units as u  # type: ignore[import-untyped, unused-ignore]

    if radius >= _WHOLE_SKY:
        return list(range(12 * 4**order))
    found = _healpix(order).cone_search_lonlat(ra * u.deg, dec * u.deg, radius * u.deg)
    return sorted(int(p) for p in found)


def _orders(ra: float, dec: float, radius: float, limit: int) -> list[list[int]]:
    """The cap's pixels at orders 0, 1, ... up to the finest (at most CELL_ORDER) at which
    it overlaps at most ``limit`` pixels (order 0 whatever its count)."""
    levels = [_cap_pixels(0, ra, dec, radius)]
    while len(levels) <= CELL_ORDER:
        order = len(levels)
        if radius >= _WHOLE_SKY and 12 * 4**order > limit:
            break
        pixels = _cap_pixels(order, ra, dec, radius)
        if len(pixels) > limit:
            break
        levels.append(pixels)
    return levels


def _small_cap_orders(ra: float, dec: float, radius: float) -> list[list[int]] | None:
    """:func:`_orders` for a cap that touches at most CELLS_PER_CONE cells at CELL_ORDER,
    from ONE pixel search: a coarser cell overlaps the cap exactly when one of its children
    does, so each coarser level is the finer one's parents. None for a bigger cap."""
    if radius >= _WHOLE_SKY:
        return None
    finest = _cap_pixels(CELL_ORDER, ra, dec, radius)
    if len(finest) > CELLS_PER_CONE:
        return None
    return [sorted({p >> 2 * (CELL_ORDER - order) for p in finest})
            for order in range(CELL_ORDER + 1)]




def record_cells(footprint: Footprint | None, centre: tuple[float, float] | None) -> list[int]:
    """The cell ids a record is filed under (see the notes above): its footprint's, else its
    centre's, else none."""
    if footprint is not None:
        levels = _orders(*footprint.bounding_cap, CELLS_PER_RECORD)
        order, pixels = len(levels) - 1, levels[-1]
    elif centre is not None:
        import astropy.units as u  # type: ignore[import-untyped, unused-ignore]

        ra, dec = _vertex(centre[0], centre[1], "position")
        order = CELL_ORDER
        pixels = [int(_healpix(order).lonlat_to_healpix(ra * u.deg, dec * u.deg))]
    else:
        return []
    own = [_uniq(order, p) for p in pixels]
    parents = {-_uniq(up, p >> 2 * (order - up)) for p in pixels for up in range(order)}
    return own + sorted(parents, reverse=True)


def cone_cells(ra: float, dec: float, radius: float) -> list[int]:
    """The cell ids that find every record overlapping the cone (a superset: the cone's
    GeoJSON and :func:`matches_cone` decide exactly)."""
    ra_deg, dec_deg = _vertex(ra, dec, "position")
    padded = min(180.0, parse_radius(radius) + CONE_PAD)
    levels = _small_cap_orders(ra_deg, dec_deg, padded) or _orders(
        ra_deg, dec_deg, padded, CELLS_PER_CONE)
    finest = len(levels) - 1
    # Records filed at a finer order than this are found by their parent tags.
    ids = [-_uniq(finest, p) for p in levels[-1]] if finest < CELL_ORDER else []
    for order, pixels in enumerate(levels):
        ids.extend(_uniq(order, p) for p in pixels)
    return ids


def cone_geojson(ra: float, dec: float, radius: float) -> dict[str, Any]:
    """GeoJSON for ``$geoIntersects`` that contains the whole cone (padded by CONE_PAD).

    Valid at the poles and across RA 0/360, read as great circles or as lon/lat lines. Radius
    0 is sent as a cone of radius CONE_PAD too (not a Point), so a footprint whose edge the
    position touches is still a candidate on a server that reads edges as lon/lat lines.
    """
    ra_deg, dec_deg = _vertex(ra, dec, "position")
    radius_deg = parse_radius(radius)
    return _geometry(_circle_pieces(ra_deg, dec_deg, min(180.0, radius_deg + CONE_PAD)))

