"""jwstnb.records: headers, asdf trees, association files, tables, pictures and MAST rows ->
records (pure functions, no storage or database)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from astropy.io import fits
from pydantic import ValidationError

from jwstnb import records
from jwstnb.errors import FitsError
from jwstnb.naming import group_from_obs_id
from jwstnb.schema import DataType, JwstDataModel, ProcessingLevel, WavelengthRange

NGC3132 = (151.757250, -40.436389)
# A real-shaped S_REGION (the pipeline's form: a polygon through the corners, ICRS degrees).
REGION = (
    "POLYGON ICRS  151.7759397 -40.4506097 151.7385603 -40.4506097 "
    "151.7385682 -40.4221653 151.7759318 -40.4221653"
)
MAST_REGION = (
    "POLYGON 151.7800000 -40.4550000 151.7350000 -40.4550000 "
    "151.7350000 -40.4180000 151.7800000 -40.4180000"
)
CAL = "jw02733001001_02101_00001_nrca1_cal.fits"
OBS_ID = "jw02733-o001_t001_nircam_clear-f090w"


@pytest.fixture
def sky() -> Any:
    """jwstnb.sky, which records use for every position; a clear failure when it is missing."""
    try:
        import jwstnb.sky as module
    except ImportError as exc:  # pragma: no cover - reported as a failure, never skipped
        pytest.fail(f"jwstnb.sky is missing ({exc}): records need it for positions")
    for name in ("parse_stcs", "footprint_from_wcs", "centre_from_pointing"):
        assert callable(getattr(module, name, None)), f"jwstnb.sky.{name} is missing"
    return module


def _numbers(stcs: str) -> list[float]:
    return [float(t) for t in stcs.split() if t.lstrip("-").replace(".", "", 1).isdigit()]


def _vertices(stcs: str) -> list[tuple[float, float]]:
    numbers = _numbers(stcs)
    return list(zip(numbers[0::2], numbers[1::2], strict=True))


def _contains(stcs: str, ra: float, dec: float) -> bool:
    """Whether a polygon contains a point, by spherical-geometry (independent of jwstnb.sky)."""
    from spherical_geometry.polygon import SphericalPolygon

    ras, decs = zip(*_vertices(stcs), strict=True)
    return bool(SphericalPolygon.from_radec(ras, decs).contains_radec(ra, dec))


def _primary(**extra: Any) -> fits.Header:
    header = fits.Header()
    cards = {
        "TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "FILTER": "F090W",
        "PUPIL": "CLEAR", "TARGNAME": "NGC-3132", "PROGRAM": "02733", "OBSERVTN": "001",
        "DATE-OBS": "2022-06-03", "TIME-OBS": "11:54:53.000", "EFFEXPTM": 1245.465,
        "PI_NAME": "Pontoppidan, Klaus", "TITLE": "Early Release Observations",
        "TARG_RA": NGC3132[0], "TARG_DEC": NGC3132[1],
    }
    cards.update(extra)
    for key, value in cards.items():
        if value is not None:
            header[key] = value
    return header


def _sci(region: str | None = None, wcs: bool = True, shape: tuple[int, int] = (64, 64)) -> Any:
    header = fits.ImageHDU(name="SCI").header
    header["NAXIS"] = 2
    header["NAXIS1"], header["NAXIS2"] = shape[1], shape[0]
    header["BUNIT"] = "MJy/sr"
    if wcs:
        for key, value in {
            "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CUNIT1": "deg", "CUNIT2": "deg",
            "CRPIX1": (shape[1] + 1) / 2, "CRPIX2": (shape[0] + 1) / 2,
            "CRVAL1": NGC3132[0], "CRVAL2": NGC3132[1],
            "CDELT1": -1 / 3600, "CDELT2": 1 / 3600, "RADESYS": "ICRS",
        }.items():
            header[key] = value
    if region is not None:
        header["S_REGION"] = region
    return header


# --- FITS ---------------------------------------------------------------------------------------


def test_fits_record_reads_the_headers() -> None:
    model = records.record_from_fits(f"mast/{OBS_ID}/{CAL}", 1234, [_primary(), _sci(REGION)])
    assert model.file_path == f"mast/{OBS_ID}/{CAL}" and model.file_size == 1234
    assert model.processing_level == ProcessingLevel.L2B and model.data_type == DataType.IMAGE
    assert model.exposure_id == "jw02733001001_02101_00001" and model.user_id is None
    info = model.image_info
    assert info is not None
    assert (info.instrument, info.filter, info.target_name) == ("NIRCAM", "F090W", "NGC-3132")
    assert info.exposure_time == pytest.approx(1245.465)
    assert info.observation_date == datetime(2022, 6, 3, 11, 54, 53, tzinfo=UTC)
    assert info.proposal_id == "2733" and info.proposal_pi == "Pontoppidan, Klaus"
    assert info.calibration_level == 2 and info.wavelength_range == WavelengthRange.INFRARED
    assert info.wcs is not None and info.wcs["center"] == pytest.approx(NGC3132, abs=1e-3)
    assert model.metadata["optics"] == "clear-f090w" and model.metadata["bunit"] == "MJy/sr"
    assert [h["name"] for h in model.metadata["hdus"]] == ["PRIMARY", "SCI"]
    assert model.metadata["fits"]["PROGRAM"] == "02733"


def test_rate_files_get_sensor_info_and_odd_values_are_dropped() -> None:
    primary = _primary(EFFEXPTM=-1.0, EFFINTTM=10.7, **{"DATE-OBS": None})
    primary["EXPSTART"] = 59800.0
    model = records.record_from_fits(CAL.replace("_cal", "_rate"), 10, [primary, _sci()])
    assert model.data_type == DataType.SENSOR
    assert model.sensor_info is not None and model.sensor_info.data_points == 64 * 64
    assert model.sensor_info.integration_time == pytest.approx(10.7)
    assert model.image_info is not None and model.image_info.exposure_time is None
    # MJD 59800.0 is 2022-08-09T00:00Z
    assert model.image_info.observation_date == datetime(2022, 8, 9, tzinfo=UTC)
    with pytest.raises(FitsError, match="no FITS header"):
        records.record_from_fits(CAL, 10, [])


# --- the sky: S_REGION beats MAST beats WCS beats pointing --------------------------------------


def test_s_region_header_gives_the_footprint(sky: Any) -> None:
    model = records.record_from_fits(CAL, 1, [_primary(), _sci(REGION)])
    info = model.image_info
    assert info is not None and info.footprint is not None
    assert _numbers(info.footprint) == pytest.approx(_numbers(REGION))
    assert info.ra == pytest.approx(NGC3132[0], abs=2e-3)
    assert info.dec == pytest.approx(NGC3132[1], abs=2e-3)
    assert model.metadata["sky_source"] == "s_region"


def test_wcs_corners_when_there_is_no_s_region(sky: Any) -> None:
    for region in (None, "POLYGON ICRS 1 2 3", "   "):  # absent, broken, blank
        model = records.record_from_fits(CAL, 1, [_primary(), _sci(region, shape=(40, 60))])
        info = model.image_info
        assert info is not None and model.metadata["sky_source"] == "wcs", region
        assert info.ra == pytest.approx(NGC3132[0], abs=1e-4)
        assert info.dec == pytest.approx(NGC3132[1], abs=1e-4)
        assert info.footprint is not None and _contains(info.footprint, *NGC3132)
        # 60" x 40" field: corners about 30" and 20" from the centre
        decs = [d for _r, d in _vertices(info.footprint)]
        assert max(decs) - min(decs) == pytest.approx(40 / 3600, rel=0.05)


def test_pointing_gives_the_centre_only(sky: Any) -> None:
    model = records.record_from_fits(CAL, 1, [_primary(), _sci(wcs=False)])
    info = model.image_info
    assert info is not None and info.footprint is None
    assert (info.ra, info.dec) == pytest.approx(NGC3132, abs=1e-6)
    assert model.metadata["sky_source"] == "pointing"
    bare = records.record_from_fits(CAL, 1, [_primary(TARG_RA=None, TARG_DEC=None)])
    assert bare.image_info is not None and bare.image_info.ra is None
    assert "sky_source" not in bare.metadata


def _mast_rows(**obs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """An observation row and a product row with astroquery's columns (values from MAST)."""
    observation = {
        "intentType": "science", "obs_collection": "JWST", "provenance_name": "CALJWST",
        "instrument_name": "NIRCAM/IMAGE", "project": "JWST", "filters": "F090W;CLEAR",
        "wavelength_region": "INFRARED", "target_name": "NGC-3132",
        "target_classification": "Nebula; Planetary nebula", "obs_id": OBS_ID,
        "s_ra": NGC3132[0], "s_dec": NGC3132[1], "dataproduct_type": "image",
        "proposal_pi": "Pontoppidan, Klaus", "calib_level": 3, "t_min": 59733.49645,
        "t_max": 59733.52476, "t_exptime": 2490.93, "em_min": 795.0, "em_max": 1005.0,
        "obs_title": "Early Release Observations", "t_obs_release": 59772.0,
        "proposal_id": "2733", "proposal_type": "DD", "sequence_number": None,
        "s_region": MAST_REGION, "jpegURL": None, "dataURL": None, "dataRights": "PUBLIC",
        "mtFlag": False, "srcDen": float("nan"), "obsid": "87602218", "objID": "154567189",
    }
    observation.update(obs)
    product = {
        "obsID": "87600560", "obs_collection": "JWST", "dataproduct_type": "image",
        "obs_id": "jw02733001001_02101_00001_nrca1", "description": "Calibrated exposure",
        "type": "S", "dataURI": f"mast:JWST/product/{CAL}", "productType": "SCIENCE",
        "productGroupDescription": "Minimum Recommended Products",
        "productSubGroupDescription": "CAL", "productDocumentationURL": "", "project": "CALJWST",
        "prvversion": "1.5.3", "proposal_id": "2733", "productFilename": CAL, "size": 117573120,
        "parent_obsid": "87602218", "dataRights": "PUBLIC", "calib_level": 2,
        "filters": "F090W;CLEAR",
    }
    return observation, product


