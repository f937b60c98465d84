"""jwstnb.sky: STC-S, WCS and pointing -> footprints, GeoJSON for 2dsphere, exact cone tests.

Brute force here means astropy separations from densely sampled boundaries (great-circle
interpolation), and containment by spherical-geometry for the great-circle reading of the
GeoJSON and by matplotlib's planar point-in-path for the longitude/latitude reading.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from typing import Any

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord, angular_separation
from astropy.wcs import WCS
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from matplotlib.path import Path
from spherical_geometry.great_circle_arc import interpolate
from spherical_geometry.polygon import SingleSphericalPolygon
from spherical_geometry.vector import lonlat_to_vector, vector_to_lonlat

from jwstnb import sky
from jwstnb.errors import NameNotResolved, ValidationError

ARCSEC = 1.0 / 3600.0
SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

ras = st.one_of(
    st.sampled_from([0.0, 359.9999999, 180.0, 179.99999, 1e-7, 90.0, 270.0]),
    st.floats(0.0, 360.0, exclude_max=True),
)
decs = st.one_of(
    st.sampled_from([90.0, -90.0, 89.9999, -89.9999, 0.0, 89.5, -89.5]),
    st.floats(-90.0, 90.0),
)
radii = st.one_of(st.sampled_from([0.0, ARCSEC, 30.0, 0.1]), st.floats(0.0, 30.0))
sizes = st.one_of(st.sampled_from([ARCSEC, 30.0, 0.05]), st.floats(ARCSEC, 30.0))


@st.composite
def polygons(draw: st.DrawFn) -> tuple[tuple[float, float], ...]:
    """A star-shaped polygon (convex or not) around a random centre, 1 arcsec to 30 deg."""
    ra, dec, size = draw(ras), draw(decs), draw(sizes)
    n = draw(st.integers(3, 7))
    angles = sorted(draw(st.lists(st.floats(0.0, 359.0), min_size=n, max_size=n,
                                  unique_by=lambda a: round(a))))
    gaps = [b - a for a, b in zip(angles, [*angles[1:], angles[0] + 360.0], strict=True)]
    assume(all(15.0 < gap < 180.0 for gap in gaps))  # the centre is strictly inside
    reach = draw(st.lists(st.floats(0.4, 1.0), min_size=n, max_size=n))
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    corners = centre.directional_offset_by(np.array(angles) * u.deg,
                                           np.array(reach) * size * u.deg)
    return tuple(zip(corners.ra.deg.tolist(), corners.dec.deg.tolist(), strict=True))


footprints = st.one_of(
    polygons().map(lambda ring: sky.Footprint((ring,))),
    st.tuples(ras, decs, sizes).map(lambda c: sky.Footprint(circles=(c,))),
)


# --- helpers -------------------------------------------------------------------------------------


def rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"][0]]
    assert geometry["type"] == "MultiPolygon"
    return [polygon[0] for polygon in geometry["coordinates"]]


def sample_edges(ring: tuple[tuple[float, float], ...], per_edge: int) -> np.ndarray:
    """(lon, lat) points along a great-circle ring, per_edge points per edge."""
    lon, lat = np.array(ring).T
    x, y, z = lonlat_to_vector(lon, lat)
    xyz = np.column_stack((x, y, z))
    pts = [interpolate(xyz[i], xyz[(i + 1) % len(xyz)], per_edge) for i in range(len(xyz))]
    all_xyz = np.vstack(pts)
    return np.column_stack(vector_to_lonlat(all_xyz[:, 0], all_xyz[:, 1], all_xyz[:, 2]))


def separations(lonlat: np.ndarray, ra: float, dec: float) -> np.ndarray:
    return np.degrees(angular_separation(np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1]),
                                         math.radians(ra), math.radians(dec)))


class Covered:
    """Both readings of a GeoJSON geometry, built once: ``spherical(lon, lat)`` with
    great-circle edges (MongoDB), ``planar(lon, lat)`` with straight lon/lat edges
    (SecantusDB). Points on a piece's edge count (a hair's nudge either way)."""

    def __init__(self, geometry: dict[str, Any]) -> None:
        self.pieces = [SingleSphericalPolygon.from_lonlat(*np.array(r)[:-1].T)
                       for r in rings(geometry)]
        self.paths = [Path(np.array(r)) for r in rings(geometry)]

    def spherical(self, lon: float, lat: float) -> bool:
        return any(p.contains_lonlat(lon + d, lat) for d in (0.0, 1e-9, -1e-9)
                   for p in self.pieces)

    def planar(self, lon: float, lat: float) -> bool:
        lon = ((lon + 180.0) % 360.0) - 180.0
        tries = [(lon + s, lat) for s in (0.0, 360.0, -360.0)]
        return any(p.contains_point(t, radius=r) for r in (0.0, 1e-9, -1e-9)
                   for t in tries for p in self.paths)


def edge_of_cone(ra: float, dec: float, radius: float, n: int = 90) -> np.ndarray:
    pa = np.linspace(0.0, 360.0, n, endpoint=False) + 0.123
    pts = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(pa * u.deg, radius * u.deg)
    return np.column_stack((pts.ra.deg, pts.dec.deg))


# --- GeoJSON -------------------------------------------------------------------------------------


def check_geojson(geometry: dict[str, Any]) -> None:
    """lon in [-180, 180], lat in [-90, 90], closed rings, counter-clockwise, each piece
    within one 90-degree sector (so smaller than a hemisphere and never across RA 180)."""
    for ring in rings(geometry):
        arr = np.array(ring)
        assert len(arr) >= 4
        assert ring[0] == ring[-1], "ring not closed"
        assert np.all((arr[:, 0] >= -180.0) & (arr[:, 0] <= 180.0))
        assert np.all((arr[:, 1] >= -90.0) & (arr[:, 1] <= 90.0))
        x, y = arr[:, 0], arr[:, 1]
        area = 0.5 * np.sum(x[:-1] * y[1:] - x[1:] * y[:-1])
        assert area > 0, "exterior rings turn counter-clockwise"
        assert arr[:, 0].max() - arr[:, 0].min() <= 90.0 + 1e-9


@SETTINGS
@given(ra=ras, dec=decs, radius=radii)
def test_cone_geojson_contains_the_whole_cone_in_both_readings(
    ra: float, dec: float, radius: float
) -> None:
    geometry = sky.cone_geojson(ra, dec, radius)
    check_geojson(geometry)
    covered = Covered(geometry)
    for lon, lat in edge_of_cone(ra, dec, radius, n=48):
        assert covered.spherical(lon, lat), (lon, lat)
        assert covered.planar(lon, lat), (lon, lat)
    assert covered.spherical(ra, dec) and covered.planar(ra, dec)


@pytest.mark.parametrize("radius", [45.1, 60.0, 90.0, 120.0, 180.0])
@pytest.mark.parametrize("dec", [0.0, 45.0, -80.0, 90.0])
def test_large_cones_are_boxes_that_still_contain_them(dec: float, radius: float) -> None:
    geometry = sky.cone_geojson(180.0, dec, radius)
    check_geojson(geometry)
    covered = Covered(geometry)
    for lon, lat in edge_of_cone(180.0, dec, radius, n=40):
        assert covered.spherical(lon, lat) and covered.planar(lon, lat)


def test_cone_is_tight_around_small_radii() -> None:
    """A circumscribed polygon, not a box of the whole sky: area within a few per cent."""
    geometry = sky.cone_geojson(151.757, -40.436, 0.1)
    (ring,) = rings(geometry)
    area = SingleSphericalPolygon.from_lonlat(*np.array(ring)[:-1].T).area()
    cap = 2 * math.pi * (1 - math.cos(math.radians(0.1 + sky.CONE_PAD)))
    assert cap < area < 1.03 * cap


@SETTINGS
@given(fp=footprints)
def test_footprint_geojson_is_valid_and_covers_the_footprint(fp: sky.Footprint) -> None:
    geometry = sky.stored_geojson(fp)
    check_geojson(geometry)
    covered = Covered(geometry)
    ra, dec = fp.centre
    boundary = (edge_of_cone(*fp.circles[0], n=36) if fp.circles
                else sample_edges(fp.polygons[0], 8))
    # Points just inside the footprint (half an arcsec towards its centre) lie inside both
    # readings of its GeoJSON: the readings differ by less than CHART_TOLERANCE, so the
    # straight-edged reading is asked only about points at least that far inside (a footprint
    # under an arcsec across steps less).
    inner = SkyCoord(boundary[:, 0] * u.deg, boundary[:, 1] * u.deg)
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    step = np.minimum(0.5 * ARCSEC, 0.25 * inner.separation(centre).deg)
    inner = inner.directional_offset_by(inner.position_angle(centre), step * u.deg)
    for lon, lat, moved in zip(inner.ra.deg, inner.dec.deg, step, strict=True):
        if fp.polygons and not sky.matches_cone(fp, None, lon, lat, 0.0):
            continue  # a concave corner: the step left the polygon
        assert covered.spherical(lon, lat), (lon, lat)
        if moved > sky.CHART_TOLERANCE:
            assert covered.planar(lon, lat), (lon, lat)


@pytest.mark.parametrize(
    "text",
    [
        "POLYGON ICRS 151.77 -40.44 151.74 -40.42 151.72 -40.45 151.75 -40.47",
        "CIRCLE ICRS 10.68 41.27 0.05",
        "POLYGON 359.99 0.1 0.02 0.1 0.02 -0.1 359.99 -0.1",
        "POLYGON ICRS 0 80 90 80 180 80 270 80",
        "POLYGON ICRS 0 -80 270 -80 180 -80 90 -80",
        "POLYGON ICRS 0 90 0 80 90 80",
        "BOX ICRS 180 0 1 2",
        "UNION ICRS ( POLYGON 1 1 2 1 2 2 CIRCLE 10 10 1 )",
    ],
)
def test_mast_regions_give_valid_geojson(text: str) -> None:
    fp = sky.parse_stcs(text)
    geometry = sky.stored_geojson(fp)
    check_geojson(geometry)
    first = sky.Footprint(fp.polygons[:1]) if fp.polygons else fp  # a union's centre: between
    ra, dec = first.centre
    covered = Covered(geometry)
    assert covered.spherical(ra, dec) and covered.planar(ra, dec)


def test_ra_wrap_region_is_split_at_ra_180_not_spread_over_the_sky() -> None:
    wrapped = sky.parse_stcs("POLYGON 359.99 0.1 0.02 0.1 0.02 -0.1 359.99 -0.1")
    geometry = sky.stored_geojson(wrapped)
    lons = np.concatenate([np.array(r)[:, 0] for r in rings(geometry)])
    assert geometry["type"] == "MultiPolygon"  # cut at RA 0, both halves near lon 0
    assert np.all(np.abs(lons) <= 0.02 + 1e-9)
    across = sky.stored_geojson(
        sky.parse_stcs("POLYGON 179.99 0.1 180.02 0.1 180.02 -0.1 179.99 -0.1"))
    lons = np.concatenate([np.array(r)[:, 0] for r in rings(across)])
    assert np.all(np.abs(lons) >= 179.98)


def test_polar_cap_reaches_the_pole_and_is_covered() -> None:
    fp = sky.parse_stcs("POLYGON ICRS 0 80 90 80 180 80 270 80")
    assert fp.centre[1] == pytest.approx(90.0)
    covered = Covered(sky.stored_geojson(fp))
    for lon in (0.0, 45.0, 135.0, 225.0, 315.0):
        assert covered.spherical(lon, 89.9999) and covered.planar(lon, 89.9999)
        assert not covered.planar(lon, 79.0) and not covered.spherical(lon, 79.0)
    assert sky.matches_cone(fp, None, 123.0, 90.0, 0.0)
    # The great-circle edge (0, 80) -> (90, 80) bulges to Dec 82.9 at RA 45.
    bulge = math.degrees(math.atan(math.tan(math.radians(80)) / math.cos(math.radians(45))))
    assert not sky.matches_cone(fp, None, 45.0, 75.0, bulge - 75.0 - 1e-6)
    assert sky.matches_cone(fp, None, 45.0, 75.0, bulge - 75.0 + 1e-6)


def test_point_geojson_and_stored_shapes() -> None:
    assert sky.point_geojson(350.0, -10.0) == {"type": "Point", "coordinates": [-10.0, -10.0]}
    assert sky.sky_geojson(None, (10.0, 20.0))["type"] == "Point"  # type: ignore[index]
    assert sky.sky_geojson(None, None) is None
    fp = sky.parse_stcs("CIRCLE ICRS 10.68 41.27 0.05")
    assert sky.sky_geojson(fp, (10.68, 41.27)) == sky.stored_geojson(fp) == sky.stored_geojson(fp)


# --- matches_cone --------------------------------------------------------------------------------


@SETTINGS
@given(ring=polygons(), ra=ras, dec=decs, radius=radii)
def test_matches_cone_agrees_with_brute_force_for_polygons(
    ring: tuple[tuple[float, float], ...], ra: float, dec: float, radius: float
) -> None:
    fp = sky.Footprint((ring,))
    boundary = sample_edges(ring, 400)
    seps = separations(boundary, ra, dec)
    nearest = float(seps.min())
    # Sampling makes the boundary's distance at most half a sample spacing too large.
    spacing = max(float(angular_separation(*np.radians([*boundary[0], *boundary[1]]))), 1e-12)
    spacing = math.degrees(max(spacing, float(np.max(np.radians(
        separations(boundary[1:], *boundary[0]))[:1]))))
    # Oracle with the inside point given (the polygon surrounds the mean of its vertices):
    # spherical-geometry's own guess misorients sub-arcsecond polygons near the poles.
    lon, lat = np.array(ring).T
    x, y, z = lonlat_to_vector(lon, lat)
    mean = np.array([x.mean(), y.mean(), z.mean()])
    inside = SingleSphericalPolygon(np.column_stack((x, y, z)), mean / np.linalg.norm(mean)
                                    ).contains_lonlat(ra, dec)
    if inside or nearest <= radius:
        expected = True
    else:
        assume(nearest - radius > spacing + 1e-9)
        expected = False
    assert sky.matches_cone(fp, None, ra, dec, radius) is expected


@SETTINGS
@given(c1=st.tuples(ras, decs, sizes), ra=ras, dec=decs, radius=radii)
def test_matches_cone_for_circles_is_separation_within_both_radii(
    c1: tuple[float, float, float], ra: float, dec: float, radius: float
) -> None:
    sep = float(SkyCoord(c1[0] * u.deg, c1[1] * u.deg).separation(
        SkyCoord(ra * u.deg, dec * u.deg)).deg)
    assume(abs(sep - (c1[2] + radius)) > 1e-9)
    assert sky.matches_cone(sky.Footprint(circles=(c1,)), None, ra, dec, radius) is (
        sep <= c1[2] + radius)


@SETTINGS
@given(centre=st.tuples(ras, decs), ra=ras, dec=decs, radius=radii)
def test_matches_cone_without_footprint_uses_the_centre(
    centre: tuple[float, float], ra: float, dec: float, radius: float
) -> None:
    sep = float(SkyCoord(centre[0] * u.deg, centre[1] * u.deg).separation(
        SkyCoord(ra * u.deg, dec * u.deg)).deg)
    assume(abs(sep - radius) > 1e-9)
    assert sky.matches_cone(None, centre, ra, dec, radius) is (sep <= radius)
    assert sky.matches_cone(None, None, ra, dec, radius) is False


def test_matches_cone_radius_zero_means_contains() -> None:
    fp = sky.parse_stcs("POLYGON ICRS 151.77 -40.44 151.74 -40.42 151.72 -40.45 151.75 -40.47")
    assert sky.matches_cone(fp, None, 151.745, -40.445, 0.0)
    assert not sky.matches_cone(fp, None, 151.80, -40.445, 0.0)
    assert sky.matches_cone(fp, None, 151.74, -40.42, 0.0)  # a vertex: edges count
    assert sky.matches_cone(None, (10.0, 20.0), 10.0, 20.0, 0.0)


@SETTINGS
@given(fp=footprints, ra=ras, dec=decs, radius=radii)
def test_every_match_is_a_candidate_of_the_cone_geojson(
    fp: sky.Footprint, ra: float, dec: float, radius: float
) -> None:
    """What the server's $geoIntersects must return: footprint GeoJSON meets cone GeoJSON
    (great-circle reading) whenever matches_cone is true."""
    assume(sky.matches_cone(fp, None, ra, dec, radius))
    cone_rings, fp_rings = rings(sky.cone_geojson(ra, dec, radius)), rings(sky.stored_geojson(fp))
    # spherical-geometry's pairwise arc test is quadratic: keep each example under a second.
    assume(sum(map(len, cone_rings)) * sum(map(len, fp_rings)) < 20_000)
    cone = [SingleSphericalPolygon.from_lonlat(*np.array(r)[:-1].T) for r in cone_rings]
    pieces = [SingleSphericalPolygon.from_lonlat(*np.array(r)[:-1].T) for r in fp_rings]
    assert any(a.intersects_poly(b) for a in cone for b in pieces)


# --- STC-S -------------------------------------------------------------------------------------


@SETTINGS
@given(polys=st.lists(polygons(), min_size=0, max_size=3),
       circles=st.lists(st.tuples(ras, decs, sizes), min_size=0, max_size=2))
def test_stcs_round_trips(polys: list[Any], circles: list[Any]) -> None:
    assume(polys or circles)
    fp = sky.Footprint(tuple(polys), tuple(circles))
    again = sky.parse_stcs(fp.to_stcs())
    assert again == fp
    for a, b in zip(again.polygons, fp.polygons, strict=True):
        assert np.allclose(np.array(a), np.array(b), atol=1e-9, rtol=0)


def test_stcs_frames_refpos_and_shapes() -> None:
    plain = sky.parse_stcs("POLYGON ICRS 10 10 11 10 11 11")
    for text in ("POLYGON 10 10 11 10 11 11", "polygon gsc1 10 10 11 10 11 11",
                 "POLYGON J2000 TOPOCENTER 10 10 11 10 11 11",
                 "POLYGON UNKNOWNFRAME GEOCENTER SPHERICAL2 10 10 11 10 11 11"):
        assert sky.parse_stcs(text) == plain
    fk4 = sky.parse_stcs("CIRCLE FK4 10 10 0.5")
    expected = SkyCoord(10 * u.deg, 10 * u.deg, frame="fk4").icrs
    assert fk4.circles[0][:2] == pytest.approx((expected.ra.deg, expected.dec.deg), abs=1e-9)
    assert abs(fk4.circles[0][0] - 10.0) > 0.5  # B1950 -> ICRS precesses by about a degree
    union = sky.parse_stcs("UNION ICRS ( POLYGON 1 1 2 1 2 2 CIRCLE 10 10 1 )")
    assert len(union.polygons) == 1 and union.circles == ((10.0, 10.0, 1.0),)
    assert sky.parse_stcs(union.to_stcs()) == union
    two = sky.parse_stcs("POLYGON ICRS 10 10 11 10 11 11 POLYGON ICRS 20 10 21 10 21 11")
    assert len(two.polygons) == 2
    assert sky.parse_stcs("POLYGON ICRS 10 10 11 10 11 11 10 10") == plain  # closed ring


def test_stcs_box_is_centre_and_full_widths() -> None:
    box = sky.parse_stcs("BOX ICRS 180 0 1 2")
    (ring,) = box.polygons
    centre = SkyCoord(180 * u.deg, 0 * u.deg)
    corners = SkyCoord(*np.array(ring).T, unit="deg")
    assert np.allclose(corners.separation(centre).deg, math.hypot(0.5, 1.0), atol=1e-3)
    assert box.centre == pytest.approx((180.0, 0.0), abs=1e-9)
    assert sky.matches_cone(box, None, 180.0, 0.99, 0.0)
    assert not sky.matches_cone(box, None, 180.0, 1.01, 0.0)
    assert sky.matches_cone(box, None, 180.49, 0.0, 0.0)
    assert not sky.matches_cone(box, None, 180.51, 0.0, 0.0)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "POLYGON", "POLYGON ICRS 1 2 3 4", "POLYGON ICRS 1 2 3 4 5", "CIRCLE 1 2",
     "CIRCLE 1 2 -1", "CIRCLE 1 95 1", "BOX 1 2 3", "ELLIPSE 1 2 3 4 5", "UNION ( CIRCLE 1 2 3",
     "POLYGON ICRS 1 2 3 4 5 nan", "POLYGON ICRS 1 2 3 4 5 6 )", "CIRCLE ICRS 1 2 3 BOGUS",
     "POLYGON ICRS 10 0 20 0 30 0", "POLYGON 1 1 1 1 1 1"],
)
def test_malformed_stcs_is_a_validation_error_naming_the_footprint(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        sky.parse_stcs(text)
    assert info.value.errors()[0]["loc"] == ("footprint",)
    assert isinstance(info.value, ValueError)


def test_footprint_normalises_and_validates() -> None:
    fp = sky.Footprint([[(-10.0, 0.0), (370.0, 0.0), (0.0, 10.0)]])  # type: ignore[list-item]
    assert fp.polygons == (((350.0, 0.0), (10.0, 0.0), (0.0, 10.0)),)
    with pytest.raises(ValidationError):
        sky.Footprint()
    with pytest.raises(ValidationError):
        sky.Footprint(circles=((0.0, 0.0, 0.0),))


# --- WCS and pointing ----------------------------------------------------------------------------


def tan_wcs(ra: float, dec: float, scale: float, frame: str = "ICRS") -> WCS:
    wcs = WCS(naxis=2)
    lon, lat = ("GLON", "GLAT") if frame == "galactic" else ("RA--", "DEC-")
    wcs.wcs.ctype = [f"{lon}-TAN", f"{lat}-TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [100.5, 50.5]
    wcs.wcs.cdelt = [-scale, scale]
    if frame != "galactic":
        wcs.wcs.radesys = frame
    return wcs


def test_footprint_from_wcs_matches_spherical_geometry() -> None:
    wcs = tan_wcs(151.757, -40.436, 0.031 / 3600)
    fp = sky.footprint_from_wcs(wcs, (100, 200))
    (ring,) = fp.polygons
    assert len(ring) == 4
    ra, dec = fp.centre
    assert ra == pytest.approx(151.757, abs=1e-6) and dec == pytest.approx(-40.436, abs=1e-6)
    corners = SkyCoord(*np.array(ring).T, unit="deg")
    half_diag = math.hypot(100, 50) * 0.031 / 3600
    assert np.allclose(corners.separation(SkyCoord(151.757, -40.436, unit="deg")).deg,
                       half_diag, rtol=1e-4)
    wcs.array_shape = (100, 200)
    reference = SingleSphericalPolygon.from_wcs(wcs)
    for lon, lat in ring:
        assert reference.contains_lonlat(lon + 1e-9, lat) or reference.contains_lonlat(lon, lat)
    assert sky.matches_cone(fp, None, 151.757, -40.436, 0.0)


def test_footprint_from_wcs_converts_galactic_to_icrs() -> None:
    fp = sky.footprint_from_wcs(tan_wcs(0.0, 0.0, 1 / 3600, frame="galactic"), (100, 200))
    gc = SkyCoord(0 * u.deg, 0 * u.deg, frame="galactic").icrs
    assert fp.centre == pytest.approx((gc.ra.deg, gc.dec.deg), abs=1e-4)


@pytest.mark.parametrize(("ra", "dec", "frame"), [
    (0.0, 0.0, "ICRS"), (359.99, -30.0, "ICRS"), (120.0, 89.99, "ICRS"), (15.0, 20.0, "FK5"),
    (200.0, -60.0, "galactic"),
])
def test_footprint_from_wcs_corners_equal_astropys_sky_coordinates(
    ra: float, dec: float, frame: str
) -> None:
    """ICRS images skip SkyCoord (a scan's costliest step); every frame gives astropy's own
    ICRS corners, RA in [0, 360)."""
    from astropy.wcs.utils import pixel_to_skycoord

    wcs = tan_wcs(ra, dec, 0.05 / 3600, frame=frame)
    (ring,) = sky.footprint_from_wcs(wcs, (100, 200)).polygons
    xs, ys = [-0.5, 199.5, 199.5, -0.5], [-0.5, -0.5, 99.5, 99.5]
    expected = pixel_to_skycoord(xs, ys, wcs, origin=0).icrs
    got = SkyCoord(*np.array(ring).T, unit="deg")
    assert np.all(got.separation(expected).arcsec < 1e-6)
    assert all(0.0 <= lon < 360.0 for lon, _ in ring)


def test_footprint_from_wcs_refuses_empty_shapes() -> None:
    with pytest.raises(ValueError):
        sky.footprint_from_wcs(tan_wcs(10, 10, 1e-4), (0, 10))


def test_centre_from_pointing_order() -> None:
    header = {"TARG_RA": 151.757, "TARG_DEC": -40.436, "RA_REF": 1.0, "DEC_REF": 2.0,
              "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 3.0, "CRVAL2": 4.0}
    assert sky.centre_from_pointing(header) == (151.757, -40.436)
    del header["TARG_RA"]
    assert sky.centre_from_pointing(header) == (1.0, 2.0)
    del header["RA_REF"]
    assert sky.centre_from_pointing(header) == (3.0, 4.0)
    assert sky.centre_from_pointing({"CTYPE1": "DEC--TAN", "CTYPE2": "RA---TAN",
                                     "CRVAL1": 4.0, "CRVAL2": -3.0}) == (357.0, 4.0)
    assert sky.centre_from_pointing({"CTYPE1": "GLON-TAN", "CTYPE2": "GLAT-TAN",
                                     "CRVAL1": 4.0, "CRVAL2": 3.0}) is None
    assert sky.centre_from_pointing({"TARG_RA": "n/a", "TARG_DEC": 95.0}) is None


# --- positions, radii, names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["10.6847 41.2687", "00h42m44.3s +41d16m09s", "10.6847d 41.2687d", "10.6847, 41.2687",
     "00:42:44.328 +41:16:07.32", (10.6847, 41.2687), [10.6847, 41.2687],
     np.array([10.6847, 41.2687]), (10.6847 * u.deg, 41.2687 * u.deg),
     SkyCoord(10.6847 * u.deg, 41.2687 * u.deg),
     SkyCoord(10.6847 * u.deg, 41.2687 * u.deg).galactic],
)
def test_parse_position_forms(value: Any) -> None:
    ra, dec = sky.parse_position(value)
    assert ra == pytest.approx(10.6847, abs=1e-3) and dec == pytest.approx(41.2687, abs=1e-3)


@pytest.mark.parametrize("value", ["", "NGC 3132 please", "10 95", (1, 2, 3), {"ra": 1},
                                   (True, 2), None, ("x", 1), "1e999 0"])
def test_parse_position_refuses(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        sky.parse_position(value)
    assert info.value.errors()[0]["loc"] == ("position",)


def test_parse_radius() -> None:
    assert sky.parse_radius(0) == 0.0
    assert sky.parse_radius(0.05) == 0.05
    assert sky.parse_radius(3 * u.arcmin) == pytest.approx(0.05)
    assert sky.parse_radius("5 arcsec") == pytest.approx(5 / 3600)
    assert sky.parse_radius("0.5") == 0.5
    assert sky.parse_radius(180) == 180.0
    for bad in (-0.1, 180.1, float("nan"), True, "wide", 3 * u.m, None):
        with pytest.raises(ValidationError) as info:
            sky.parse_radius(bad)
        assert info.value.errors()[0]["loc"] == ("radius",)


class Targets:
    """Stands in for a Session's target_position (the database's own targets)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def target_position(self, name: str) -> tuple[float, float] | None:
        self.asked.append(name)
        return (151.757, -40.436) if name.lower() == "ngc 3132" else None


