"""JWST file names -> identity: every field of every name, and the helpers."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwstnb.errors import ValidationError
from jwstnb.naming import (
    ASDF_EXTENSIONS,
    FITS_EXTENSIONS,
    JSON_EXTENSIONS,
    PICTURE_EXTENSIONS,
    SCAN_EXTENSIONS,
    TABLE_EXTENSIONS,
    FileIdentity,
    GroupKey,
    classify,
    context_number,
    file_type,
    group_from_key,
    group_from_obs_id,
    instrument_of_detector,
    is_scannable,
    parse_group_key,
    product_group,
    program_of,
)
from jwstnb.schema import DataType, ProcessingLevel

L1, L2A, L2B, L3, UNK = (
    ProcessingLevel.L1,
    ProcessingLevel.L2A,
    ProcessingLevel.L2B,
    ProcessingLevel.L3,
    ProcessingLevel.UNKNOWN,
)
RAW, SENSOR, IMAGE, SPECTRAL, META = (
    DataType.RAW,
    DataType.SENSOR,
    DataType.IMAGE,
    DataType.SPECTRAL,
    DataType.METADATA,
)
FIELDS = [f.name for f in dataclasses.fields(FileIdentity)]
ID_FIELDS = FIELDS[FIELDS.index("program") :]
BOOL_FIELDS = ("provisional", "preview", "thumbnail")


def exp(program: str, obs: str, visit: str, act: str, expo: str, det: str, inst: str,
        **more: Any) -> dict[str, Any]:
    """The ids of an exposure name (segment / association id passed in ``more``)."""
    return {
        "program": program,
        "observation": obs,
        "visit": visit,
        "exposure_id": f"jw{program}{obs}{visit}_{act}_{expo}",
        "exposure": expo,
        "detector": det,
        "instrument": inst,
        "observation_base_id": f"jw{program}-o{obs}_{inst}",
        "provisional": True,
        **more,
    }


def gs(program: str, obs: str, visit: str, exposure_id: str, mode: str) -> dict[str, Any]:
    """The ids of a guide-star name."""
    return {
        "program": program,
        "observation": obs,
        "visit": visit,
        "exposure_id": exposure_id,
        "instrument": "fgs",
        "guide_mode": mode,
        "observation_base_id": f"jw{program}-o{obs}_fgs",
        "provisional": True,
    }


def s3(program: str, acid: str, target: str, inst: str, optics: str | None,
       **more: Any) -> dict[str, Any]:
    """The ids of a stage-3 name."""
    full = target.startswith("t")
    return {
        "program": program,
        "observation": acid[1:] if acid.startswith("o") else None,
        "instrument": inst,
        "optics": optics,
        "target": target if full else None,
        "source_id": None if full else target,
        "association_id": acid,
        "observation_base_id": (
            f"jw{program}-{acid}_{target}_{inst}" if full else f"jw{program}-{acid}_{inst}"
        ),
        "provisional": not full,
        **more,
    }


NRCA1 = exp("02733", "001", "001", "02101", "00001", "nrca1", "nircam")
NRS_SEG1 = exp("01366", "004", "001", "04101", "00001", "nrs1", "nirspec", segment="001")
I2D_3132 = s3("02733", "o001", "t001", "nircam", "clear-f090w")

# (name, stem, suffix, extension, file_format, compressed, kind, level, data type, viewable,
#  ids: every id field not listed must be None / False)
ROWS: list[tuple[Any, ...]] = [
    # --- the reference table of file names, row by row ---
    ("jw02733001001_02101_00001_nrca1_uncal.fits", "jw02733001001_02101_00001_nrca1_uncal",
     "uncal", ".fits", "fits", False, "exposure", L1, RAW, True, NRCA1),
    ("jw02733001001_02101_00001_nrca1_rate.fits", "jw02733001001_02101_00001_nrca1_rate",
     "rate", ".fits", "fits", False, "exposure", L2A, SENSOR, True, NRCA1),
    ("jw02733001001_02101_00001_nrca1_cal.fits", "jw02733001001_02101_00001_nrca1_cal",
     "cal", ".fits", "fits", False, "exposure", L2B, IMAGE, True, NRCA1),
    ("jw02733001001_02101_00001_nrca1_o001_crf.fits",
     "jw02733001001_02101_00001_nrca1_o001_crf", "crf", ".fits", "fits", False, "exposure",
     L2B, IMAGE, True, {**NRCA1, "association_id": "o001"}),
    ("jw02733-o001_t001_nircam_clear-f090w_i2d.fits", "jw02733-o001_t001_nircam_clear-f090w_i2d",
     "i2d", ".fits", "fits", False, "stage3", L3, IMAGE, True, I2D_3132),
    ("jw02733-o001_t001_nircam_clear-f090w_cat.ecsv", "jw02733-o001_t001_nircam_clear-f090w_cat",
     "cat", ".ecsv", "ecsv", False, "stage3", L3, META, False, I2D_3132),
    ("jw01366004001_04101_00001-seg001_nrs1_x1dints.fits",
     "jw01366004001_04101_00001-seg001_nrs1_x1dints", "x1dints", ".fits", "fits", False,
     "exposure", L2B, SPECTRAL, False, NRS_SEG1),
    ("jw02733-o001_20220707t165838_image3_001_asn.json",
     "jw02733-o001_20220707t165838_image3_001_asn", "asn", ".json", "json", False,
     "association", UNK, META, False,
     {"program": "02733", "observation": "001", "association_id": "o001", "asn_type": "image3",
      "sequence": "001"}),
    # --- more exposures ---
    ("jw02733001001_02101_00001_nrca1_rateints.fits", "jw02733001001_02101_00001_nrca1_rateints",
     "rateints", ".fits", "fits", False, "exposure", L2A, SENSOR, True, NRCA1),
    ("jw02733001001_02101_00001_nrca1_calints.fits", "jw02733001001_02101_00001_nrca1_calints",
     "calints", ".fits", "fits", False, "exposure", L2B, IMAGE, True, NRCA1),
    ("jw02733001001_02101_00001_nrca1_i2d.fits", "jw02733001001_02101_00001_nrca1_i2d",
     "i2d", ".fits", "fits", False, "exposure", L2B, IMAGE, True, NRCA1),
    ("jw02733001001_02101_00002_nrcalong_cal.fits", "jw02733001001_02101_00002_nrcalong_cal",
     "cal", ".fits", "fits", False, "exposure", L2B, IMAGE, True,
     exp("02733", "001", "001", "02101", "00002", "nrcalong", "nircam")),
    ("jw02733002001_03105_00004_nrcb5_uncal.fits", "jw02733002001_03105_00004_nrcb5_uncal",
     "uncal", ".fits", "fits", False, "exposure", L1, RAW, True,
     exp("02733", "002", "001", "03105", "00004", "nrcb5", "nircam")),
    ("JW02733001001_02101_00001_NRCA1_CAL.FITS", "jw02733001001_02101_00001_nrca1_cal",
     "cal", ".fits", "fits", False, "exposure", L2B, IMAGE, True, NRCA1),
    ("jw02733001001_02101_00001_nrca1_cal.fits.gz", "jw02733001001_02101_00001_nrca1_cal",
     "cal", ".fits", "fits", True, "exposure", L2B, IMAGE, True, NRCA1),
    ("jw02733001001_02101_00001_nrca1_ramp.fits", "jw02733001001_02101_00001_nrca1_ramp",
     "ramp", ".fits", "fits", False, "exposure", UNK, IMAGE, True, NRCA1),
    ("jw01366004001_04101_00001-seg002_nrs2_uncal.fits",
     "jw01366004001_04101_00001-seg002_nrs2_uncal", "uncal", ".fits", "fits", False, "exposure",
     L1, RAW, True, {**NRS_SEG1, "detector": "nrs2", "segment": "002"}),
    ("jw01366004001_04101_00001-seg001_nrs1_rateints.fits",
     "jw01366004001_04101_00001-seg001_nrs1_rateints", "rateints", ".fits", "fits", False,
     "exposure", L2A, SENSOR, True, NRS_SEG1),
    ("JW01366004001_04101_00001-SEG001_NRS1_CALINTS.FITS.GZ",
     "jw01366004001_04101_00001-seg001_nrs1_calints", "calints", ".fits", "fits", True,
     "exposure", L2B, IMAGE, True, NRS_SEG1),
    ("jw01345066001_03101_00001_nrs1_s2d.fits", "jw01345066001_03101_00001_nrs1_s2d",
     "s2d", ".fits", "fits", False, "exposure", L2B, SPECTRAL, True,
     exp("01345", "066", "001", "03101", "00001", "nrs1", "nirspec")),
    ("jw01345066001_03101_00001_nrs1_x1d.fits", "jw01345066001_03101_00001_nrs1_x1d",
     "x1d", ".fits", "fits", False, "exposure", L2B, SPECTRAL, False,
     exp("01345", "066", "001", "03101", "00001", "nrs1", "nirspec")),
    ("jw01523003001_03102_00001_mirifushort_s3d.fits",
     "jw01523003001_03102_00001_mirifushort_s3d", "s3d", ".fits", "fits", False, "exposure",
     L2B, SPECTRAL, True, exp("01523", "003", "001", "03102", "00001", "mirifushort", "miri")),
    ("jw01523003001_03102_00001_mirimage_cal.fits", "jw01523003001_03102_00001_mirimage_cal",
     "cal", ".fits", "fits", False, "exposure", L2B, IMAGE, True,
     exp("01523", "003", "001", "03102", "00001", "mirimage", "miri")),
    ("jw01093012001_03103_00001_nis_rate.fits", "jw01093012001_03103_00001_nis_rate",
     "rate", ".fits", "fits", False, "exposure", L2A, SENSOR, True,
     exp("01093", "012", "001", "03103", "00001", "nis", "niriss")),
    ("jw01234001001_02101_00001_guider1_uncal.fits", "jw01234001001_02101_00001_guider1_uncal",
     "uncal", ".fits", "fits", False, "exposure", L1, RAW, True,
     exp("01234", "001", "001", "02101", "00001", "guider1", "fgs")),
    ("jw01234001001_02101_00001_guider2_cal.fits", "jw01234001001_02101_00001_guider2_cal",
     "cal", ".fits", "fits", False, "exposure", L2B, IMAGE, True,
     exp("01234", "001", "001", "02101", "00001", "guider2", "fgs")),
    ("jw01386001001_03106_00001_nrcalong_c1001_crfints.fits",
     "jw01386001001_03106_00001_nrcalong_c1001_crfints", "crfints", ".fits", "fits", False,
     "exposure", L2B, IMAGE, True,
     exp("01386", "001", "001", "03106", "00001", "nrcalong", "nircam", association_id="c1001",
         observation_base_id="jw01386-c1001_nircam")),
    ("jw01386001001_03106_00001_nrcalong_c1001_psfsub.fits",
     "jw01386001001_03106_00001_nrcalong_c1001_psfsub", "psfsub", ".fits", "fits", False,
     "exposure", L2B, IMAGE, True,
     exp("01386", "001", "001", "03106", "00001", "nrcalong", "nircam", association_id="c1001",
         observation_base_id="jw01386-c1001_nircam")),
    # --- guide-star files ---
    ("jw01234001001_gs-fg_2022170160412_uncal.fits", "jw01234001001_gs-fg_2022170160412_uncal",
     "uncal", ".fits", "fits", False, "exposure", L1, RAW, True,
     gs("01234", "001", "001", "jw01234001001_gs-fg_2022170160412", "fg")),
    ("jw01234001001_gs-fg_2022170160412_cal.fits", "jw01234001001_gs-fg_2022170160412_cal",
     "cal", ".fits", "fits", False, "exposure", L2B, IMAGE, True,
     gs("01234", "001", "001", "jw01234001001_gs-fg_2022170160412", "fg")),
    ("jw01234001001_gs-id_1_image_cal.fits", "jw01234001001_gs-id_1_image_cal",
     "cal", ".fits", "fits", False, "exposure", L2B, IMAGE, True,
     gs("01234", "001", "001", "jw01234001001_gs-id_1_image", "id")),
    ("jw01234001001_gs-id_2_stacked_uncal.fits", "jw01234001001_gs-id_2_stacked_uncal",
     "uncal", ".fits", "fits", False, "exposure", L1, RAW, True,
     gs("01234", "001", "001", "jw01234001001_gs-id_2_stacked", "id")),
    ("jw01234001001_gs-id_1_image-uncal.fits", "jw01234001001_gs-id_1_image-uncal",
     "uncal", ".fits", "fits", False, "exposure", L1, RAW, True,
     gs("01234", "001", "001", "jw01234001001_gs-id_1_image", "id")),
    ("jw01018002003_gs-acq1_2022135041922_cal.fits", "jw01018002003_gs-acq1_2022135041922_cal",
     "cal", ".fits", "fits", False, "exposure", L2B, IMAGE, True,
     gs("01018", "002", "003", "jw01018002003_gs-acq1_2022135041922", "acq1")),
    ("JW01018002003_GS-TRACK_2022135042000_UNCAL.FITS.GZ",
     "jw01018002003_gs-track_2022135042000_uncal", "uncal", ".fits", "fits", True, "exposure",
     L1, RAW, True, gs("01018", "002", "003", "jw01018002003_gs-track_2022135042000", "track")),
    # --- stage 3 ---
    ("jw02733-o001_t001_nircam_clear-f090w_segm.fits",
     "jw02733-o001_t001_nircam_clear-f090w_segm", "segm", ".fits", "fits", False, "stage3", L3,
     IMAGE, True, I2D_3132),
    ("JW02733-O001_T001_NIRCAM_CLEAR-F090W_I2D.FITS.GZ",
     "jw02733-o001_t001_nircam_clear-f090w_i2d", "i2d", ".fits", "fits", True, "stage3", L3,
     IMAGE, True, I2D_3132),
    ("jw02733-o001_t001_nircam_i2d.fits", "jw02733-o001_t001_nircam_i2d", "i2d", ".fits",
     "fits", False, "stage3", L3, IMAGE, True, s3("02733", "o001", "t001", "nircam", None)),
    ("jw01345-o066_t001_nirspec_f170lp-g235m_s2d.fits",
     "jw01345-o066_t001_nirspec_f170lp-g235m_s2d", "s2d", ".fits", "fits", False, "stage3", L3,
     SPECTRAL, True, s3("01345", "o066", "t001", "nirspec", "f170lp-g235m")),
    ("jw01345-o066_s000000680_nirspec_f170lp-g235m_s2d.fits",
     "jw01345-o066_s000000680_nirspec_f170lp-g235m_s2d", "s2d", ".fits", "fits", False,
     "stage3", L3, SPECTRAL, True, s3("01345", "o066", "s000000680", "nirspec", "f170lp-g235m")),
    ("jw01345-o066_s000000680_nirspec_f170lp-g235m_x1d.fits",
     "jw01345-o066_s000000680_nirspec_f170lp-g235m_x1d", "x1d", ".fits", "fits", False,
     "stage3", L3, SPECTRAL, False, s3("01345", "o066", "s000000680", "nirspec", "f170lp-g235m")),
    ("jw02079-o004_s00001_nircam_f356w-grismr_x1d.fits",
     "jw02079-o004_s00001_nircam_f356w-grismr_x1d", "x1d", ".fits", "fits", False, "stage3", L3,
     SPECTRAL, False, s3("02079", "o004", "s00001", "nircam", "f356w-grismr")),
    ("jw02727-c1001_t062_nircam_f090w_i2d.fits", "jw02727-c1001_t062_nircam_f090w_i2d", "i2d",
     ".fits", "fits", False, "stage3", L3, IMAGE, True,
     s3("02727", "c1001", "t062", "nircam", "f090w")),
    ("jw02727-c1001_t062_nircam_f090w_cat.ecsv", "jw02727-c1001_t062_nircam_f090w_cat", "cat",
     ".ecsv", "ecsv", False, "stage3", L3, META, False,
     s3("02727", "c1001", "t062", "nircam", "f090w")),
    ("jw01386-a3001_t001_nircam_f444w-maskrnd_psfstack.fits",
     "jw01386-a3001_t001_nircam_f444w-maskrnd_psfstack", "psfstack", ".fits", "fits", False,
     "stage3", L3, IMAGE, True, s3("01386", "a3001", "t001", "nircam", "f444w-maskrnd")),
    ("jw01234-r0001_t001_miri_f770w_i2d.fits", "jw01234-r0001_t001_miri_f770w_i2d", "i2d",
     ".fits", "fits", False, "stage3", L3, IMAGE, True,
     s3("01234", "r0001", "t001", "miri", "f770w")),
    ("jw01523-o003_t002_miri_ch1-short_s3d.fits", "jw01523-o003_t002_miri_ch1-short_s3d", "s3d",
     ".fits", "fits", False, "stage3", L3, SPECTRAL, True,
     s3("01523", "o003", "t002", "miri", "ch1-short")),
    ("jw01523-o003_t002_miri_ch1-short_x1d.fits", "jw01523-o003_t002_miri_ch1-short_x1d", "x1d",
     ".fits", "fits", False, "stage3", L3, SPECTRAL, False,
     s3("01523", "o003", "t002", "miri", "ch1-short")),
    ("jw01366-o004_t001_nirspec_clear-prism_x1dints.fits",
     "jw01366-o004_t001_nirspec_clear-prism_x1dints", "x1dints", ".fits", "fits", False,
     "stage3", L3, SPECTRAL, False, s3("01366", "o004", "t001", "nirspec", "clear-prism")),
    ("jw01366-o004_t001_nirspec_clear-prism_c1d.fits",
     "jw01366-o004_t001_nirspec_clear-prism_c1d", "c1d", ".fits", "fits", False, "stage3", L3,
     SPECTRAL, False, s3("01366", "o004", "t001", "nirspec", "clear-prism")),
    ("jw01366-o004_t001_nirspec_clear-prism_whtlt.ecsv",
     "jw01366-o004_t001_nirspec_clear-prism_whtlt", "whtlt", ".ecsv", "ecsv", False, "stage3",
     L3, META, False, s3("01366", "o004", "t001", "nirspec", "clear-prism")),
    ("jw01234-o001_t001-epoch1_nircam_f200w_i2d.fits", "jw01234-o001_t001-epoch1_nircam_f200w_i2d",
     "i2d", ".fits", "fits", False, "stage3", L3, IMAGE, True,
     s3("01234", "o001", "t001", "nircam", "f200w", epoch="epoch1")),
    ("jw01093-o012_t005_niriss_f480m-nrm_ami-oi.fits", "jw01093-o012_t005_niriss_f480m-nrm_ami-oi",
     "ami-oi", ".fits", "fits", False, "stage3", L3, IMAGE, True,
     s3("01093", "o012", "t005", "niriss", "f480m-nrm")),
    ("jw01234-o001_t001_nircam_f200w_foo.fits", "jw01234-o001_t001_nircam_f200w_foo", "foo",
     ".fits", "fits", False, "stage3", UNK, IMAGE, True,
     s3("01234", "o001", "t001", "nircam", "f200w")),
    # --- associations and pools ---
    ("jw02727-c1001_20230101t000000_image3_002_asn.json",
     "jw02727-c1001_20230101t000000_image3_002_asn", "asn", ".json", "json", False,
     "association", UNK, META, False,
     {"program": "02727", "association_id": "c1001", "asn_type": "image3", "sequence": "002"}),
    ("JW02733-O001_20220707T165838_IMAGE2_005_ASN.JSON",
     "jw02733-o001_20220707t165838_image2_005_asn", "asn", ".json", "json", False,
     "association", UNK, META, False,
     {"program": "02733", "observation": "001", "association_id": "o001", "asn_type": "image2",
      "sequence": "005"}),
    ("jw02733_20220707t165838_pool.csv", "jw02733_20220707t165838_pool", "pool", ".csv", "csv",
     False, "pool", UNK, META, False, {"program": "02733"}),
    ("JW01366_20230101T120000_POOL.CSV", "jw01366_20230101t120000_pool", "pool", ".csv", "csv",
     False, "pool", UNK, META, False, {"program": "01366"}),
    # --- anything else: suffix = last "_" token, ids null ---
    ("ngc_calibration_i2d.fits", "ngc_calibration_i2d", "i2d", ".fits", "fits", False, "other",
     L3, IMAGE, True, {}),
    ("my_rate_limited_uncal.fits", "my_rate_limited_uncal", "uncal", ".fits", "fits", False,
     "other", L1, RAW, True, {}),
    ("my_cal.fits", "my_cal", "cal", ".fits", "fits", False, "other", L2B, IMAGE, True, {}),
    ("spectrum_x1d.fits", "spectrum_x1d", "x1d", ".fits", "fits", False, "other", L3, SPECTRAL,
     False, {}),
    ("ngc3132_cat.ecsv", "ngc3132_cat", "cat", ".ecsv", "ecsv", False, "other", L3, META, False,
     {}),
    ("catalog.csv", "catalog", "catalog", ".csv", "csv", False, "other", UNK, META, False, {}),
    ("preview.png", "preview", "preview", ".png", "png", False, "other", UNK, IMAGE, True, {}),
    ("my_asn.json", "my_asn", "asn", ".json", "json", False, "other", UNK, META, False, {}),
    ("jw02733-o001_image3_asn.json", "jw02733-o001_image3_asn", "asn", ".json", "json", False,
     "other", UNK, META, False, {}),
    ("jw02733_pool.csv", "jw02733_pool", "pool", ".csv", "csv", False, "other", UNK, META, False,
     {}),
    ("hst_12345_01_wfc3_f160w_drz.fits", "hst_12345_01_wfc3_f160w_drz", "drz", ".fits", "fits",
     False, "other", UNK, IMAGE, True, {}),
    ("jw02733001001_02101_00001_foo_cal.fits", "jw02733001001_02101_00001_foo_cal", "cal",
     ".fits", "fits", False, "other", L2B, IMAGE, True, {}),
    ("jw02733-o001_t001_spitzer_f090w_i2d.fits", "jw02733-o001_t001_spitzer_f090w_i2d", "i2d",
     ".fits", "fits", False, "other", L3, IMAGE, True, {}),
    ("jw2733001001_02101_00001_nrca1_cal.fits", "jw2733001001_02101_00001_nrca1_cal", "cal",
     ".fits", "fits", False, "other", L2B, IMAGE, True, {}),
    ("M31_mosaic_I2D.FITS.GZ", "m31_mosaic_i2d", "i2d", ".fits", "fits", True, "other", L3,
     IMAGE, True, {}),
    ("table.ecsv.gz", "table", "table", ".ecsv", "ecsv", True, "other", UNK, META, False, {}),
]


def expected_identity(row: tuple[Any, ...]) -> dict[str, Any]:
    (name, stem, suffix, extension, fmt, gz, kind, level, dtype, viewable, ids) = row
    assert set(ids) <= set(ID_FIELDS), f"unknown field in row {name}: {set(ids) - set(ID_FIELDS)}"
    full: dict[str, Any] = dict.fromkeys(ID_FIELDS)
    full.update(dict.fromkeys(BOOL_FIELDS, False))
    full.update(ids)
    return {
        "name": name.replace("\\", "/").rsplit("/", 1)[-1],
        "stem": stem,
        "suffix": suffix,
        "extension": extension,
        "file_format": fmt,
        "compressed": gz,
        "kind": kind,
        "processing_level": level,
        "data_type": dtype,
        "is_viewable": viewable,
        **full,
    }


def test_table_has_fifty_distinct_names() -> None:
    names = [row[0] for row in ROWS]
    assert len(set(names)) == len(names)
    assert len(names) >= 50


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_full_identity(row: tuple[Any, ...]) -> None:
    identity = classify(row[0])
    assert dataclasses.asdict(identity) == expected_identity(row)
    assert list(dataclasses.asdict(identity)) == FIELDS


def test_directories_are_ignored() -> None:
    bare = classify("jw02733001001_02101_00001_nrca1_cal.fits")
    for path in (
        "mast/jw02733-o001_t001_nircam_clear-f090w/jw02733001001_02101_00001_nrca1_cal.fits",
        "/data/JWST/jw02733001001_02101_00001_nrca1_cal.fits",
        r"C:\data\jw02733001001_02101_00001_nrca1_cal.fits",
    ):
        assert classify(path) == bare


# --- names that parsers commonly get wrong: _s2d, _cat, .fits.gz, non-JWST suffixes ---


def test_s2d_is_l2b_on_exposure_names_and_l3_on_stage3_names() -> None:
    exposure = classify("jw01345066001_03101_00001_nrs1_s2d.fits")
    stage3 = classify("jw01345-o066_t001_nirspec_f170lp-g235m_s2d.fits")
    assert (exposure.processing_level, stage3.processing_level) == (L2B, L3)
    assert exposure.data_type == stage3.data_type == SPECTRAL
    assert exposure.is_viewable and stage3.is_viewable
    for suffix in ("s3d", "x1d", "x1dints"):
        assert classify(f"jw01345066001_03101_00001_nrs1_{suffix}.fits").processing_level == L2B
        stage3 = classify(f"jw01345-o066_t001_nirspec_clear-prism_{suffix}.fits")
        assert stage3.processing_level == L3


def test_cat_is_l3_metadata_and_not_viewable() -> None:
    for name in ("jw02733-o001_t001_nircam_clear-f090w_cat.ecsv", "ngc3132_cat.ecsv",
                 "jw02733-o001_t001_nircam_clear-f090w_cat.fits"):
        identity = classify(name)
        assert (identity.processing_level, identity.data_type, identity.is_viewable) == (
            L3, META, False,
        )


def test_gz_is_ignored_for_classification() -> None:
    for name in ("jw02733001001_02101_00001_nrca1_uncal.fits",
                 "jw02733-o001_t001_nircam_clear-f090w_i2d.fits",
                 "jw02733-o001_t001_nircam_clear-f090w_cat.ecsv",
                 "ngc_calibration_i2d.fits"):
        plain, gz = classify(name), classify(name + ".gz")
        assert dataclasses.replace(gz, name=name, compressed=False) == plain
        assert gz.compressed and gz.name == name + ".gz"


def test_non_jwst_names_use_only_the_last_token() -> None:
    assert classify("ngc_calibration_i2d.fits").processing_level == L3
    assert classify("my_rate_limited_uncal.fits").processing_level == L1
    assert classify("uncal_rate_cal.fits").processing_level == L2B
    assert classify("calibration.fits").processing_level == UNK


def test_product_is_the_stem_without_suffix() -> None:
    assert classify("jw02733-o001_t001_nircam_clear-f090w_cat.ecsv").product == (
        "jw02733-o001_t001_nircam_clear-f090w"
    )
    assert classify("jw02733001001_02101_00001_nrca1_o001_crf.fits").product == (
        "jw02733001001_02101_00001_nrca1_o001"
    )
    assert classify("ngc_calibration_i2d.fits").product is None
    assert classify("jw02733-o001_20220707t165838_image3_001_asn.json").product is None


# --- group keys ---


@pytest.mark.parametrize(
    ("obs_id", "group"),
    [
        ("jw02733-o001_t001_nircam_clear-f090w", "jw02733-o001_t001_nircam"),
        ("JW02733-O001_T001_NIRCAM_CLEAR-F090W", "jw02733-o001_t001_nircam"),
        ("jw02733-o001_t001_nircam", "jw02733-o001_t001_nircam"),
        ("jw02727-c1001_t062_nircam_f090w", "jw02727-c1001_t062_nircam"),
        ("jw01386-a3001_t001_nircam_f444w-maskrnd", "jw01386-a3001_t001_nircam"),
        ("jw01234-o001_t001-epoch1_nircam_f200w", "jw01234-o001_t001_nircam"),
        ("jw01523-o003_t002_miri_ch1-short", "jw01523-o003_t002_miri"),
        ("jw01345-o066_s000000680_nirspec_f170lp-g235m", "jw01345-o066_nirspec"),
        ("jw02733001001_02101_00001_nrca1", "jw02733-o001_nircam"),
        ("jw01410001001_02101_00001_guider1", "jw01410-o001_fgs"),
        ("JW01410001001_0310F_00001_NRS1", "jw01410-o001_nirspec"),
        ("jw01366004001_04101_00001-seg001_nrs1", "jw01366-o004_nirspec"),
        ("jw02727001001_02101_00001_nrca1_c1027", "jw02727-c1027_nircam"),
        ("jw01410001001_gs-fg_2022301151223", "jw01410-o001_fgs"),
        ("jw01345-o066_b000000012_nirspec_f170lp-g235m", "jw01345-o066_nirspec"),
        ("jw01345-o066_t001-s000000680_nirspec_clear-prism", "jw01345-o066_t001_nirspec"),
        ("jw02733001001_02101_00001", None),
        ("jw02733001001_02101_00001_wfc3", None),
        ("jw02733-o001_nircam", None),
        ("hst_12345_01_wfc3", None),
        ("", None),
        (None, None),
    ],
)
def test_group_from_obs_id(obs_id: str | None, group: str | None) -> None:
    assert group_from_obs_id(obs_id) == group


@pytest.mark.parametrize(
    ("key", "group"),
    [
        ("mast/jw02733-o001_t001_nircam_clear-f090w/jw02733001001_02101_00001_nrca1_cal.fits",
         "jw02733-o001_t001_nircam"),
        ("team/mast/jw02727-c1001_t062_nircam_f090w/x.fits", "jw02727-c1001_t062_nircam"),
        ("mast/jw02733-o001_t001_nircam_clear-f090w/sub/x.fits", None),
        ("jw02733-o001_t001_nircam_clear-f090w", None),
        ("uploads/alice/x.fits", None),
        ("", None),
    ],
)
def test_group_from_key(key: str, group: str | None) -> None:
    assert group_from_key(key) == group


def test_product_group_and_parse_group_key() -> None:
    assert product_group("jw02733-o001_t001_nircam_clear-f090w") == (
        "jw02733-o001_t001_nircam", False,
    )
    assert product_group("jw01345-o066_s000000680_nirspec_f170lp-g235m") == (
        "jw01345-o066_nirspec", True,
    )
    assert product_group("jw02733001001_02101_00001_nrca1") == ("jw02733-o001_nircam", True)
    assert product_group("whatever") is None
    assert parse_group_key("jw02733-o001_t001_nircam") == GroupKey("02733", "o001", "t001",
                                                                   "nircam")
    assert parse_group_key("jw02733-o001_nircam") == GroupKey("02733", "o001", None, "nircam")
    assert parse_group_key("jw02733-o001_nircam").slot == ("02733", "o001", "nircam")
    assert parse_group_key("jw02727-c1001_t062_nircam").key() == "jw02727-c1001_t062_nircam"
    assert parse_group_key("jw02733-o001_t001_nircam_clear") is None
    assert parse_group_key(None) is None


@pytest.mark.parametrize(
    ("detector", "instrument"),
    [("nrca1", "nircam"), ("NRCBLONG", "nircam"), ("mirimage", "miri"), ("mirifulong", "miri"),
     ("nrs1", "nirspec"), ("nis", "niriss"), ("guider1", "fgs"), ("guider2", "fgs"),
     ("wfc3", None)],
)
def test_instrument_of_detector(detector: str, instrument: str | None) -> None:
    assert instrument_of_detector(detector) == instrument


# --- what kind of file is this ---


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("jw02733001001_02101_00001_nrca1_cal.fits", "fits"),
        ("mast/x/JW02733001001_02101_00001_NRCA1_CAL.FITS.GZ", "fits"),
        ("old/image.fit", "fits"), ("old/image.FTS", "fits"), ("old/image.fit.gz", "fits"),
        ("old/image.fts.gz", "fits"),
        ("jwst_nircam_distortion_0173.asdf", "asdf"), ("x/MODEL.ASDF", "asdf"),
        ("jw02733-o001_20220707t165838_image3_001_asn.json", "json"),
        ("cat.ecsv", "table"), ("pool.CSV", "table"),
        ("a.png", "picture"), ("a.jpg", "picture"), ("a.JPEG", "picture"),
        ("a.tif", "picture"), ("a.tiff", "picture"),
        ("jwst_1075.pmap", None), ("notes.txt", None), ("table.ecsv.gz", None),
        ("fits", None), ("archive.fits.zip", None), ("x.fits/readme", None), ("", None),
    ],
)
def test_file_type(name: str, kind: str | None) -> None:
    assert file_type(name) == kind
    assert name.lower().endswith(SCAN_EXTENSIONS) == (kind is not None)


@pytest.mark.parametrize(
    ("key", "wanted"),
    [
        ("mast/jw02733-o001_t001_nircam_clear-f090w/jw02733001001_02101_00001_nrca1_cal.fits",
         True),
        ("x.fits.gz", True), ("a/b/c.asdf", True), ("a\\b\\c.PNG", True),
        ("a/._jw02733001001_02101_00001_nrca1_cal.fits", False),  # a macOS resource fork
        (".jwstnb/thumbs/mast/x/a_cal.fits/0123abcd-256px-zscale-auto.png", False),
        ("team/.ipynb_checkpoints/cat-checkpoint.ecsv", False),
        ("a/notes.txt", False), ("a/", False), ("", False),
    ],
)
def test_is_scannable(key: str, wanted: bool) -> None:
    assert is_scannable(key) is wanted


def test_extension_lists_are_lower_case_and_make_up_the_scan_list() -> None:
    groups = (FITS_EXTENSIONS, ASDF_EXTENSIONS, JSON_EXTENSIONS, TABLE_EXTENSIONS,
              PICTURE_EXTENSIONS)
    assert tuple(e for g in groups for e in g) == SCAN_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in SCAN_EXTENSIONS)
    assert len(set(SCAN_EXTENSIONS)) == len(SCAN_EXTENSIONS)
    assert {".fits", ".fits.gz", ".fit", ".fts", ".fts.gz", ".asdf", ".json", ".ecsv", ".csv",
            ".png", ".jpg", ".jpeg", ".tif", ".tiff"} <= set(SCAN_EXTENSIONS)


@pytest.mark.parametrize(
    ("text", "program"),
    [
        ("jw02733001001_02101_00001_nrca1_cal.fits", "02733"),
        ("mast/jw02733-o001_t001_nircam_clear-f090w/jw02733-o001_t001_nircam_clear-f090w_i2d.fits",
         "02733"),
        ("jw01410001001_02101_00001_guider1", "01410"),
        ("jw02727-c1027_t062_nircam_clear-f090w", "02727"),
        ("jw01345-o066_s000000680_nirspec_f170lp-g235m", "01345"),
        ("jw02733-o001_20220707t165838_image3_00001_asn.json", "02733"),
        ("jw02733_20220707t165838_pool.csv", "02733"),
        ("jw01345066001_01_msa.fits", "01345"),
        ("JW01410001001_GS-FG_2022301151223_CAL.FITS", "01410"),
        ("jwst_nircam_flat_0001.fits", None),
        ("hst_12345_01_wfc3", None),
        ("", None),
        (None, None),
    ],
)
def test_program_of_names_and_obs_ids(text: str | None, program: str | None) -> None:
    assert program_of(text) == program


@pytest.mark.parametrize(
    ("context", "number"),
    [("jwst_1200.pmap", 1200), ("JWST_0987.PMAP", 987), ("jwst_1300", 1300), (" 1200 ", 1200),
     (1200, 1200), (0, 0)],
)
def test_context_number_reads_pipeline_contexts(context: str | int, number: int) -> None:
    assert context_number(context) == number


def test_contexts_compare_by_number_not_text() -> None:
    """``jwst_999`` is older than ``jwst_1000`` although it sorts after it as text."""
    names = ["jwst_1000.pmap", "jwst_999.pmap", "jwst_1203.pmap"]
    assert sorted(names, key=context_number) == ["jwst_999.pmap", "jwst_1000.pmap",
                                                 "jwst_1203.pmap"]


@pytest.mark.parametrize(
    "junk", ["", "latest", "jwst_nircam_0345.imap", "jwst_nircam_flat_0001.fits", "jwst_.pmap",
             "hst_1200.pmap", -3, True, 12.5, None],
)
def test_context_number_refuses_junk_naming_the_field(junk: object) -> None:
    with pytest.raises(ValidationError) as caught:
        context_number(junk, "made_before_context")  # type: ignore[arg-type]
    assert "made_before_context" in str(caught.value)
    assert isinstance(caught.value, ValueError)


# --- properties ---

_names = st.sampled_from([row[0] for row in ROWS])


@settings(max_examples=150, deadline=None)
@given(name=_names, folder=st.sampled_from(["", "a/", "mast/X/", "C:\\d\\"]), upper=st.booleans(),
       gz=st.booleans())
def test_case_folders_and_gz_never_change_the_identity(
    name: str, folder: str, upper: bool, gz: bool
) -> None:
    base = name[:-3] if name.lower().endswith(".gz") else name
    variant = (base.upper() if upper else base.lower()) + (".gz" if gz else "")
    got = classify(folder + variant)
    want = classify(base.lower())
    assert dataclasses.replace(got, name=want.name, compressed=want.compressed) == want
    assert got.name == variant and got.compressed == gz