def test_mast_row_position_and_order_when_a_file_is_read_again(sky: Any) -> None:
    obs, product = _mast_rows()
    mast = records.mast_record(obs, product)
    assert mast.image_info is not None and mast.metadata["sky_source"] == "mast"
    assert (mast.image_info.ra, mast.image_info.dec) == pytest.approx(NGC3132)
    assert mast.image_info.footprint == MAST_REGION
    key = str(mast.file_path)
    by_source = {
        "s_region": records.record_from_fits(key, 1, [_primary(), _sci(REGION)]),
        "wcs": records.record_from_fits(key, 1, [_primary(), _sci(shape=(10, 10))]),
        "pointing": records.record_from_fits(key, 1, [_primary(), _sci(wcs=False)]),
        "mast": mast,
    }
    order = list(records.SKY_SOURCES)
    assert order == ["s_region", "mast", "wcs", "pointing"]
    for a in order:
        for b in order:
            if a == b:
                continue
            better = a if order.index(a) < order.index(b) else b
            merged = records.refresh(by_source[a], by_source[b])  # b read after a
            info, want = merged.image_info, by_source[better].image_info
            assert info is not None and want is not None
            assert merged.metadata["sky_source"] == better, (a, b)
            assert (info.ra, info.dec, info.footprint) == (want.ra, want.dec, want.footprint)


