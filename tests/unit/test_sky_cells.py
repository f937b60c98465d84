"""The HEALPix cell index of position search (jwstnb.sky.record_cells / cone_cells).

The cells only have to be a superset: every record that overlaps a cone must share a cell id
with it (the GeoJSON and matches_cone decide exactly). Checked against astropy separations
for random footprints, centres and cones: poles, RA 0/360, radius 0 to 30 degrees.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from hypothesis import assume, given
from hypothesis import strategies as st

from jwstnb import sky
from jwstnb.sky import encodings
from tests.unit.test_sky import SETTINGS, decs, footprints, radii, ras


def _point_in(fp: sky.Footprint, pick: float) -> tuple[float, float]:
    """A point of the footprint: a vertex, a circle's edge or the centre."""
    points = [v for ring in fp.polygons for v in ring] + [c[:2] for c in fp.circles]
    if pick < 0.3:
        return fp.centre if fp.polygons else fp.circles[0][:2]
    return points[int(pick * 1000) % len(points)]


@SETTINGS
@given(fp=footprints, radius=radii, angle=st.floats(0.0, 360.0), reach=st.floats(0.0, 1.0),
       pick=st.floats(0.0, 1.0))
def test_a_footprint_that_overlaps_the_cone_shares_a_cell(
    fp: sky.Footprint, radius: float, angle: float, reach: float, pick: float
) -> None:
    ra, dec = _point_in(fp, pick)
    # A cone centre within radius of a point of the footprint: the footprint overlaps it.
    centre = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(
        angle * u.deg, reach * radius * u.deg)
    c_ra, c_dec = float(centre.ra.deg) % 360.0, float(np.clip(centre.dec.deg, -90.0, 90.0))
    assume(sky.matches_cone(fp, None, c_ra, c_dec, radius))
    shared = set(sky.record_cells(fp, None)) & set(sky.cone_cells(c_ra, c_dec, radius))
    assert shared, (fp, c_ra, c_dec, radius)


@SETTINGS
@given(ra=ras, dec=decs, radius=radii, angle=st.floats(0.0, 360.0), reach=st.floats(0.0, 1.0))
def test_a_centre_inside_the_cone_shares_a_cell(
    ra: float, dec: float, radius: float, angle: float, reach: float
) -> None:
    point = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(
        angle * u.deg, reach * radius * u.deg)
    p_ra, p_dec = float(point.ra.deg) % 360.0, float(np.clip(point.dec.deg, -90.0, 90.0))
    assume(sky.matches_cone(None, (p_ra, p_dec), ra, dec, radius))
    assert set(sky.record_cells(None, (p_ra, p_dec))) & set(sky.cone_cells(ra, dec, radius))


@SETTINGS
@given(ra=ras, dec=decs, radius=st.floats(1e-4, 20.0), order=st.integers(0, sky.CELL_ORDER),
       seed=st.integers(0, 2**16))
def test_cap_pixels_hold_every_point_of_the_cap(
    ra: float, dec: float, radius: float, order: int, seed: int
) -> None:
    """astropy_healpix's cone search returns partly covered pixels too (brute force)."""
    rng = np.random.default_rng(seed)
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    points = centre.directional_offset_by(rng.uniform(0, 360, 300) * u.deg,
                                          rng.uniform(0, radius, 300) * u.deg)
    inside = encodings._healpix(order).lonlat_to_healpix(points.ra, points.dec)
    assert set(inside.tolist()) <= set(encodings._cap_pixels(order, ra, dec, radius))


def test_cells_are_few_and_narrow() -> None:
    """A detector-sized footprint is filed under a handful of the finest cells; a 0.1 deg
    cone looks up a few dozen ids and misses a footprint 2 degrees away."""
    near = sky.parse_stcs("POLYGON ICRS 151.70 -40.40 151.74 -40.40 151.74 -40.37 151.70 -40.37")
    far = sky.parse_stcs("POLYGON ICRS 153.70 -40.40 153.74 -40.40 153.74 -40.37 153.70 -40.37")
    own = [c for c in sky.record_cells(near, None) if c > 0]
    finest = 4 * 4**sky.CELL_ORDER
    assert 1 <= len(own) <= 4 and all(finest <= c < 4 * finest for c in own)
    cone = sky.cone_cells(151.757, -40.436, 0.1)
    assert len(cone) <= 64
    assert set(sky.record_cells(near, None)) & set(cone)
    assert not set(sky.record_cells(far, None)) & set(cone)
    # Whole-sky shapes and cones stay small lists.
    assert len(sky.record_cells(sky.Footprint(circles=((10.0, 20.0, 120.0),)), None)) == 12
    assert len(sky.cone_cells(10.0, 20.0, 180.0)) <= 12 + 48 + 48
    assert sky.record_cells(None, None) == []