def test_resolve_uses_the_database_first() -> None:
    targets = Targets()
    coord = sky.resolve(" NGC 3132 ", targets)
    assert (coord.ra.deg, coord.dec.deg) == pytest.approx((151.757, -40.436))
    assert targets.asked == ["NGC 3132"]


def test_resolve_unknown_name_fails_quickly_with_a_clear_error() -> None:
    start = time.monotonic()
    with pytest.raises(NameNotResolved) as info:
        sky.resolve("no such target xq17zz", Targets(), timeout=2.0)
    assert time.monotonic() - start < 30
    message = str(info.value)
    assert "no such target xq17zz" in message and "database" in message
    assert "151.757 -40.436" in message  # says what to do instead


def test_import_is_light() -> None:
    code = ("import sys, jwstnb.sky; "
            "print(','.join(m for m in ('astropy', 'numpy', 'spherical_geometry', 'pydantic') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


# --- area centroids ---------------------------------------------------------------------------


def _integrated_centroid(fp: sky.Footprint, half: float, steps: int = 400) -> tuple[float, float]:
    """The area centroid by brute force: a fine grid in the tangent plane at the vertex mean
    (gnomonic: great-circle edges are straight lines there, so containment is matplotlib's
    planar test), each cell weighted by its area on the sphere."""
    ra0, dec0 = fp.vertex_mean
    c = np.array(lonlat_to_vector(ra0, dec0, degrees=True))
    east = np.cross([0.0, 0.0, 1.0], c)
    east /= np.linalg.norm(east)
    north = np.cross(c, east)
    t = np.tan(np.radians(half))
    x, y = np.meshgrid(np.linspace(-t, t, steps), np.linspace(-t, t, steps))
    points = np.column_stack((x.ravel(), y.ravel()))
    inside = np.zeros(len(points), bool)
    for ring in fp.polygons:
        v = np.array([lonlat_to_vector(r, d, degrees=True) for r, d in ring])
        flat = v / (v @ c)[:, None]
        inside |= Path(np.column_stack((flat @ east, flat @ north))).contains_points(points)
    xyz = c + points[:, :1] * east + points[:, 1:] * north
    weight = (1.0 + (points**2).sum(axis=1)) ** -1.5  # dA of the gnomonic plane
    moment = (xyz / np.linalg.norm(xyz, axis=1)[:, None] * (weight * inside)[:, None]).sum(0)
    lon, lat = vector_to_lonlat(*moment, degrees=True)
    return float(lon) % 360.0, float(lat)


def _sep_arcsec(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(np.degrees(angular_separation(*np.radians([a[0], a[1], b[0], b[1]])))) * 3600


def test_area_centroid_of_a_polygon_whose_vertices_bunch_on_one_side() -> None:
    """A 12-vertex outline (a detector edge sampled densely on one side, as pipeline
    S_REGIONs often are): the vertex mean is pulled toward that side, the centroid is not."""
    ra0, dec0, side = 151.757, -40.436, 64.0 * ARCSEC
    cosd = math.cos(math.radians(dec0))
    dense = [(ra0 + side / 2 / cosd, dec0 - side / 2 + side * k / 9) for k in range(10)]
    ring = [*dense, (ra0 - side / 2 / cosd, dec0 + side / 2),
            (ra0 - side / 2 / cosd, dec0 - side / 2)]
    fp = sky.Footprint((ring,))
    truth = _integrated_centroid(fp, 1.2 * side)
    assert _sep_arcsec(sky.area_centroid(fp), truth) < 0.1  # type: ignore[arg-type]
    assert _sep_arcsec(fp.centre, truth) < 0.1
    assert _sep_arcsec(fp.vertex_mean, truth) > 15.0  # what the centre was before


def test_area_centroid_of_a_union_weighs_its_parts_by_area() -> None:
    """A UNION of a big and a small detector (MAST writes such regions): the centre sits
    near the big one, where the vertex mean puts it halfway."""
    big = "POLYGON ICRS 10.0 0.0 10.03 0.0 10.03 0.03 10.0 0.03"
    small = "POLYGON ICRS 10.05 0.0 10.055 0.0 10.055 0.005 10.05 0.005"
    fp = sky.parse_stcs(f"UNION ICRS ( {big} {small} )")
    truth = _integrated_centroid(fp, 0.06, steps=600)
    assert _sep_arcsec(fp.centre, truth) < 0.5
    assert _sep_arcsec(fp.vertex_mean, truth) > 30.0
    # a circle and a polygon: the circle's moment is pi sin^2(r) about its centre
    both = sky.Footprint(polygons=(((0.0, -1.0), (2.0, -1.0), (2.0, 1.0), (0.0, 1.0)),),
                         circles=((20.0, 0.0, 0.01),))
    ra, dec = both.centre
    assert 0.99 < ra < 1.01 and abs(dec) < 1e-9  # the tiny circle barely moves it


def test_area_centroid_is_none_without_a_centre_and_centre_falls_back() -> None:
    halves = sky.Footprint(circles=((0.0, 0.0, 90.0), (180.0, 0.0, 90.0)))
    assert sky.area_centroid(halves) is None
    assert halves.centre == halves.vertex_mean