def test_mast_region_alone_gives_the_centre_and_a_bad_one_is_dropped(sky: Any) -> None:
    only_region = records.sky_from_mast({"s_region": MAST_REGION})
    assert only_region is not None and only_region.footprint == MAST_REGION
    assert _contains(MAST_REGION, only_region.ra, only_region.dec)
    broken = records.sky_from_mast({"s_ra": 360.0, "s_dec": 10.0, "s_region": "POLYGON 1 2"})
    assert broken is not None and broken.footprint is None
    assert (broken.ra, broken.dec) == (0.0, 10.0)  # RA wrapped into [0, 360)
    assert records.sky_from_mast({"s_ra": 10.0, "s_dec": 91.0}) is None
    assert records.sky_from_mast({"s_ra": None, "s_dec": None}) is None


# --- MAST rows ----------------------------------------------------------------------------------


def test_mast_record_from_real_shaped_rows() -> None:
    obs, product = _mast_rows()
    model = records.mast_record(obs, product)
    assert model.file_path == f"mast/{OBS_ID}/{CAL}" and model.file_size == 117573120
    assert model.metadata["mast_product_dataURI"] == f"mast:JWST/product/{CAL}"
    assert model.metadata["mast_obsid"] == "87602218"
    assert "mast_srcDen" not in records.mast_record(
        records.row_items(obs), product).metadata  # NaN is no value
    assert model.metadata["optics"] == "clear-f090w"  # from the obs_id it was listed under
    assert "cloud_uri" not in model.metadata
    info = model.image_info
    assert info is not None
    assert (info.instrument, info.filter, info.calibration_level) == ("NIRCAM", "F090W", 2)
    assert info.observation_date is not None and info.observation_date.date().isoformat() == (
        "2022-06-03")
    assert info.proposal_id == "2733" and info.wavelength_range == WavelengthRange.INFRARED
    assert model.is_public and model.user_id is None
    with pytest.raises(ValidationError, match="productFilename"):
        records.mast_record(obs, {**product, "productFilename": " "})
    with pytest.raises(ValidationError, match="obs_id"):
        records.mast_record({**obs, "obs_id": None}, {**product, "obs_id": None})


