"""Region searches' exact rule (:class:`jwstnb.sky.SkyQuery`) against brute force, for every
IVOA SIA 2.0 intersect mode.

Brute force: the query region and each footprint projected gnomonically about the region's
centre, where great circles are straight lines, so polygon relations are planar questions
shapely answers; circles become dense inscribed polygons of points computed on the sphere.
A case whose answer changes when both shapes grow or shrink by a hair (a touch, or the
circles' approximation) is ambiguous and skipped (counted: they must stay rare).

10,000 generated footprints (convex and concave polygons, boxes, circles, unions of two
disjoint polygons, centre-only records) around regions across RA 0/360, on both poles and
elsewhere; then hypothesis explores more on its own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon
from shapely.ops import unary_union

from jwstnb import sky
from jwstnb.errors import ValidationError

MODES = sky.INTERSECT_MODES
# (region kind, ra, dec, size in degrees): RA 0/360, both poles (regions holding the pole
# and regions beside it), and an ordinary field.
SPOTS = [
    ("polygon", 0.0, 0.0, 0.5),
    ("circle", 359.9, 20.0, 0.3),
    ("box", 0.05, -30.0, 0.4),
    ("concave", 0.0, 60.0, 0.6),
    ("polygon", 45.0, 90.0, 0.5),
    ("circle", 200.0, 89.8, 0.4),
    ("box", 10.0, -89.7, 0.5),
    ("concave", 300.0, -90.0, 0.5),
    ("circle", 151.76, -40.44, 0.05),
    ("polygon", 151.76, -40.44, 1.5),
]
TOTAL = 10_000


def _vector(ra: float, dec: float) -> np.ndarray:
    r, d = math.radians(ra), math.radians(dec)
    return np.array([math.cos(d) * math.cos(r), math.cos(d) * math.sin(r), math.sin(d)])


def _basis(centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([0.0, 0.0, 1.0]) if abs(centre[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    east = np.cross(helper, centre)
    east /= np.linalg.norm(east)
    return east, np.cross(centre, east)


def _offset(centre: np.ndarray, rho: Any, theta: Any) -> np.ndarray:
    """Points at angular distance ``rho`` (deg) and angle ``theta`` (deg) about ``centre``."""
    east, north = _basis(centre)
    rho, theta = np.radians(rho), np.radians(theta)
    return (np.cos(rho)[..., None] * centre
            + np.sin(rho)[..., None] * (np.cos(theta)[..., None] * north
                                        + np.sin(theta)[..., None] * east))


def _lonlat(xyz: np.ndarray) -> list[tuple[float, float]]:
    lon = np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0])) % 360.0
    lat = np.degrees(np.arcsin(np.clip(xyz[:, 2], -1, 1)))
    return [(float(a), float(b)) for a, b in zip(lon, lat, strict=True)]


def _ring(centre: np.ndarray, size: float, n: int, rng: np.random.Generator,
          concave: bool) -> list[tuple[float, float]]:
    theta = np.sort(rng.uniform(0, 360, n)) if not concave else np.linspace(0, 360, n,
                                                                             endpoint=False)
    rho = rng.uniform(0.5, 1.0, n) * size
    if concave:
        rho[::2] *= 0.35
    return _lonlat(_offset(centre, rho, theta))


def _make(kind: str, ra: float, dec: float, size: float,
          rng: np.random.Generator) -> tuple[sky.Footprint | None, tuple[float, float]]:
    """A footprint of ``kind`` centred on (ra, dec), and the record's centre."""
    centre = _vector(ra, dec)
    if kind == "circle":
        return sky.Footprint(circles=((ra % 360.0, dec, size),)), (ra % 360.0, dec)
    if kind == "centre":
        return None, (ra % 360.0, dec)
    if kind == "box":
        half = size / math.sqrt(2)
        spin = rng.uniform(0, 90)
        ring = _lonlat(_offset(centre, np.full(4, half), spin + np.array([45, 135, 225, 315])))
        return sky.Footprint((tuple(ring),)), (ra % 360.0, dec)
    if kind == "union":
        a = _offset(centre, np.array(size * 0.6), np.array(90.0))
        b = _offset(centre, np.array(size * 0.6), np.array(270.0))
        rings = tuple(
            tuple(_lonlat(_offset(x, np.full(4, size * 0.4),
                                  rng.uniform(0, 90) + np.array([45, 135, 225, 315]))))
            for x in (a, b)
        )
        return sky.Footprint(rings), (ra % 360.0, dec)
    n = int(rng.integers(3, 9)) if kind == "polygon" else 2 * int(rng.integers(3, 6))
    return sky.Footprint((tuple(_ring(centre, size, n, rng, kind == "concave")),)), (
        ra % 360.0, dec)


