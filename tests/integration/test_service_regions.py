"""Regions, intersect modes, ranges with units and exclusions through the archive service:
a RemoteSession answers as a direct session does (the criteria whose JSON would change their
meaning, a wavelength Quantity or a ``regions`` object, are normalised by the client)."""

from __future__ import annotations

from typing import Any

import astropy.units as u
import pytest
from astropy.coordinates import SkyCoord

from jwstnb.schema import ImageMetadata, JwstDataModel
from tests.integration.test_service import Archive, archive  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def test_remote_region_range_and_exclusion_searches_equal_direct_ones(
    archive: Archive,  # noqa: F811
) -> None:
    from regions import RectangleSkyRegion

    admin = archive.admin
    made = []
    for i in range(8):
        ra = 20.0 + 0.02 * i
        made.append(admin.insert(JwstDataModel(
            file_name=f"jw09999001001_02101_{i:05d}_nrca1_cal.fits", data_type="image",
            is_public=True, processing_level=("L2b", "L3")[i % 2],
            image_info=ImageMetadata(ra=ra, dec=-30.0,
                                     footprint=f"BOX ICRS {ra} -30.0 0.01 0.01",
                                     instrument=("NIRCAM", "MIRI")[i % 2],
                                     exposure_time=100.0 * i),
        )))
    remote = archive.session("alice")
    direct = admin.as_user("alice")
    box = RectangleSkyRegion(SkyCoord(20.07, -30.0, unit="deg"), 0.1 * u.deg, 0.05 * u.deg)
    cases: list[dict[str, Any]] = [
        {"region": box, "intersect": "enclosed"},
        {"region": "CIRCLE ICRS 20.04 -30.0 0.03", "intersect": "center",
         "exclude_instrument": "MIRI"},
        {"region": box, "exposure_time": (3 * u.min, None), "calib_level": [3]},
    ]
    try:
        for criteria in cases:
            want = {str(r.id) for r in direct.items(**criteria, page_size=100)}
            got = {str(r.id) for r in remote.search(**criteria, page_size=100).items}
            assert got == want and want, criteria
            assert remote.count(**criteria) == len(want)
    finally:
        for rid in made:
            admin.delete(rid)