def test_exposure_level_obs_id_gives_the_observation_group() -> None:
    obs_id = "jw01410001001_02101_00001_guider1"
    obs, product = _mast_rows(obs_id=obs_id, instrument_name="FGS", filters="F150W")
    asn = {**product, "productFilename": "jw01410-o001_20221009t173158_image2_00001_asn.json"}
    model = records.mast_record(obs, asn)
    assert model.file_path == f"mast/{obs_id}/{asn['productFilename']}"
    assert model.observation_base_id == group_from_obs_id(obs_id) == "jw01410-o001_fgs"
    assert "optics" not in model.metadata
    stage3 = records.mast_record(_mast_rows()[0], {**product, "productFilename": "x_asn.json"})
    assert stage3.observation_base_id == "jw02733-o001_t001_nircam"


def test_cloud_uri_from_argument_or_column() -> None:
    obs, product = _mast_rows()
    uri = f"s3://stpubdata/jwst/public/jw02733/jw02733001001/{CAL}"
    for model in (
        records.mast_record(obs, product, cloud_uri=uri),
        records.mast_record(obs, {**product, "cloud_uri": uri}),
        records.mast_record(obs, {**product, "cloudURI": uri}),
    ):
        assert model.metadata["cloud_uri"] == uri
        assert model.metadata["mast_product_dataURI"] == f"mast:JWST/product/{CAL}"
    for bad in ("s3://my-bucket/" + CAL, "https://stpubdata/" + CAL,
                f"s3://stpubdata/jwst/public/../{CAL}", uri.replace(CAL, "other.fits")):
        with pytest.raises(ValidationError, match="cloud_uri"):
            records.mast_record(obs, product, cloud_uri=bad)


def test_row_items_take_astropy_rows_with_masked_values() -> None:
    from astropy.table import MaskedColumn, Table

    table = Table({"obs_id": [OBS_ID], "s_ra": MaskedColumn([1.0], mask=[True]),
                   "calib_level": [3]})
    items = records.row_items(table[0])
    assert items == {"obs_id": OBS_ID, "s_ra": None, "calib_level": 3}
    assert all(type(v) in (str, int, type(None)) for v in items.values())


def test_mast_pairs_accepts_the_saved_shapes() -> None:
    obs, product = _mast_rows()
    assert records.mast_pairs({"observation": obs, "products": [product]}) == [(obs, [product])]
    other = {**obs, "obsid": "1", "obs_id": "jw01366-o004_t001_nirspec_f290lp-g395h"}
    theirs = {**product, "parent_obsid": "1"}
    pairs = records.mast_pairs({"observations": [obs, other], "products": [product, theirs]})
    assert pairs == [(obs, [product]), (other, [theirs])]
    with pytest.raises(ValidationError, match=r"saved\.json"):
        records.mast_pairs({"rows": []}, "saved.json")


# --- asdf and CRDS reference files --------------------------------------------------------------


def _asdf_meta() -> dict[str, Any]:
    """The ``meta`` of a JWST datamodel asdf tree (stdatamodels' attribute names)."""
    return {
        "telescope": "JWST",
        "model_type": "ImageModel",
        "instrument": {"name": "NIRCAM", "detector": "NRCA1", "filter": "F090W",
                       "pupil": "CLEAR"},
        "observation": {"program_number": "02733", "date": "2022-06-03",
                        "time": "11:54:53.000"},
        "exposure": {"effective_exposure_time": 1245.465, "start_time": 59733.49645},
        "target": {"catalog_name": "NGC-3132", "ra": NGC3132[0], "dec": NGC3132[1]},
        "program": {"pi_name": "Pontoppidan, Klaus", "title": "ERO"},
        "wcsinfo": {"s_region": REGION, "ra_ref": NGC3132[0], "dec_ref": NGC3132[1]},
        "wcs": {"steps": [1, 2]},  # a gwcs tree: never read
    }


def test_asdf_header_maps_the_tree_to_fits_keywords() -> None:
    header = records.asdf_header(_asdf_meta())
    assert header["INSTRUME"] == "NIRCAM" and header["FILTER"] == "F090W"
    assert header["PROGRAM"] == "02733" and header["S_REGION"] == REGION
    assert header["EFFEXPTM"] == pytest.approx(1245.465)
    assert "wcs" not in {k.lower() for k in header}
    assert records.asdf_header({"instrument": "not a mapping"}) == {}


def test_asdf_record(sky: Any) -> None:
    key = "mast/x/" + CAL.replace(".fits", ".asdf")
    model = records.record_from_asdf(key, 99, _asdf_meta())
    assert model.file_format == "asdf" and model.processing_level == ProcessingLevel.L2B
    info = model.image_info
    assert info is not None
    assert (info.instrument, info.filter, info.proposal_id) == ("NIRCAM", "F090W", "2733")
    assert info.observation_date == datetime(2022, 6, 3, 11, 54, 53, tzinfo=UTC)
    assert info.footprint == REGION.strip() and model.metadata["sky_source"] == "s_region"
    assert model.metadata["optics"] == "clear-f090w"