def _footprints(count: int, seed: int) -> list[tuple[int, sky.Footprint | None,
                                                     tuple[float, float]]]:
    """``count`` records spread over SPOTS: (spot index, footprint, centre)."""
    rng = np.random.default_rng(seed)
    out = []
    kinds = ["polygon", "concave", "box", "circle", "union", "centre"]
    for i in range(count):
        spot = i % len(SPOTS)
        _, ra, dec, size = SPOTS[spot]
        where = _offset(_vector(ra, dec), np.array([rng.uniform(0, 2.5 * size)]),
                        np.array([rng.uniform(0, 360)]))
        (f_ra, f_dec), = _lonlat(where)
        f_size = size * float(np.exp(rng.uniform(math.log(0.02), math.log(3.0))))
        kind = kinds[int(rng.integers(0, len(kinds)))]
        footprint, centre = _make(kind, f_ra, f_dec, min(f_size, 4.0), rng)
        out.append((spot, footprint, centre))
    return out


def _region(spot: int) -> sky.Footprint:
    kind, ra, dec, size = SPOTS[spot]
    footprint, _ = _make(kind, ra, dec, size, np.random.default_rng(spot))
    assert footprint is not None
    return footprint


# --- brute force: gnomonic projection + shapely -------------------------------------------------


class Plane:
    """The gnomonic projection about a region's centre (great circles -> straight lines)."""

    def __init__(self, region: sky.Footprint) -> None:
        self.centre = _vector(*region.centre)
        self.east, self.north = _basis(self.centre)

    def xy(self, xyz: np.ndarray) -> np.ndarray:
        height = xyz @ self.centre
        assert np.all(height > 0.2), "brute force needs shapes near the region"
        flat = xyz / height[:, None]
        return np.column_stack((flat @ self.east, flat @ self.north))

    def shape(self, footprint: sky.Footprint) -> Any:
        parts = []
        for ring in footprint.polygons:
            parts.append(Polygon(self.xy(np.array([_vector(*v) for v in ring]))))
        for ra, dec, radius in footprint.circles:
            ring_xyz = _offset(_vector(ra, dec), np.full(720, radius),
                               np.linspace(0, 360, 720, endpoint=False))
            parts.append(Polygon(self.xy(ring_xyz)))
        return unary_union(parts) if len(parts) > 1 else parts[0]

    def point(self, ra: float, dec: float) -> Any:
        return Point(self.xy(_vector(ra, dec)[None, :])[0])


def _brute(plane: Plane, region_shape: Any, footprint: sky.Footprint | None,
           centre: tuple[float, float], mode: str, tol: float) -> bool | None:
    """The brute-force answer, or None when a hair's change of the shapes changes it."""
    point = plane.point(*centre)
    if mode == "center" or footprint is None:
        if mode == "covers":
            return False  # a point never covers a region
        grown, shrunk = region_shape.buffer(tol), region_shape.buffer(-tol)
        a, b = grown.covers(point), shrunk.covers(point)
        return a if a == b else None
    shape = plane.shape(footprint)
    r_big, r_small = region_shape.buffer(tol), region_shape.buffer(-tol)
    f_big, f_small = shape.buffer(tol), shape.buffer(-tol)
    if mode == "overlaps":
        a, b = r_big.intersects(f_big), r_small.intersects(f_small)
    elif mode == "covers":
        a, b = f_small.covers(r_big), f_big.covers(r_small)
    else:
        a, b = r_small.covers(f_big), r_big.covers(f_small)
    return a if a == b else None


def test_every_mode_equals_brute_force_over_ten_thousand_footprints() -> None:
    records = _footprints(TOTAL, seed=20261205)
    planes = {i: Plane(_region(i)) for i in range(len(SPOTS))}
    shapes = {i: planes[i].shape(_region(i)) for i in range(len(SPOTS))}
    queries = {(i, m): sky.SkyQuery(region=_region(i), intersect=m)
               for i in range(len(SPOTS)) for m in MODES}
    tested = {m: 0 for m in MODES}
    positives = {m: 0 for m in MODES}
    ambiguous = 0
    wrong = []
    for spot, footprint, centre in records:
        tol = 2e-4 * math.radians(SPOTS[spot][3])
        for mode in MODES:
            expected = _brute(planes[spot], shapes[spot], footprint, centre, mode, tol)
            if expected is None:
                ambiguous += 1
                continue
            got = queries[(spot, mode)].matches(footprint, centre)
            tested[mode] += 1
            positives[mode] += expected
            if got != expected:
                wrong.append((mode, spot, footprint, centre, got, expected))
    assert not wrong, f"{len(wrong)} wrong, first: {wrong[:3]}"
    assert ambiguous < 0.01 * TOTAL * len(MODES)
    # Each mode met both answers many times (the generator exercises it).
    for mode in MODES:
        assert tested[mode] > 0.98 * TOTAL
        assert 100 < positives[mode] < tested[mode] - 100, (mode, positives[mode])


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(spot=st.integers(0, len(SPOTS) - 1), seed=st.integers(0, 2**32 - 1),
       kind=st.sampled_from(["polygon", "concave", "box", "circle", "union", "centre"]),
       distance=st.floats(0.0, 2.5), scale=st.floats(0.02, 3.0), angle=st.floats(0, 360))
