"""The synthetic sample: deterministic, small, MAST-shaped, and honest about being synthetic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from astropy.io import fits

from jwstnb import samples
from jwstnb.naming import classify, group_from_key
from jwstnb.storage import Storage

pytestmark = pytest.mark.integration

NIRCAM_DIR = f"mast/{samples.NIRCAM_OBS_ID}/"


def test_sample_layout_size_and_determinism(local_storage: Storage, tmp_path: Path) -> None:
    sample = samples.write_sample(local_storage)
    assert local_storage.list("mast/") == sorted(sample.keys)
    assert sum(local_storage.sizes("mast/").values()) < 20 * 2**20
    nircam = sample.keys_of(samples.NIRCAM_OBS_ID)
    names = {k.rsplit("/", 1)[1] for k in nircam}
    for exposure in ("jw02733001001_02101_00001", "jw02733001001_02101_00002"):
        for detector in ("nrca1", "nrcb1"):
            for suffix in ("uncal", "rate", "cal", "o001_crf"):
                assert f"{exposure}_{detector}_{suffix}.fits" in names
    stage3 = "jw02733-o001_t001_nircam_clear-f090w"
    assert {f"{stage3}_i2d.fits", f"{stage3}_cat.ecsv", f"{stage3}_segm.fits"} <= names
    assert "jw02733-o001_20220707t165838_image3_001_asn.json" in names
    assert len(nircam) == 20
    nirspec = {k.rsplit("/", 1)[1] for k in sample.keys_of(samples.NIRSPEC_OBS_ID)}
    assert {"jw01366004001_04101_00001_nrs1_s2d.fits",
            "jw01366004001_04101_00001_nrs1_x1d.fits"} <= nirspec
    # every key's folder names its observation's group
    for key in nircam:
        assert group_from_key(key) == samples.NIRCAM_OBSERVATION
    # the same bytes every time
    again = Storage((tmp_path / "again").as_uri())
    samples.write_sample(again, prefix="copy/")
    for key in sample.keys:
        assert again.read_bytes("copy/" + key[len("mast/"):]) == local_storage.read_bytes(key)


def test_headers_are_realistic_and_say_synthetic(local_storage: Storage) -> None:
    sample = samples.write_sample(local_storage)
    for key in sample.keys:
        if not key.endswith(".fits"):
            continue
        headers = local_storage.read_headers(key)
        primary = headers[0]
        assert primary["SYNTHETC"] is True
        assert any("synthetic" in str(c).lower() for c in primary["COMMENT"])
        for name in ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "TARGNAME", "PROGRAM",
                     "OBSERVTN", "VISIT", "EXPOSURE", "DATE-OBS", "EFFEXPTM"):
            assert name in primary, (key, name)
        assert primary["TELESCOP"] == "JWST"
        ident = classify(key)
        assert primary["PROGRAM"] == ident.program
        if "nircam" in key:
            assert primary["PUPIL"] == "CLEAR" and primary["FILTER"] == "F090W"
            assert primary["TARGNAME"] == "NGC-3132"
            sci = local_storage.read_header(key, "SCI")
            assert sci["CTYPE1"] == "RA---TAN" and sci["CTYPE2"] == "DEC--TAN"
            if ident.suffix != "segm":
                assert "BUNIT" in sci
        if ident.detector:
            assert primary["DETECTOR"] == ident.detector.upper()
            assert primary["EXPOSURE"] == ident.exposure
    # images can be previewed and cut out through their WCS
    i2d = NIRCAM_DIR + "jw02733-o001_t001_nircam_clear-f090w_i2d.fits"
    assert local_storage.thumbnail(i2d).startswith(b"\x89PNG")
    with local_storage.open_fits(i2d) as hdul:
        assert hdul["SCI"].data.shape == (128, 128)


def test_asn_and_catalog(local_storage: Storage) -> None:
    from astropy.table import Table

    sample = samples.write_sample(local_storage)
    asn = json.loads(local_storage.read_bytes(
        NIRCAM_DIR + "jw02733-o001_20220707t165838_image3_001_asn.json"))
    assert asn["asn_type"] == "image3"
    (product,) = asn["products"]
    assert product["name"] == samples.NIRCAM_OBS_ID
    members = {m["expname"] for m in product["members"]}
    assert len(members) == 4
    assert all(NIRCAM_DIR + m in sample.keys for m in members)
    assert all(m.endswith("_cal.fits") for m in members)
    table = Table.read(
        local_storage.read_bytes(NIRCAM_DIR + samples.NIRCAM_OBS_ID + "_cat.ecsv").decode(),
        format="ascii.ecsv",
    )
    assert len(table) > 5 and table.meta["synthetic"] is True
    assert {"ra", "dec", "xcentroid", "ycentroid"} <= set(table.colnames)


def test_mast_rows_describe_the_files(local_storage: Storage) -> None:
    sample = samples.write_sample(local_storage)
    obs_ids = [row["obs_id"] for row in sample.observation_rows]
    assert obs_ids == [samples.NIRCAM_OBS_ID, samples.NIRSPEC_OBS_ID]
    for row in sample.observation_rows:
        for column in ("obs_id", "obsid", "obs_collection", "instrument_name", "filters",
                       "target_name", "s_ra", "s_dec", "t_min", "t_max", "t_exptime",
                       "wavelength_region", "calib_level", "proposal_id", "proposal_pi",
                       "obs_title", "dataproduct_type"):
            assert row.get(column) is not None, column
        assert row["t_min"] < row["t_max"]
    keys_from_rows = set()
    for product in sample.product_rows:
        for column in ("obsID", "obs_id", "productFilename", "productType",
                       "productSubGroupDescription", "calib_level", "size", "dataURI"):
            assert product.get(column) is not None, column
        key = f"mast/{product['obs_id']}/{product['productFilename']}"
        keys_from_rows.add(key)
        assert local_storage.size(key) == product["size"]
        assert product["dataURI"].endswith(product["productFilename"])
        suffix = classify(product["productFilename"]).suffix
        assert product["productSubGroupDescription"] == suffix.upper()
    assert keys_from_rows == set(sample.keys)
    assert len(sample.products_of(samples.NIRCAM_OBS_ID)) == 20
    # the NIRCam observation's times cover its exposures
    nircam = sample.observation_rows[0]
    with fits.open(local_storage.open(
        NIRCAM_DIR + "jw02733001001_02101_00001_nrca1_cal.fits")) as hdul:
        assert nircam["t_min"] <= hdul[0].header["EXPSTART"] <= nircam["t_max"]


# --- the sky: real positions, footprints drawn from each file's WCS ------------------------------

# Independent of jwstnb: NGC 3132 (SIMBAD 10 07 01.76 -40 26 11.1) and WASP-39 (14 29 18.4
# -03 26 40).
REAL = {
    samples.NIRCAM_OBS_ID: (151.75733, -40.43642),
    samples.NIRSPEC_OBS_ID: (217.32667, -3.44444),
}


def _polygon(stcs: str) -> Any:
    """A spherical-geometry polygon of a one-polygon STC-S region (read without jwstnb)."""
    from spherical_geometry.polygon import SphericalPolygon

    words = stcs.split()
    assert words[:2] == ["POLYGON", "ICRS"], stcs
    numbers = [float(w) for w in words[2:]]
    return SphericalPolygon.from_radec(numbers[0::2], numbers[1::2])


def _separation_arcsec(a: tuple[float, float], b: tuple[float, float]) -> float:
    from astropy.coordinates import SkyCoord

    return float(SkyCoord(*a, unit="deg").separation(SkyCoord(*b, unit="deg")).arcsec)


def test_files_and_rows_carry_real_positions_and_footprints(local_storage: Storage) -> None:
    sample = samples.write_sample(local_storage)
    images = 0
    for key in sample.keys:
        obs_id = key.split("/")[1]
        if not key.endswith(".fits") or classify(key).suffix == "x1d":
            continue  # a table: no image, no footprint
        region = local_storage.read_header(key, "SCI")["S_REGION"]
        polygon = _polygon(region)
        assert polygon.contains_radec(*REAL[obs_id]), key
        images += 1
    assert images == 16 + 2 + 3  # NIRCam exposures, i2d + segm, NIRSpec rate/cal/s2d
    i2d_region = local_storage.read_header(
        NIRCAM_DIR + samples.NIRCAM_OBS_ID + "_i2d.fits", "SCI")["S_REGION"]
    for row in sample.observation_rows:
        centre = (row["s_ra"], row["s_dec"])
        assert _separation_arcsec(centre, REAL[row["obs_id"]]) < 2.0
        assert _polygon(row["s_region"]).contains_radec(*centre)
    nircam, nirspec = sample.observation_rows
    assert nircam["s_region"] == i2d_region  # the mosaic's footprint, as MAST lists it
    # a 128 x 0.8" mosaic and the 1.6" slit: areas from the polygons themselves
    mosaic = _polygon(nircam["s_region"]).area() * (180 / 3.141592653589793 * 3600) ** 2
    slit = _polygon(nirspec["s_region"]).area() * (180 / 3.141592653589793 * 3600) ** 2
    assert mosaic == pytest.approx(102.4**2, rel=0.01)
    assert slit == pytest.approx(1.6**2, rel=0.01)


def test_seeded_and_scanned_records_have_positions(
    admin_session: Any, local_storage: Storage
) -> None:
    from jwstnb import ingest

    samples.seed(admin_session, local_storage)
    ingest.scan(admin_session, local_storage, "mast/", progress=False)
    found = admin_session.search(page_size=100).items
    assert len(found) == len(samples.write_sample(local_storage).keys)
    for record in found:
        info = record.image_info
        obs_id = str(record.file_path).split("/")[1]
        assert info is not None and info.ra is not None and info.dec is not None, record.file_name
        assert info.footprint is not None and _polygon(info.footprint).contains_radec(
            *REAL[obs_id]), record.file_name
        # the file's own S_REGION where it has one, else the MAST row's
        source = record.metadata["sky_source"]
        if record.file_name.endswith(".fits") and "_x1d" not in record.file_name:
            assert source == "s_region", record.file_name
        else:
            assert source == "mast", record.file_name


def test_calibrated_files_say_how_they_were_made_and_two_are_stale(
    local_storage: Storage,
) -> None:
    from jwstnb.records import record_from_fits

    sample = samples.write_sample(local_storage)
    contexts: dict[str, str] = {}
    for key in sample.keys:
        if not key.endswith(".fits"):
            continue
        name = key.rsplit("/", 1)[1]
        headers = local_storage.read_headers(key)
        record = record_from_fits(key, 1, headers)
        if name.endswith("_uncal.fits"):  # raw ramps are not calibrated
            assert "CRDS_CTX" not in headers[0] and record.calibration is None
            continue
        primary = headers[0]
        for keyword in ("CAL_VER", "CRDS_VER", "CRDS_CTX", "R_DARK", "R_SATURA"):
            assert keyword in primary, (name, keyword)
        assert record.calibration is not None
        contexts[name] = record.calibration.crds_context or ""
    stale = {n for n, c in contexts.items() if c == samples.OLDER_CONTEXT}
    assert stale == set(samples.STALE_FILES) and len(stale) == 2
    assert set(contexts.values()) == {samples.OLDER_CONTEXT, samples.CURRENT_CONTEXT}
    # the stale files used other references too, and MAST's rows carry their older version
    old = record_from_fits("x/" + samples.STALE_FILES[0], 1,
                           local_storage.read_headers(
                               f"mast/{samples.NIRCAM_OBS_ID}/{samples.STALE_FILES[0]}"))
    assert old.calibration is not None
    assert old.calibration.reference_files["flat"] == "jwst_nircam_flat_0476.fits"
    versions = {r["productFilename"]: r["prvversion"] for r in sample.product_rows}
    assert versions[samples.STALE_FILES[0]] == old.calibration.cal_ver != versions[
        "jw02733001001_02101_00002_nrca1_cal.fits"]