@pytest.mark.parametrize("extension", ["fits", "asdf"])
def test_crds_reference_files_get_instrument_and_reftype(extension: str) -> None:
    key = f"crds/references/jwst/nircam/jwst_nircam_flat_0001.{extension}"
    facts = {"REFTYPE": "FLAT", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1",
             "PEDIGREE": "GROUND", "USEAFTER": "2022-01-01T00:00:00", "AUTHOR": "STScI"}
    if extension == "fits":
        header = fits.Header()
        for k, v in facts.items():
            header[k] = v
        model = records.record_from_fits(key, 5, [header])
    else:
        meta = {"reftype": "FLAT", "instrument": {"name": "NIRCAM", "detector": "NRCA1"},
                "pedigree": "GROUND", "useafter": "2022-01-01T00:00:00", "author": "STScI"}
        model = records.record_from_asdf(key, 5, meta)
    assert model.data_type == DataType.CALIBRATION
    assert model.processing_level == ProcessingLevel.UNKNOWN
    assert model.observation_base_id is None
    assert model.image_info is not None and model.image_info.instrument == "NIRCAM"
    crds = model.metadata["crds"]
    assert crds["reftype"] == "flat" and crds["instrument"] == "NIRCAM"
    assert crds["pedigree"] == "GROUND" and crds["detector"] == "NRCA1"
    # a reference file whose header says nothing still gets them from its name
    bare = records.record_from_fits("jwst_miri_dark_0042.fits", 5, [fits.Header()])
    assert bare.metadata["crds"] == {"reftype": "dark", "instrument": "MIRI"}
    assert bare.image_info is not None and bare.image_info.instrument == "MIRI"


# --- association files, tables, pictures --------------------------------------------------------


def test_association_record() -> None:
    name = "jw02733-o001_20220707t165838_image3_00001_asn.json"
    members = [{"expname": f"jw02733001001_02101_0000{i}_nrca1_cal.fits"} for i in (1, 2)]
    asn = {"asn_type": "image3", "asn_id": "o001", "program": "02733",
           "asn_pool": "jw02733_20220707t165838_pool.csv",
           "products": [{"name": OBS_ID, "members": [*members, {"exptype": "science"}]}]}
    model = records.record_from_asn(name, 10, asn)
    assert model.metadata["asn_members"] == [m["expname"] for m in members]
    assert model.metadata["asn_product"] == OBS_ID and model.metadata["asn_type"] == "image3"
    assert model.data_type == DataType.METADATA and not model.is_viewable
    assert model.image_info is not None and model.image_info.proposal_id == "2733"
    with pytest.raises(FitsError, match="products"):
        records.record_from_asn(name, 10, {"products": {"name": "x"}})


# A nodded MIRI LRS spec2 association (the pipeline's shape): each nod is the science of
# its own product and the background of the other's.
NOD_A = "jw01536028001_03102_00001_mirimage_rate.fits"
NOD_B = "jw01536028001_03102_00002_mirimage_rate.fits"
MIRI_NOD_ASN = {
    "asn_type": "spec2", "asn_rule": "Asn_Lv2SpecBkg", "asn_id": "o028", "program": "01536",
    "asn_pool": "jw01536_20230101t000000_pool.csv",
    "products": [
        {"name": "jw01536028001_03102_00001_mirimage",
         "members": [{"expname": NOD_A, "exptype": "science"},
                     {"expname": NOD_B, "exptype": "background"}]},
        {"name": "jw01536028001_03102_00002_mirimage",
         "members": [{"expname": NOD_B, "exptype": "science"},
                     {"expname": NOD_A, "exptype": "background"}]},
    ],
}


def test_association_record_keeps_every_product_and_member_role() -> None:
    name = "jw01536-o028_20230101t000000_spec2_00001_asn.json"
    meta = records.record_from_asn(name, 10, MIRI_NOD_ASN).metadata
    assert meta["asn_products"] == ["jw01536028001_03102_00001_mirimage",
                                    "jw01536028001_03102_00002_mirimage"]
    assert meta["asn_product"] == meta["asn_products"][0]
    assert meta["asn_members"] == [NOD_A, NOD_B]
    # each nod is science somewhere, so that is its role in the file-wide map
    assert meta["asn_exptypes"] == {NOD_A: "science", NOD_B: "science"}
    second = meta["asn_product_members"][1]
    assert second["name"] == "jw01536028001_03102_00002_mirimage"
    assert second["members"] == [{"expname": NOD_B, "exptype": "science"},
                                 {"expname": NOD_A, "exptype": "background"}]