def test_hypothesis_footprints_agree_with_brute_force(
    spot: int, seed: int, kind: str, distance: float, scale: float, angle: float
) -> None:
    _, ra, dec, size = SPOTS[spot]
    (f_ra, f_dec), = _lonlat(_offset(_vector(ra, dec), np.array([distance * size]),
                                     np.array([angle])))
    footprint, centre = _make(kind, f_ra, f_dec, size * scale, np.random.default_rng(seed))
    region = _region(spot)
    plane = Plane(region)
    for mode in MODES:
        expected = _brute(plane, plane.shape(region), footprint, centre, mode,
                          2e-4 * math.radians(size))
        if expected is not None:
            assert sky.SkyQuery(region=region, intersect=mode).matches(footprint, centre) is (
                expected), mode


# --- the modes' meaning on simple cases ----------------------------------------------------------


def test_modes_on_a_footprint_a_region_inside_it_and_one_beside_it() -> None:
    field = sky.parse_stcs("BOX ICRS 151.76 -40.44 0.2 0.2")
    inner = sky.parse_region("CIRCLE ICRS 151.76 -40.44 0.01")
    beside = sky.parse_region("CIRCLE ICRS 151.76 -40.2 0.01")

    def modes(region: sky.Footprint) -> dict[str, bool]:
        return {m: sky.SkyQuery(region=region, intersect=m).matches(field, (151.76, -40.44))
                for m in MODES}

    assert modes(inner) == {"overlaps": True, "covers": True, "enclosed": False,
                            "center": True}
    assert modes(beside) == dict.fromkeys(MODES, False)
    # The footprint itself as the region: it covers and encloses itself.
    assert modes(field) == dict.fromkeys(MODES, True)


def test_a_centre_only_record_covers_only_a_point() -> None:
    point = sky.SkyQuery(cone=(10.0, 20.0, 0.0), intersect="covers")
    assert point.matches(None, (10.0, 20.0))
    cone = sky.SkyQuery(cone=(10.0, 20.0, 0.5), intersect="covers")
    assert not cone.matches(None, (10.0, 20.0))
    for mode in ("overlaps", "enclosed", "center"):
        assert sky.SkyQuery(cone=(10.0, 20.0, 0.5), intersect=mode).matches(None, (10.1, 20.0))


def test_regions_from_regions_objects_vertices_and_stcs_agree() -> None:
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion, PolygonSkyRegion, RectangleSkyRegion

    vertices = [(151.7, -40.5), (151.8, -40.5), (151.8, -40.4)]
    as_text = sky.parse_region("POLYGON ICRS 151.7 -40.5 151.8 -40.5 151.8 -40.4")
    as_list = sky.parse_region(vertices)
    as_quantities = sky.parse_region([(ra * u.deg, dec * u.deg) for ra, dec in vertices])
    ras, decs = [v[0] for v in vertices], [v[1] for v in vertices]
    as_skycoord = sky.parse_region(SkyCoord(ras, decs, unit="deg"))
    as_regions = sky.parse_region(PolygonSkyRegion(SkyCoord(ras, decs, unit="deg")))
    assert as_text == as_list == as_quantities == as_regions
    assert np.allclose(as_skycoord.polygons[0], as_text.polygons[0])
    circle = sky.parse_region(CircleSkyRegion(SkyCoord(10, 20, unit="deg"), 5 * u.arcmin))
    assert circle.circles[0] == pytest.approx((10.0, 20.0, 5 / 60))
    box = sky.parse_region(RectangleSkyRegion(SkyCoord(10, 20, unit="deg"), 1 * u.deg,
                                              0.5 * u.deg))
    assert box == sky.parse_stcs("BOX ICRS 10 20 1 0.5")
    turned = sky.parse_region(RectangleSkyRegion(SkyCoord(10, 20, unit="deg"), 1 * u.deg,
                                                 0.5 * u.deg, angle=90 * u.deg))
    far_east = sky.SkyQuery(region=turned, intersect="center")
    assert not far_east.matches(None, (10.4 / math.cos(math.radians(20)), 20.0))
    assert far_east.matches(None, (10.0, 20.4))


@pytest.mark.parametrize("bad", ["POLYGON ICRS 1 2 3", "ELLIPSE ICRS 1 2 3 4 5", 42,
                                 [(1, 2), (3, 4)], {"ra": 1}])
def test_bad_regions_name_the_argument(bad: Any) -> None:
    with pytest.raises(ValidationError, match="region"):
        sky.parse_region(bad)


def test_intersect_modes_parse_in_any_case() -> None:
    assert sky.parse_intersect("COVERS") == "covers"
    assert sky.parse_intersect("centre") == "center"
    with pytest.raises(ValidationError, match="intersect"):
        sky.parse_intersect("touches")
