"""Coverage MOCs: every footprint vertex inside, the area within one max-order cell per
boundary cell of the footprints, right across RA 0/360, centres as single cells, and only
the records given (the session gives only the readable ones)."""

from __future__ import annotations

import math

import astropy.units as u
import mocpy
import numpy as np
import pytest
from astropy.coordinates import Latitude, Longitude

from jwstnb import sky
from jwstnb.interop import moc as interop_moc
from tests.unit.interop_records import records


def _inside(moc, ra, dec) -> np.ndarray:
    return moc.contains_lonlat(Longitude(np.asarray(ra) * u.deg), Latitude(np.asarray(dec) * u.deg))


def _boundary_points(ring, step_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along the ring's great-circle edges, at most ``step_deg`` apart."""
    from spherical_geometry.great_circle_arc import interpolate
    from spherical_geometry.vector import lonlat_to_vector, vector_to_lonlat

    ras, decs = [], []
    for (ra0, dec0), (ra1, dec1) in zip(ring, ring[1:] + ring[:1], strict=True):
        length = math.degrees(float(np.arccos(np.clip(np.dot(
            lonlat_to_vector(ra0, dec0), lonlat_to_vector(ra1, dec1)), -1, 1))))
        n = max(2, int(length / step_deg) + 2)
        xyz = interpolate(np.array(lonlat_to_vector(ra0, dec0)),
                          np.array(lonlat_to_vector(ra1, dec1)), steps=n)
        lon, lat = vector_to_lonlat(xyz[:, 0], xyz[:, 1], xyz[:, 2])
        ras.extend(np.asarray(lon) % 360)
        decs.extend(lat)
    return np.array(ras), np.array(decs)


def _polygon_area(ring) -> float:
    from spherical_geometry.polygon import SphericalPolygon

    ra, dec = zip(*ring, strict=True)
    polygon = SphericalPolygon.from_radec(list(ra), list(dec), degrees=True)
    area = float(polygon.area())
    return min(area, 4 * math.pi - area)


@pytest.mark.parametrize("max_order", [10, 13])
def test_vertices_inside_and_area_within_boundary_cells(max_order: int) -> None:
    recs = [r for r in records() if r.image_info.footprint and "POLYGON" in r.image_info.footprint]
    moc = interop_moc.coverage(recs, max_order=max_order)
    cell_side = math.degrees(math.sqrt(4 * math.pi / (12 * 4**max_order)))
    cell_area = 4 * math.pi / (12 * 4**max_order)
    true_area, boundary_cells = 0.0, 0
    for record in recs:
        for ring in sky.parse_stcs(record.image_info.footprint).polygons:
            ra, dec = zip(*ring, strict=True)
            assert _inside(moc, ra, dec).all(), record.file_name
            true_area += _polygon_area(list(ring))
            b_ra, b_dec = _boundary_points(list(ring), cell_side / 20)
            assert _inside(moc, b_ra, b_dec).all()
            boundary = mocpy.MOC.from_lonlat(lon=Longitude(b_ra * u.deg),
                                             lat=Latitude(b_dec * u.deg), max_norder=max_order)
            boundary_cells += len(boundary.flatten())
    moc_area = moc.sky_fraction * 4 * math.pi
    assert moc_area >= true_area
    assert moc_area - true_area <= boundary_cells * cell_area


def test_footprint_across_ra_zero() -> None:
    cal = next(r for r in records() if r.file_name.endswith("nrcb1_cal.fits"))
    moc = interop_moc.coverage([cal], max_order=12)
    assert _inside(moc, [359.99, 0.01, 0.0], [-2.0, -2.0, -2.0]).all()
    # nothing on the far side of the sky (a polygon read the wrong way round would be)
    assert not _inside(moc, [180.0, 90.0, 270.0, 0.0], [0.0, 0.0, 0.0, -3.0]).any()
    assert moc.sky_fraction < 1e-5


def test_circles_centres_and_empty() -> None:
    recs = records()
    raw = recs[4]  # a centre only: the one cell holding it
    moc = interop_moc.coverage([raw], max_order=10)
    assert len(moc.flatten()) == 1 and _inside(moc, [45.0], [30.0]).all()
    circle = interop_moc.coverage([recs[2]], max_order=14)
    assert _inside(circle, [0.5, 0.5009], [1.0, 1.0]).all()
    assert not _inside(circle, [0.51], [1.0]).any()
    empty = interop_moc.coverage([], max_order=8)
    assert empty.empty() and empty.max_order == 8
    assert interop_moc.footprint_moc("CIRCLE ICRS 10 10 0.1", 9).max_order == 9


def test_only_the_records_given() -> None:
    """The session passes only the records a scoped search returned: a private record left
    out adds nothing to the MOC."""
    recs = records()
    private = recs[1]
    moc = interop_moc.coverage([r for r in recs if r is not private], max_order=12)
    ra, dec = zip(*sky.parse_stcs(private.image_info.footprint).polygons[0], strict=True)
    assert not _inside(moc, ra, dec).any()


def test_save_fits_and_json_read_back(tmp_path) -> None:
    moc = interop_moc.coverage(records(), max_order=11)
    interop_moc.save(moc, tmp_path / "cov.fits")
    interop_moc.save(moc, tmp_path / "cov.json")
    assert mocpy.MOC.from_fits(tmp_path / "cov.fits") == moc
    assert mocpy.MOC.load(tmp_path / "cov.json", format="json") == moc
    with pytest.raises(ValueError, match="format"):
        interop_moc.save(moc, tmp_path / "x", format="png")


@pytest.mark.parametrize("bad", [-1, 30, 1.5, True])
def test_max_order_checked(bad) -> None:
    with pytest.raises(ValueError, match="max_order"):
        interop_moc.coverage(records(), max_order=bad)


def test_documents_footprints_and_pairs_give_the_same_moc() -> None:
    recs = records()
    from_records = interop_moc.coverage(recs, max_order=11)
    documents = [r.to_document() for r in recs]
    assert interop_moc.coverage(documents, max_order=11) == from_records
    mixed = [r.image_info.footprint or (r.image_info.ra, r.image_info.dec) for r in recs]
    assert interop_moc.coverage(mixed, max_order=11) == from_records
    assert interop_moc.coverage([{"imageInfo": None}, {}], max_order=5).empty()