def test_association_record_keeps_coronagraphy_psf_roles() -> None:
    sci = "jw01386001001_04101_00001_nrcalong_calints.fits"
    psf = "jw01386002001_04101_00001_nrcalong_calints.fits"
    asn = {"asn_type": "coron3", "products": [{
        "name": "jw01386-a3001_t001_nircam_f444w-maskrnd",
        "members": [{"expname": sci, "exptype": "science"},
                    {"expname": f"some/dir/{psf}", "exptype": "PSF"},
                    {"expname": "jw01386003001_04101_00001_nrcalong_calints.fits"}],
    }]}
    meta = records.record_from_asn("jw01386-a3001_20230101t000000_coron3_00001_asn.json", 1,
                                   asn).metadata
    # roles in lower case, directories dropped, a member without exptype is science
    assert meta["asn_exptypes"] == {
        sci: "science", psf: "psf",
        "jw01386003001_04101_00001_nrcalong_calints.fits": "science",
    }


# --- calibration provenance -------------------------------------------------------------------


CALIBRATED = {
    "TELESCOP": "JWST", "INSTRUME": "NIRCAM", "CAL_VER": "1.14.0", "CRDS_VER": "11.17.19",
    "CRDS_CTX": "jwst_1225.pmap", "R_DARK": "crds://jwst_nircam_dark_0342.fits",
    "R_SATURA": "crds://jwst_nircam_saturation_0093.fits", "R_FLAT": "N/A",
    "R_NEWTYP": "crds://jwst_nircam_newtyp_0001.fits",
}


def test_calibration_from_headers_carries_every_field() -> None:
    model = records.record_from_fits(CAL, 10, [fits.Header(CALIBRATED)])
    cal = model.calibration
    assert cal is not None
    assert (cal.cal_ver, cal.crds_ver, cal.crds_context, cal.context_number) == (
        "1.14.0", "11.17.19", "jwst_1225.pmap", 1225)
    # types by the pipeline's names; "N/A" (no reference used) left out; unknown R_* kept
    assert cal.reference_files == {"dark": "jwst_nircam_dark_0342.fits",
                                   "saturation": "jwst_nircam_saturation_0093.fits",
                                   "newtyp": "jwst_nircam_newtyp_0001.fits"}
    doc = model.to_document()["calibration"]
    assert doc == {"calVer": "1.14.0", "crdsVer": "11.17.19", "crdsContext": "jwst_1225.pmap",
                   "contextNumber": 1225, "referenceFiles": cal.reference_files}
    assert JwstDataModel.from_document(model.to_document()).calibration == cal


def test_files_without_provenance_have_no_calibration() -> None:
    raw = records.record_from_fits("jw02733001001_02101_00001_nrca1_uncal.fits", 1,
                                   [fits.Header({"TELESCOP": "JWST"})])
    assert raw.calibration is None
    reference = records.record_from_fits("jwst_nircam_flat_0001.fits", 1,
                                         [fits.Header({"REFTYPE": "FLAT", "CAL_VER": "1.0"})])
    assert reference.calibration is None


def test_asdf_tree_gives_the_same_calibration_as_fits() -> None:
    meta = {"calibration_software_version": "1.14.0",
            "ref_file": {"crds": {"sw_version": "11.17.19", "context_used": "jwst_1225.pmap"},
                         "dark": {"name": "crds://jwst_nircam_dark_0342.fits"},
                         "saturation": {"name": "crds://jwst_nircam_saturation_0093.fits"},
                         "flat": {"name": "N/A"},
                         "newtyp": {"name": "crds://jwst_nircam_newtyp_0001.fits"}}}
    from_asdf = records.record_from_asdf(CAL.replace(".fits", ".asdf"), 1, meta).calibration
    from_fits = records.record_from_fits(CAL, 1, [fits.Header(CALIBRATED)]).calibration
    assert from_asdf == from_fits


def test_mast_rows_give_the_calibration_they_carry() -> None:
    obs = {"obs_id": OBS_ID, "instrument_name": "NIRCAM/IMAGE"}
    product = {"productFilename": CAL, "prvversion": "1.12.5", "calib_level": 2}
    cal = records.mast_record(obs, product).calibration
    assert cal is not None and cal.cal_ver == "1.12.5" and cal.crds_context is None
    keyword_row = {**product, "cal_ver": "1.14.0", "crds_ctx": "jwst_1225.pmap",
                   "r_dark": "crds://jwst_nircam_dark_0342.fits"}
    cal = records.mast_record(obs, keyword_row).calibration
    assert cal is not None and (cal.cal_ver, cal.context_number) == ("1.14.0", 1225)
    assert cal.reference_files == {"dark": "jwst_nircam_dark_0342.fits"}
    uncal = {**product, "productFilename": CAL.replace("_cal", "_uncal")}
    assert records.mast_record(obs, uncal).calibration is None


