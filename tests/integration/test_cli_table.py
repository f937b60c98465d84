"""``jwstnb table``: the search criteria on the command line (regions, intersect modes,
ranges, times, exclusions, target lists), run as a user runs it, equal the library's."""

from __future__ import annotations

from pathlib import Path

import pytest
from astropy.table import Table

from jwstnb.schema import ImageMetadata, JwstDataModel
from tests.integration.test_cli import _admin, jwstnb_cmd  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def _seed(mongo_uri: str, db_name: str) -> None:
    with _admin(mongo_uri, db_name) as s:
        for i in range(12):
            ra = 151.70 + 0.01 * i
            s.insert(JwstDataModel(
                file_name=f"jw02733001001_02101_{i:05d}_nrca1_cal.fits", data_type="image",
                is_public=True, processing_level=("L1", "L2b", "L3")[i % 3],
                image_info=ImageMetadata(
                    ra=ra, dec=-40.44, footprint=f"BOX ICRS {ra} -40.44 0.02 0.02",
                    instrument=("NIRCAM", "MIRI")[i % 2], exposure_time=50.0 * i,
                    observation_date=f"2022-07-{1 + i:02d}T00:00:00"),
            ))


def test_table_takes_every_new_criterion(
    jwstnb_cmd, tmp_path: Path, mongo_uri: str, db_name: str  # noqa: F811
) -> None:
    _seed(mongo_uri, db_name)
    region = "POLYGON ICRS 151.68 -40.47 151.80 -40.47 151.80 -40.41 151.68 -40.41"
    criteria = dict(region=region, intersect="enclosed", exposure_time=(100, None),
                    exclude_instrument=["MIRI"], calib_level=[2, 3],
                    observed_from=59762.0)
    out = tmp_path / "found.ecsv"
    proc = jwstnb_cmd("table", str(out), "--region", region, "--intersect", "enclosed",
                      "--exposure-time", "100", "-", "--exclude-instrument", "MIRI",
                      "--calib-level", "2", "--calib-level", "3", "--observed-from", "59762")
    assert "wrote" in proc.stdout
    with _admin(mongo_uri, db_name) as s:
        want = sorted(str(r.id) for r in s.search(**criteria, page_size=500).items)
    got = Table.read(out)
    assert sorted(got["id"]) == want and want


def test_table_of_a_target_list(
    jwstnb_cmd, tmp_path: Path, mongo_uri: str, db_name: str  # noqa: F811
) -> None:
    _seed(mongo_uri, db_name)
    targets = tmp_path / "targets.txt"
    targets.write_text("151.70 -40.44\n151.75 -40.44\n0 0\n")
    out = tmp_path / "near.csv"
    jwstnb_cmd("table", str(out), "--targets", str(targets), "--radius", "20 arcsec",
               "--instrument", "NIRCAM")
    got = Table.read(out)
    with _admin(mongo_uri, db_name) as s:
        for k, line in enumerate(targets.read_text().splitlines()):
            ra, dec = map(float, line.split())
            single = s.search(position=(ra, dec), radius=20 / 3600, instrument="NIRCAM",
                              page_size=500)
            assert list(got[got["target_index"] == k]["id"]) == [str(r.id) for r in single]
    assert len(got) > 0


def test_a_bad_range_is_one_line_naming_it(
    jwstnb_cmd, tmp_path: Path  # noqa: F811
) -> None:
    proc = jwstnb_cmd("table", str(tmp_path / "x.ecsv"), "--wavelength", "a", "2",
                      check=False)
    assert proc.returncode != 0 and "--wavelength" in proc.stderr
    assert "Traceback" not in proc.stderr