def test_refresh_lets_headers_win_over_a_mast_version() -> None:
    scanned = records.record_from_fits(CAL, 10, [fits.Header(CALIBRATED)])
    listed = records.mast_record({"obs_id": OBS_ID},
                                 {"productFilename": CAL, "prvversion": "1.12.5"})
    merged = records.refresh(scanned, listed)
    assert merged.calibration == scanned.calibration
    # a file read again with new headers (reprocessed) takes the new provenance
    newer = records.record_from_fits(CAL, 10, [fits.Header({**CALIBRATED,
                                                            "CRDS_CTX": "jwst_1300.pmap"})])
    assert records.refresh(scanned, newer).calibration.context_number == 1300  # type: ignore[union-attr]
    # a read that knows nothing keeps what was known
    bare = records.record_from_fits(CAL, 10, [fits.Header({"TELESCOP": "JWST"})])
    assert records.refresh(scanned, bare).calibration == scanned.calibration
    # a MAST-only version is replaced by a later MAST row
    again = records.mast_record({"obs_id": OBS_ID},
                                {"productFilename": CAL, "prvversion": "1.13.0"})
    assert records.refresh(listed, again).calibration.cal_ver == "1.13.0"  # type: ignore[union-attr]


def test_table_records_read_column_names() -> None:
    ecsv = "# %ECSV 1.0\n# ---\n# datatype:\n# - {name: label, datatype: int32}\n" \
        "# - {name: ra, unit: deg, datatype: float64}\nlabel ra\n1 151.7\n"
    model = records.record_from_table_head(f"{OBS_ID}_cat.ecsv", 80, ecsv)
    assert model.metadata["columns"] == ["label", "ra"]
    assert model.data_type == DataType.METADATA and model.processing_level == ProcessingLevel.L3
    csv = records.record_from_table_head("jw02733_20220707t165838_pool.csv", 9, "\n'a', b ,c\n")
    assert csv.metadata["columns"] == ["a", "b", "c"]


def test_pictures_are_bounded() -> None:
    model = records.record_from_picture(f"{OBS_ID}_i2d.jpg", 100, 640, 480, "RGB")
    assert model.data_type == DataType.IMAGE and model.is_viewable
    assert model.metadata == {"source": "scan", "width": 640, "height": 480, "mode": "RGB"}
    with pytest.raises(FitsError, match="limit"):
        records.record_from_picture("huge.png", 100, 10**6, 10**6, "L")
    with pytest.raises(FitsError, match="limit"):
        records.record_from_picture("odd.png", 100, -1, 5, "L")
    with pytest.raises(FitsError, match="limit of 100 pixels"):
        records.record_from_picture("small.png", 100, 11, 10, "L", max_pixels=100)
    assert records.record_from_picture("small.png", 1, 10, 10, "L", max_pixels=100).metadata[
        "width"] == 10


def _png_header(width: int, height: int) -> bytes:
    """A PNG that is only its signature and header: it claims a size, has no pixels."""
    import struct
    import zlib

    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    iend = b"IEND"
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
        for chunk in (ihdr, iend)
    )


def test_record_from_file_refuses_a_picture_claiming_too_many_pixels(tmp_path: Any) -> None:
    from jwstnb.ingest import record_from_file
    from jwstnb.storage import MAX_IMAGE_PIXELS, Storage

    (tmp_path / "bomb.png").write_bytes(_png_header(100_000, 100_000))
    (tmp_path / "fine.png").write_bytes(_png_header(64, 32))
    storage = Storage(tmp_path.as_uri())
    assert MAX_IMAGE_PIXELS < 100_000**2
    with pytest.raises(FitsError, match="limit"):
        record_from_file(storage, "bomb.png")
    fine = record_from_file(storage, "fine.png")
    assert (fine.metadata["width"], fine.metadata["height"], fine.metadata["mode"]) == (
        64, 32, "L")


# --- reading a file again -----------------------------------------------------------------------


def _stored(**update: Any) -> JwstDataModel:
    model = records.record_from_fits(CAL, 1, [_primary(), _sci()])
    links = {"observation_base_id": "jw02733-o001_t001_nircam", "parent_id": "a" * 24,
             "derived_from": ["a" * 24]}
    return model.model_copy(update={**links, **update})


def test_refresh_keeps_lineage_and_the_other_importers_metadata() -> None:
    obs, product = _mast_rows()
    stored = _stored()
    merged = records.refresh(stored, records.mast_record(obs, product))
    assert merged.observation_base_id == "jw02733-o001_t001_nircam"
    assert merged.parent_id == "a" * 24 and merged.derived_from == ["a" * 24]
    assert merged.metadata["source"] == "mast"
    assert merged.metadata["hdus"] == stored.metadata["hdus"]  # the scan's facts stay
    assert merged.metadata["mast_obsid"] == "87602218"
    assert merged.sensor_info == stored.sensor_info
    info = merged.image_info
    assert info is not None and info.filter == "F090W"
    assert info.observation_date is not None  # MAST's t_min replaced, never blanked


def test_refresh_keeps_what_processing_wrote() -> None:
    rescanned = records.record_from_fits(
        CAL.replace("_cal", "_cal_bkgsub"), 1, [_primary(), _sci()])
    assert rescanned.processing_level == ProcessingLevel.UNKNOWN
    made = _stored(processing_level=ProcessingLevel.L2B, exposure_id="jw1", user_id="alice",
                   metadata={"source": "processing", "algorithm": "background"})
    again = records.refresh(made, rescanned, processed=True)
    for name in records.PROCESSING_KEEPS:
        assert getattr(again, name) == getattr(made, name), name
    assert again.metadata["source"] == "processing"
    assert again.metadata["algorithm"] == "background"  # kept
    assert again.metadata["hdus"] == rescanned.metadata["hdus"]  # what the scan read
    # not made by processing: the scan's reading replaces the last scan's, lineage stays
    plain = records.refresh(made, rescanned)
    assert plain.processing_level == ProcessingLevel.UNKNOWN and plain.user_id is None
    assert plain.derived_from == made.derived_from and "algorithm" not in plain.metadata


def test_values_are_plain() -> None:
    import numpy as np

    assert records.observation_datetime({"DATE-OBS": "2022-06-03T01:02:03Z"}) == datetime(
        2022, 6, 3, 1, 2, 3, tzinfo=UTC)
    assert records.observation_datetime({"DATE-OBS": "garbage"}) is None
    items = records.row_items({"a": np.float32(1.5), "b": np.int64(3), "c": float("inf"),
                               "d": b"x", "e": math.nan})
    assert items == {"a": 1.5, "b": 3, "c": None, "d": "x", "e": None}


# --- reading an asdf file (ingest.record_from_file on a local directory) -------------------------

# A CRDS flat as the asdf library writes it: tags of packages jwstnb does not load (asdf-astropy
# times, gwcs), and an ndarray whose block is NOT in the file: reading it would fail, so the
# record proves that only the YAML tree is read.
ASDF_FLAT = """#ASDF 1.0.0
#ASDF_STANDARD 1.5.0
%YAML 1.1
%TAG ! tag:stsci.edu:asdf/
--- !core/asdf-1.1.0
asdf_library: !core/software-1.0.0 {author: The ASDF Developers, name: asdf, version: 2.15.0}
data: !core/ndarray-1.0.0
  source: 0
  datatype: float32
  byteorder: little
  shape: [2048, 2048]
meta:
  author: STScI
  date: !time/time-1.1.0 2022-07-08T10:21:17.000
  description: NIRCam flat
  instrument: {name: NIRCAM, detector: NRCA1, filter: F090W, pupil: CLEAR}
  pedigree: GROUND
  reftype: FLAT
  telescope: JWST
  useafter: !time/time-1.1.0 2022-01-01T00:00:00.000
  wcs: !<tag:stsci.edu:gwcs/wcs-1.1.0> {name: '', steps: []}
...
"""


def test_record_from_file_reads_only_the_asdf_tree(tmp_path: Any) -> None:
    from jwstnb.ingest import record_from_file
    from jwstnb.storage import Storage

    (tmp_path / "jwst_nircam_flat_0001.asdf").write_text(ASDF_FLAT)
    (tmp_path / "broken.asdf").write_bytes(b"#ASDF 1.0.0\n%YAML 1.1\n--- [unclosed\n")
    storage = Storage(tmp_path.as_uri())
    model = record_from_file(storage, "jwst_nircam_flat_0001.asdf")
    assert model.file_format == "asdf" and model.data_type == DataType.CALIBRATION
    assert model.metadata["crds"] == {
        "reftype": "flat", "instrument": "NIRCAM", "detector": "NRCA1", "pedigree": "GROUND",
        "useafter": "2022-01-01T00:00:00.000", "author": "STScI", "description": "NIRCam flat",
    }
    assert model.file_size == len(ASDF_FLAT)
    with pytest.raises(FitsError, match=r"broken\.asdf.*not a readable asdf file"):
        record_from_file(storage, "broken.asdf")
