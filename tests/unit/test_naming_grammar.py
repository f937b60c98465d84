"""The pipeline's file-naming grammar, name by name: every FileIdentity field of 200+ names.

Names are written from the JWST pipeline's naming conventions for every instrument and mode
(imaging, WFSS, time series, coronagraphy, IFU, MOS and fixed slit, AMI, wavefront sensing,
guide stars), for candidate and other multi-observation associations, association files with
three-digit, lettered and five-digit sequences, pools, MSA metafiles, MAST previews and
thumbnails, and CRDS reference and context files. Each row writes the expected identity out;
the helpers below only spread a row's written ids over the FileIdentity fields.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from jwstnb.naming import FileIdentity, classify
from jwstnb.schema import DataType, ProcessingLevel
from tests.unit.test_naming import ROWS as EARLIER_ROWS

L1, L2A, L2B, L3, UNK = (
    ProcessingLevel.L1,
    ProcessingLevel.L2A,
    ProcessingLevel.L2B,
    ProcessingLevel.L3,
    ProcessingLevel.UNKNOWN,
)
RAW, SENSOR, IMAGE, SPECTRAL, META, CALIB = (
    DataType.RAW,
    DataType.SENSOR,
    DataType.IMAGE,
    DataType.SPECTRAL,
    DataType.METADATA,
    DataType.CALIBRATION,
)
FIELDS = [f.name for f in dataclasses.fields(FileIdentity)]
ID_FIELDS = FIELDS[FIELDS.index("program") :]
BOOL_FIELDS = ("provisional", "preview", "thumbnail")
# The format jwstnb records for each extension (the seed's fileFormat words).
FORMATS = {
    ".fits": "fits", ".asdf": "asdf", ".json": "json", ".csv": "csv", ".ecsv": "ecsv",
    ".jpg": "jpg", ".png": "png", ".tif": "tiff", ".pmap": "pmap", ".imap": "imap",
    ".rmap": "rmap",
}


def X(p: str, o: str, v: str, act: str, e: str, det: str, inst: str, group: str,
      **more: Any) -> dict[str, Any]:
    """Exposure ids: program, observation, visit, activity, exposure, detector, instrument,
    the provisional group; ``more`` adds segment, association_id, activity_id, preview..."""
    return {
        "program": p, "observation": o, "visit": v, "exposure_id": f"jw{p}{o}{v}_{act}_{e}",
        "exposure": e, "detector": det, "instrument": inst, "observation_base_id": group,
        "provisional": True, **more,
    }


def GS(p: str, o: str, v: str, exposure_id: str, mode: str, **more: Any) -> dict[str, Any]:
    """Guide-star ids."""
    return {
        "program": p, "observation": o, "visit": v, "exposure_id": exposure_id,
        "instrument": "fgs", "guide_mode": mode, "observation_base_id": f"jw{p}-o{o}_fgs",
        "provisional": True, **more,
    }


def S3(p: str, acid: str, inst: str, optics: str | None, group: str, provisional: bool,
       **more: Any) -> dict[str, Any]:
    """Stage-3 ids; ``more`` adds target, source_id, epoch, activity_id, preview..."""
    return {
        "program": p, "observation": acid[1:] if acid.startswith("o") else None,
        "instrument": inst, "optics": optics, "association_id": acid,
        "observation_base_id": group, "provisional": provisional, **more,
    }


def ASN(p: str, acid: str, asn_type: str, seq: str) -> dict[str, Any]:
    return {"program": p, "observation": acid[1:] if acid.startswith("o") else None,
            "association_id": acid, "asn_type": asn_type, "sequence": seq}


def MSA(p: str, o: str, v: str, seq: str) -> dict[str, Any]:
    return {"program": p, "observation": o, "visit": v, "instrument": "nirspec",
            "sequence": seq, "observation_base_id": f"jw{p}-o{o}_nirspec", "provisional": True}


def CRDS(inst: str | None, reftype: str | None, seq: str) -> dict[str, Any]:
    return {"instrument": inst, "reftype": reftype, "sequence": seq}


PV = {"preview": True}
TH = {"preview": True, "thumbnail": True}

# Groups used by many rows.
G2736, G2736F = "jw02736-o001_nircam", "jw02736-o001_t001_nircam"
G1410 = "jw01410-o001_nircam"
G1076, G1076F = "jw01076-o103_nircam", "jw01076-o103_t001_nircam"
G2079, G2079F = "jw02079-o004_niriss", "jw02079-o004_t001_niriss"
G2734, G2734F = "jw02734-o002_niriss", "jw02734-o002_t001_niriss"
G1366N, G1366S = "jw01366-o002_nircam", "jw01366-o004_nirspec"
G1040, G1040F = "jw01040-o001_miri", "jw01040-o001_t001_miri"
G1386M, G1386N = "jw01386-o007_miri", "jw01386-o001_nircam"
G1523, G1523F = "jw01523-o003_miri", "jw01523-o003_t002_miri"
G1792, G1792F = "jw01792-o001_nirspec", "jw01792-o001_t001_nirspec"
G1345 = "jw01345-o066_nirspec"
G2727C, G2727F = "jw02727-c1027_nircam", "jw02727-c1027_t062_nircam"

# (name, kind, level, data type, viewable, suffix, ids: every id field not given is None/False)
ROWS: list[tuple[str, str, ProcessingLevel, DataType, bool, str, dict[str, Any]]] = [
    # --- NIRCam imaging (exposures, stage 3, previews, associations, pool) ---
    ("jw02736001001_02101_00001_nrca1_uncal.fits", "exposure", L1, RAW, True, "uncal",
     X("02736", "001", "001", "02101", "00001", "nrca1", "nircam", G2736)),
    ("jw02736001001_02101_00001_nrca1_rate.fits", "exposure", L2A, SENSOR, True, "rate",
     X("02736", "001", "001", "02101", "00001", "nrca1", "nircam", G2736)),
    ("jw02736001001_02101_00001_nrca1_rateints.fits", "exposure", L2A, SENSOR, True,
     "rateints", X("02736", "001", "001", "02101", "00001", "nrca1", "nircam", G2736)),
    # The persistence step's trap state: MAST lists it with the exposure's L2a products.
    ("jw02736001001_02101_00001_nrca1_trapsfilled.fits", "exposure", L2A, SENSOR, True,
     "trapsfilled", X("02736", "001", "001", "02101", "00001", "nrca1", "nircam", G2736)),
    ("jw02736001001_02101_00001_nrca1_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("02736", "001", "001", "02101", "00001", "nrca1", "nircam", G2736)),
    ("jw02736001001_02101_00001_nrca1_o001_crf.fits", "exposure", L2B, IMAGE, True, "crf",
     X("02736", "001", "001", "02101", "00001", "nrca1", "nircam", G2736,
       association_id="o001")),
    ("jw02736001001_02101_00002_nrcb3_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("02736", "001", "001", "02101", "00002", "nrcb3", "nircam", G2736)),
    ("jw02736001001_02101_00003_nrcalong_rate.fits", "exposure", L2A, SENSOR, True, "rate",
     X("02736", "001", "001", "02101", "00003", "nrcalong", "nircam", G2736)),
    ("jw02736001001_02101_00003_nrcblong_i2d.fits", "exposure", L2B, IMAGE, True, "i2d",
     X("02736", "001", "001", "02101", "00003", "nrcblong", "nircam", G2736)),
    ("jw02736001001_02101_00004_nrcb1_cal.fits.gz", "exposure", L2B, IMAGE, True, "cal",
     X("02736", "001", "001", "02101", "00004", "nrcb1", "nircam", G2736)),
    ("jw02736001001_02101_00001_nrca1_cal.jpg", "exposure", L2B, IMAGE, True, "cal",
     X("02736", "001", "001", "02101", "00001", "nrca1", "nircam", G2736, **PV)),
    ("jw02736001001_02101_00001_nrca1_cal_thumb.jpg", "exposure", L2B, IMAGE, True, "cal",
     X("02736", "001", "001", "02101", "00001", "nrca1", "nircam", G2736, **TH)),
    ("jw02736001001_02101_00001_nrca1_uncal_thumb.png", "exposure", L1, IMAGE, True, "uncal",
     X("02736", "001", "001", "02101", "00001", "nrca1", "nircam", G2736, **TH)),
    ("jw02736001001_02101_00001_nrca1_rate.png", "exposure", L2A, IMAGE, True, "rate",
     X("02736", "001", "001", "02101", "00001", "nrca1", "nircam", G2736, **PV)),
    ("jw02736-o001_t001_nircam_clear-f090w_i2d.fits", "stage3", L3, IMAGE, True, "i2d",
     S3("02736", "o001", "nircam", "clear-f090w", G2736F, False, target="t001")),
    ("jw02736-o001_t001_nircam_clear-f090w_i2d.jpg", "stage3", L3, IMAGE, True, "i2d",
     S3("02736", "o001", "nircam", "clear-f090w", G2736F, False, target="t001", **PV)),
    ("jw02736-o001_t001_nircam_clear-f090w_i2d_thumb.jpg", "stage3", L3, IMAGE, True, "i2d",
     S3("02736", "o001", "nircam", "clear-f090w", G2736F, False, target="t001", **TH)),
    ("jw02736-o001_t001_nircam_clear-f090w_segm.fits", "stage3", L3, IMAGE, True, "segm",
     S3("02736", "o001", "nircam", "clear-f090w", G2736F, False, target="t001")),
    ("jw02736-o001_t001_nircam_clear-f090w_cat.ecsv", "stage3", L3, META, False, "cat",
     S3("02736", "o001", "nircam", "clear-f090w", G2736F, False, target="t001")),
    ("jw02736-o001_t001_nircam_f444w-f470n_i2d.fits", "stage3", L3, IMAGE, True, "i2d",
     S3("02736", "o001", "nircam", "f444w-f470n", G2736F, False, target="t001")),
    ("jw02736-o001_t001_nircam_clear-f200w_i2d.asdf", "stage3", L3, IMAGE, True, "i2d",
     S3("02736", "o001", "nircam", "clear-f200w", G2736F, False, target="t001")),
    ("JW02736-O001_T001_NIRCAM_CLEAR-F150W_I2D.FITS.GZ", "stage3", L3, IMAGE, True, "i2d",
     S3("02736", "o001", "nircam", "clear-f150w", G2736F, False, target="t001")),
    ("jw02736-o001_20220712t161010_image3_001_asn.json", "association", UNK, META, False,
     "asn", ASN("02736", "o001", "image3", "001")),
    ("jw02736-o001_20220712t161010_image2_00001_asn.json", "association", UNK, META, False,
     "asn", ASN("02736", "o001", "image2", "00001")),
    ("jw02736-o001_20220712t161010_image3_00012_asn.json", "association", UNK, META, False,
     "asn", ASN("02736", "o001", "image3", "00012")),
    ("jw02736_20220712t161010_pool.csv", "pool", UNK, META, False, "pool",
     {"program": "02736"}),
    # --- exposures with a base-36 activity ---
    ("jw01410001001_0310f_00001_nrcb4_uncal.fits", "exposure", L1, RAW, True, "uncal",
     X("01410", "001", "001", "0310f", "00001", "nrcb4", "nircam", G1410)),
    ("jw01410001001_0310f_00001_nrcb4_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("01410", "001", "001", "0310f", "00001", "nrcb4", "nircam", G1410)),
    ("jw01410001001_0310a_00002_nrca2_rate.fits", "exposure", L2A, SENSOR, True, "rate",
     X("01410", "001", "001", "0310a", "00002", "nrca2", "nircam", G1410)),
    ("JW01410001001_0311Z_00003_NRCA3_RATEINTS.FITS", "exposure", L2A, SENSOR, True,
     "rateints", X("01410", "001", "001", "0311z", "00003", "nrca3", "nircam", G1410)),
    ("jw01410001001_031zz_00001_nrcb1_o001_crf.fits", "exposure", L2B, IMAGE, True, "crf",
     X("01410", "001", "001", "031zz", "00001", "nrcb1", "nircam", G1410,
       association_id="o001")),
    ("jw01410002003_0410f_00005_mirimage_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("01410", "002", "003", "0410f", "00005", "mirimage", "miri", "jw01410-o002_miri")),
    ("jw01410001001_0310f_00001_nrcb4_cal_thumb.jpg", "exposure", L2B, IMAGE, True, "cal",
     X("01410", "001", "001", "0310f", "00001", "nrcb4", "nircam", G1410, **TH)),
    # --- FGS science exposures and products ---
    ("jw01410001001_02101_00001_guider1_uncal.fits", "exposure", L1, RAW, True, "uncal",
     X("01410", "001", "001", "02101", "00001", "guider1", "fgs", "jw01410-o001_fgs")),
    ("jw01410001001_02101_00001_guider1_rate.fits", "exposure", L2A, SENSOR, True, "rate",
     X("01410", "001", "001", "02101", "00001", "guider1", "fgs", "jw01410-o001_fgs")),
    ("jw01410001001_02101_00002_guider2_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("01410", "001", "001", "02101", "00002", "guider2", "fgs", "jw01410-o001_fgs")),
    ("jw01410-o001_t001_fgs_i2d.fits", "stage3", L3, IMAGE, True, "i2d",
     S3("01410", "o001", "fgs", None, "jw01410-o001_t001_fgs", False, target="t001")),
    # --- guide-star files ---
    ("jw01410001001_gs-fg_2022301151223_uncal.fits", "exposure", L1, RAW, True, "uncal",
     GS("01410", "001", "001", "jw01410001001_gs-fg_2022301151223", "fg")),
    ("jw01410001001_gs-fg_2022301151223_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     GS("01410", "001", "001", "jw01410001001_gs-fg_2022301151223", "fg")),
    ("jw01410001001_gs-acq1_2022301150915_uncal.fits", "exposure", L1, RAW, True, "uncal",
     GS("01410", "001", "001", "jw01410001001_gs-acq1_2022301150915", "acq1")),
    ("jw01410001001_gs-acq2_2022301150945_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     GS("01410", "001", "001", "jw01410001001_gs-acq2_2022301150945", "acq2")),
    ("jw01410001001_gs-track_2022301151008_uncal.fits", "exposure", L1, RAW, True, "uncal",
     GS("01410", "001", "001", "jw01410001001_gs-track_2022301151008", "track")),
    ("jw01410001001_gs-track_2022301151008_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     GS("01410", "001", "001", "jw01410001001_gs-track_2022301151008", "track")),
    ("jw01410001001_gs-id_1_image-uncal.fits", "exposure", L1, RAW, True, "uncal",
     GS("01410", "001", "001", "jw01410001001_gs-id_1_image", "id")),
    ("jw01410001001_gs-id_1_stacked_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     GS("01410", "001", "001", "jw01410001001_gs-id_1_stacked", "id")),
    ("jw01410001001_gs-id_2_image_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     GS("01410", "001", "001", "jw01410001001_gs-id_2_image", "id")),
    ("jw01410002001_gs-fg_2022301163000_cal_thumb.jpg", "exposure", L2B, IMAGE, True, "cal",
     GS("01410", "002", "001", "jw01410002001_gs-fg_2022301163000", "fg", **TH)),
    # --- NIRCam wide-field slitless spectroscopy ---
    ("jw01076103001_02102_00001_nrcalong_uncal.fits", "exposure", L1, RAW, True, "uncal",
     X("01076", "103", "001", "02102", "00001", "nrcalong", "nircam", G1076)),
    ("jw01076103001_02102_00001_nrcalong_rate.fits", "exposure", L2A, SENSOR, True, "rate",
     X("01076", "103", "001", "02102", "00001", "nrcalong", "nircam", G1076)),
    ("jw01076103001_02102_00001_nrcalong_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("01076", "103", "001", "02102", "00001", "nrcalong", "nircam", G1076)),
    ("jw01076103001_02102_00002_nrcblong_o103_crf.fits", "exposure", L2B, IMAGE, True, "crf",
     X("01076", "103", "001", "02102", "00002", "nrcblong", "nircam", G1076,
       association_id="o103")),
    ("jw01076-o103_t001_nircam_clear-f444w_i2d.fits", "stage3", L3, IMAGE, True, "i2d",
     S3("01076", "o103", "nircam", "clear-f444w", G1076F, False, target="t001")),
    ("jw01076-o103_t001_nircam_clear-f444w_cat.ecsv", "stage3", L3, META, False, "cat",
     S3("01076", "o103", "nircam", "clear-f444w", G1076F, False, target="t001")),
    ("jw01076-o103_s00001_nircam_f444w-grismr_x1d.fits", "stage3", L3, SPECTRAL, False, "x1d",
     S3("01076", "o103", "nircam", "f444w-grismr", G1076, True, source_id="s00001")),
    ("jw01076-o103_s00001_nircam_f444w-grismr_cal.fits", "stage3", L3, IMAGE, True, "cal",
     S3("01076", "o103", "nircam", "f444w-grismr", G1076, True, source_id="s00001")),
    ("jw01076-o103_s000000123_nircam_f444w-grismc_x1d.fits", "stage3", L3, SPECTRAL, False,
     "x1d", S3("01076", "o103", "nircam", "f444w-grismc", G1076, True,
               source_id="s000000123")),
    ("jw01076-o103_s000000123_nircam_f444w-grismc_x1d.png", "stage3", L3, IMAGE, True, "x1d",
     S3("01076", "o103", "nircam", "f444w-grismc", G1076, True, source_id="s000000123",
        **PV)),
    ("jw01076-o103_20221010t101010_spec3_001_asn.json", "association", UNK, META, False, "asn",
     ASN("01076", "o103", "spec3", "001")),
    # --- NIRISS wide-field slitless spectroscopy ---
    ("jw02079004001_03101_00001_nis_uncal.fits", "exposure", L1, RAW, True, "uncal",
     X("02079", "004", "001", "03101", "00001", "nis", "niriss", G2079)),
    ("jw02079004001_03101_00001_nis_rate.fits", "exposure", L2A, SENSOR, True, "rate",
     X("02079", "004", "001", "03101", "00001", "nis", "niriss", G2079)),
    ("jw02079004001_03101_00001_nis_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("02079", "004", "001", "03101", "00001", "nis", "niriss", G2079)),
    ("jw02079004001_03101_00001_nis_x1d.fits", "exposure", L2B, SPECTRAL, False, "x1d",
     X("02079", "004", "001", "03101", "00001", "nis", "niriss", G2079)),
    ("jw02079004001_03101_00002_nis_o004_crf.fits", "exposure", L2B, IMAGE, True, "crf",
     X("02079", "004", "001", "03101", "00002", "nis", "niriss", G2079,
       association_id="o004")),
    ("jw02079-o004_t001_niriss_clear-f115w_i2d.fits", "stage3", L3, IMAGE, True, "i2d",
     S3("02079", "o004", "niriss", "clear-f115w", G2079F, False, target="t001")),
    ("jw02079-o004_t001_niriss_clear-f115w_cat.ecsv", "stage3", L3, META, False, "cat",
     S3("02079", "o004", "niriss", "clear-f115w", G2079F, False, target="t001")),
    ("jw02079-o004_t001_niriss_clear-f115w_segm.fits", "stage3", L3, IMAGE, True, "segm",
     S3("02079", "o004", "niriss", "clear-f115w", G2079F, False, target="t001")),
    ("jw02079-o004_s00012_niriss_f115w-gr150r_x1d.fits", "stage3", L3, SPECTRAL, False, "x1d",
     S3("02079", "o004", "niriss", "f115w-gr150r", G2079, True, source_id="s00012")),
    ("jw02079-o004_s00012_niriss_f115w-gr150c_cal.fits", "stage3", L3, IMAGE, True, "cal",
     S3("02079", "o004", "niriss", "f115w-gr150c", G2079, True, source_id="s00012")),
    ("jw02079-o004_s000000012_niriss_f150w-gr150r_c1d.fits", "stage3", L3, SPECTRAL, False,
     "c1d", S3("02079", "o004", "niriss", "f150w-gr150r", G2079, True,
               source_id="s000000012")),
    ("jw02079-o004_20230101t000000_spec3_001_asn.json", "association", UNK, META, False, "asn",
     ASN("02079", "o004", "spec3", "001")),
    ("jw02079-o004_20230101t000000_spec2_00003_asn.json", "association", UNK, META, False,
     "asn", ASN("02079", "o004", "spec2", "00003")),
    # --- NIRISS aperture masking interferometry ---
    ("jw01093012001_03102_00001_nis_calints.fits", "exposure", L2B, IMAGE, True, "calints",
     X("01093", "012", "001", "03102", "00001", "nis", "niriss", "jw01093-o012_niriss")),
    ("jw01093012001_03102_00001_nis_ami-oi.fits", "exposure", L2B, IMAGE, True, "ami-oi",
     X("01093", "012", "001", "03102", "00001", "nis", "niriss", "jw01093-o012_niriss")),
    ("jw01093-o012_t005_niriss_f480m-nrm_amimulti-oi.fits", "stage3", L3, IMAGE, True,
     "amimulti-oi", S3("01093", "o012", "niriss", "f480m-nrm", "jw01093-o012_t005_niriss",
                       False, target="t005")),
    ("jw01093-o012_t005_niriss_f480m-nrm_aminorm-oi.fits", "stage3", L3, IMAGE, True,
     "aminorm-oi", S3("01093", "o012", "niriss", "f480m-nrm", "jw01093-o012_t005_niriss",
                      False, target="t005")),
    ("jw01093-o012_20220701t000000_ami3_001_asn.json", "association", UNK, META, False, "asn",
     ASN("01093", "o012", "ami3", "001")),
    # --- NIRISS SOSS time series (segments) ---
    ("jw02734002001_04101_00001-seg001_nis_uncal.fits", "exposure", L1, RAW, True, "uncal",
     X("02734", "002", "001", "04101", "00001", "nis", "niriss", G2734, segment="001")),
    ("jw02734002001_04101_00001-seg002_nis_rateints.fits", "exposure", L2A, SENSOR, True,
     "rateints", X("02734", "002", "001", "04101", "00001", "nis", "niriss", G2734,
                   segment="002")),
    ("jw02734002001_04101_00001-seg003_nis_calints.fits", "exposure", L2B, IMAGE, True,
     "calints", X("02734", "002", "001", "04101", "00001", "nis", "niriss", G2734,
                  segment="003")),
    ("jw02734002001_04101_00001-seg001_nis_x1dints.fits", "exposure", L2B, SPECTRAL, False,
     "x1dints", X("02734", "002", "001", "04101", "00001", "nis", "niriss", G2734,
                  segment="001")),
    ("jw02734002001_04101_00001-seg001_nis_calints_thumb.jpg", "exposure", L2B, IMAGE, True,
     "calints", X("02734", "002", "001", "04101", "00001", "nis", "niriss", G2734,
                  segment="001", **TH)),
    ("jw02734-o002_t001_niriss_clear-gr700xd-substrip256_x1dints.fits", "stage3", L3, SPECTRAL,
     False, "x1dints", S3("02734", "o002", "niriss", "clear-gr700xd-substrip256", G2734F,
                          False, target="t001")),
    ("jw02734-o002_t001_niriss_clear-gr700xd-substrip256_whtlt.ecsv", "stage3", L3, META,
     False, "whtlt", S3("02734", "o002", "niriss", "clear-gr700xd-substrip256", G2734F,
                        False, target="t001")),
    ("jw02734-o002_20220705t000000_tso3_001_asn.json", "association", UNK, META, False, "asn",
     ASN("02734", "o002", "tso3", "001")),
    # --- NIRCam grism and photometric time series ---
    ("jw01366002001_04103_00001-seg001_nrcalong_rateints.fits", "exposure", L2A, SENSOR, True,
     "rateints", X("01366", "002", "001", "04103", "00001", "nrcalong", "nircam", G1366N,
                   segment="001")),
    ("jw01366002001_04103_00001-seg002_nrcalong_calints.fits", "exposure", L2B, IMAGE, True,
     "calints", X("01366", "002", "001", "04103", "00001", "nrcalong", "nircam", G1366N,
                  segment="002")),
    ("jw01366002001_04103_00001-seg001_nrca3_calints.fits", "exposure", L2B, IMAGE, True,
     "calints", X("01366", "002", "001", "04103", "00001", "nrca3", "nircam", G1366N,
                  segment="001")),
    ("jw01366002001_04103_00001-seg002_nrcalong_x1dints.fits", "exposure", L2B, SPECTRAL,
     False, "x1dints", X("01366", "002", "001", "04103", "00001", "nrcalong", "nircam",
                         G1366N, segment="002")),
    ("jw01366-o002_t001_nircam_f322w2-grismr-subgrism256_x1dints.fits", "stage3", L3,
     SPECTRAL, False, "x1dints", S3("01366", "o002", "nircam", "f322w2-grismr-subgrism256",
                                    "jw01366-o002_t001_nircam", False, target="t001")),
    ("jw01366-o002_t001_nircam_f210m-wlp8-sub64p_phot.ecsv", "stage3", L3, META, False,
     "phot", S3("01366", "o002", "nircam", "f210m-wlp8-sub64p", "jw01366-o002_t001_nircam",
                False, target="t001")),
    # --- NIRSpec bright object time series ---
    ("jw01366004001_04101_00001-seg001_nrs1_uncal.fits", "exposure", L1, RAW, True, "uncal",
     X("01366", "004", "001", "04101", "00001", "nrs1", "nirspec", G1366S, segment="001")),
    ("jw01366004001_04101_00001-seg004_nrs2_rateints.fits", "exposure", L2A, SENSOR, True,
     "rateints", X("01366", "004", "001", "04101", "00001", "nrs2", "nirspec", G1366S,
                   segment="004")),
    ("jw01366004001_04101_00001-seg002_nrs1_calints.fits", "exposure", L2B, IMAGE, True,
     "calints", X("01366", "004", "001", "04101", "00001", "nrs1", "nirspec", G1366S,
                  segment="002")),
    ("jw01366004001_04101_00001-seg002_nrs1_x1dints.fits", "exposure", L2B, SPECTRAL, False,
     "x1dints", X("01366", "004", "001", "04101", "00001", "nrs1", "nirspec", G1366S,
                  segment="002")),
    ("jw01366-o004_t001_nirspec_clear-prism-s1600a1-sub512_x1dints.fits", "stage3", L3,
     SPECTRAL, False, "x1dints", S3("01366", "o004", "nirspec", "clear-prism-s1600a1-sub512",
                                    "jw01366-o004_t001_nirspec", False, target="t001")),
    ("jw01366-o004_t001_nirspec_clear-prism-s1600a1-sub512_whtlt.ecsv", "stage3", L3, META,
     False, "whtlt", S3("01366", "o004", "nirspec", "clear-prism-s1600a1-sub512",
                        "jw01366-o004_t001_nirspec", False, target="t001")),
    ("jw01366-o004_20220707t165838_tso-spec2_00001_asn.json", "association", UNK, META, False,
     "asn", ASN("01366", "o004", "tso-spec2", "00001")),
    # --- MIRI time series ---
    ("jw01366005001_04103_00001-seg001_mirimage_rateints.fits", "exposure", L2A, SENSOR, True,
     "rateints", X("01366", "005", "001", "04103", "00001", "mirimage", "miri",
                   "jw01366-o005_miri", segment="001")),
    ("jw01366005001_04103_00001-seg003_mirimage_calints.fits", "exposure", L2B, IMAGE, True,
     "calints", X("01366", "005", "001", "04103", "00001", "mirimage", "miri",
                  "jw01366-o005_miri", segment="003")),
    ("jw01366-o005_t001_miri_p750l-slitlessprism_x1dints.fits", "stage3", L3, SPECTRAL, False,
     "x1dints", S3("01366", "o005", "miri", "p750l-slitlessprism", "jw01366-o005_t001_miri",
                   False, target="t001")),
    # --- MIRI imaging ---
    ("jw01040001001_03101_00001_mirimage_uncal.fits", "exposure", L1, RAW, True, "uncal",
     X("01040", "001", "001", "03101", "00001", "mirimage", "miri", G1040)),
    ("jw01040001001_03101_00001_mirimage_rate.fits", "exposure", L2A, SENSOR, True, "rate",
     X("01040", "001", "001", "03101", "00001", "mirimage", "miri", G1040)),
    ("jw01040001001_03101_00001_mirimage_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("01040", "001", "001", "03101", "00001", "mirimage", "miri", G1040)),
    ("jw01040001001_03101_00001_mirimage_o001_crf.fits", "exposure", L2B, IMAGE, True, "crf",
     X("01040", "001", "001", "03101", "00001", "mirimage", "miri", G1040,
       association_id="o001")),
    ("jw01040001001_03101_00002_mirimage_bsub.fits", "exposure", L2B, IMAGE, True, "bsub",
     X("01040", "001", "001", "03101", "00002", "mirimage", "miri", G1040)),
    ("jw01040-o001_t001_miri_f770w_i2d.fits", "stage3", L3, IMAGE, True, "i2d",
     S3("01040", "o001", "miri", "f770w", G1040F, False, target="t001")),
    ("jw01040-o001_t001_miri_f770w_cat.ecsv", "stage3", L3, META, False, "cat",
     S3("01040", "o001", "miri", "f770w", G1040F, False, target="t001")),
    ("jw01040-o001_t001_miri_f770w_segm.fits", "stage3", L3, IMAGE, True, "segm",
     S3("01040", "o001", "miri", "f770w", G1040F, False, target="t001")),
    ("jw01040-o001_t001_miri_f770w_i2d_thumb.png", "stage3", L3, IMAGE, True, "i2d",
     S3("01040", "o001", "miri", "f770w", G1040F, False, target="t001", **TH)),
    ("jw01040-o001_t001_miri_f770w_i2d.tif", "stage3", L3, IMAGE, True, "i2d",
     S3("01040", "o001", "miri", "f770w", G1040F, False, target="t001", **PV)),
    ("jw01040-o001_20220702t001122_image3_002a_asn.json", "association", UNK, META, False,
     "asn", ASN("01040", "o001", "image3", "002a")),
    ("jw01040-o001_20220702t001122_image2_001b_asn.json", "association", UNK, META, False,
     "asn", ASN("01040", "o001", "image2", "001b")),
    # --- MIRI coronagraphy ---
    ("jw01386007001_04101_00001_mirimage_calints.fits", "exposure", L2B, IMAGE, True,
     "calints", X("01386", "007", "001", "04101", "00001", "mirimage", "miri", G1386M)),
    ("jw01386007001_04101_00001_mirimage_a3007_crfints.fits", "exposure", L2B, IMAGE, True,
     "crfints", X("01386", "007", "001", "04101", "00001", "mirimage", "miri",
                  "jw01386-a3007_miri", association_id="a3007")),
    ("jw01386007001_04101_00001_mirimage_a3007_psfalign.fits", "exposure", L2B, IMAGE, True,
     "psfalign", X("01386", "007", "001", "04101", "00001", "mirimage", "miri",
                   "jw01386-a3007_miri", association_id="a3007")),
    ("jw01386007001_04101_00001_mirimage_a3007_psfsub.fits", "exposure", L2B, IMAGE, True,
     "psfsub", X("01386", "007", "001", "04101", "00001", "mirimage", "miri",
                 "jw01386-a3007_miri", association_id="a3007")),
    ("jw01386-a3007_t001_miri_f1140c-mask1140_psfstack.fits", "stage3", L3, IMAGE, True,
     "psfstack", S3("01386", "a3007", "miri", "f1140c-mask1140", "jw01386-a3007_t001_miri",
                    False, target="t001")),
    ("jw01386-a3007_t001_miri_f1140c-mask1140_i2d.fits", "stage3", L3, IMAGE, True, "i2d",
     S3("01386", "a3007", "miri", "f1140c-mask1140", "jw01386-a3007_t001_miri", False,
        target="t001")),
    ("jw01386-a3007_20221002t120000_coron3_002a_asn.json", "association", UNK, META, False,
     "asn", ASN("01386", "a3007", "coron3", "002a")),
    # --- NIRCam coronagraphy ---
    ("jw01386001001_03106_00001_nrcalong_calints.fits", "exposure", L2B, IMAGE, True,
     "calints", X("01386", "001", "001", "03106", "00001", "nrcalong", "nircam", G1386N)),
    ("jw01386001001_03106_00001_nrcalong_a3001_crfints.fits", "exposure", L2B, IMAGE, True,
     "crfints", X("01386", "001", "001", "03106", "00001", "nrcalong", "nircam",
                  "jw01386-a3001_nircam", association_id="a3001")),
    ("jw01386001001_03106_00001_nrcalong_a3001_psfalign.fits", "exposure", L2B, IMAGE, True,
     "psfalign", X("01386", "001", "001", "03106", "00001", "nrcalong", "nircam",
                   "jw01386-a3001_nircam", association_id="a3001")),
    ("jw01386001001_03106_00001_nrcalong_a3001_psfsub.fits", "exposure", L2B, IMAGE, True,
     "psfsub", X("01386", "001", "001", "03106", "00001", "nrcalong", "nircam",
                 "jw01386-a3001_nircam", association_id="a3001")),
    ("jw01386001001_03106_00001_nrcalong_a3001_psfsub.jpg", "exposure", L2B, IMAGE, True,
     "psfsub", X("01386", "001", "001", "03106", "00001", "nrcalong", "nircam",
                 "jw01386-a3001_nircam", association_id="a3001", **PV)),
    ("jw01386-a3001_t001_nircam_f444w-maskrnd-sub320a335r_psfstack.fits", "stage3", L3, IMAGE,
     True, "psfstack", S3("01386", "a3001", "nircam", "f444w-maskrnd-sub320a335r",
                          "jw01386-a3001_t001_nircam", False, target="t001")),
    ("jw01386-a3001_t001_nircam_f444w-maskrnd-sub320a335r_i2d.fits", "stage3", L3, IMAGE,
     True, "i2d", S3("01386", "a3001", "nircam", "f444w-maskrnd-sub320a335r",
                     "jw01386-a3001_t001_nircam", False, target="t001")),
    ("jw01386-a3001_t001_nircam_f444w-maskrnd-sub320a335r_i2d.jpg", "stage3", L3, IMAGE,
     True, "i2d", S3("01386", "a3001", "nircam", "f444w-maskrnd-sub320a335r",
                     "jw01386-a3001_t001_nircam", False, target="t001", **PV)),
    ("jw01386-a3001_20221001t000000_coron3_001_asn.json", "association", UNK, META, False,
     "asn", ASN("01386", "a3001", "coron3", "001")),
    ("jw01386-a3001_20221001t000000_coron3_00002_asn.json", "association", UNK, META, False,
     "asn", ASN("01386", "a3001", "coron3", "00002")),
    # --- MIRI MRS (IFU) ---
    ("jw01523003001_03102_00001_mirifushort_uncal.fits", "exposure", L1, RAW, True, "uncal",
     X("01523", "003", "001", "03102", "00001", "mirifushort", "miri", G1523)),
    ("jw01523003001_03102_00001_mirifulong_rate.fits", "exposure", L2A, SENSOR, True, "rate",
     X("01523", "003", "001", "03102", "00001", "mirifulong", "miri", G1523)),
    ("jw01523003001_03102_00001_mirifushort_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("01523", "003", "001", "03102", "00001", "mirifushort", "miri", G1523)),
    ("jw01523003001_03102_00002_mirifushort_s3d.fits", "exposure", L2B, SPECTRAL, True, "s3d",
     X("01523", "003", "001", "03102", "00002", "mirifushort", "miri", G1523)),
    ("jw01523003001_03102_00001_mirifulong_x1d.fits", "exposure", L2B, SPECTRAL, False, "x1d",
     X("01523", "003", "001", "03102", "00001", "mirifulong", "miri", G1523)),
    ("jw01523003001_03102_00001_mirifushort_x1d.png", "exposure", L2B, IMAGE, True, "x1d",
     X("01523", "003", "001", "03102", "00001", "mirifushort", "miri", G1523, **PV)),
    ("jw01523-o003_t002_miri_ch2-short_s3d.fits", "stage3", L3, SPECTRAL, True, "s3d",
     S3("01523", "o003", "miri", "ch2-short", G1523F, False, target="t002")),
    ("jw01523-o003_t002_miri_ch2-short_x1d.fits", "stage3", L3, SPECTRAL, False, "x1d",
     S3("01523", "o003", "miri", "ch2-short", G1523F, False, target="t002")),
    ("jw01523-o003_t002_miri_ch3-long_s3d.fits", "stage3", L3, SPECTRAL, True, "s3d",
     S3("01523", "o003", "miri", "ch3-long", G1523F, False, target="t002")),
    ("jw01523-o003_t002_miri_ch1-shortmediumlong_s3d.fits", "stage3", L3, SPECTRAL, True,
     "s3d", S3("01523", "o003", "miri", "ch1-shortmediumlong", G1523F, False, target="t002")),
    ("jw01523-o003_t002_miri_ch3-long_s3d_thumb.png", "stage3", L3, IMAGE, True, "s3d",
     S3("01523", "o003", "miri", "ch3-long", G1523F, False, target="t002", **TH)),
    ("jw01523-o003_20221101t101010_spec3_00002_asn.json", "association", UNK, META, False,
     "asn", ASN("01523", "o003", "spec3", "00002")),
    # --- NIRSpec IFU ---
    ("jw01792001001_03101_00001_nrs1_rate.fits", "exposure", L2A, SENSOR, True, "rate",
     X("01792", "001", "001", "03101", "00001", "nrs1", "nirspec", G1792)),
    ("jw01792001001_03101_00001_nrs2_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("01792", "001", "001", "03101", "00001", "nrs2", "nirspec", G1792)),
    ("jw01792001001_03101_00001_nrs1_s3d.fits", "exposure", L2B, SPECTRAL, True, "s3d",
     X("01792", "001", "001", "03101", "00001", "nrs1", "nirspec", G1792)),
    ("jw01792-o001_t001_nirspec_g395h-f290lp_s3d.fits", "stage3", L3, SPECTRAL, True, "s3d",
     S3("01792", "o001", "nirspec", "g395h-f290lp", G1792F, False, target="t001")),
    ("jw01792-o001_t001_nirspec_g395h-f290lp_x1d.fits", "stage3", L3, SPECTRAL, False, "x1d",
     S3("01792", "o001", "nirspec", "g395h-f290lp", G1792F, False, target="t001")),
    ("jw01792-o001_t001_nirspec_prism-clear_s3d.fits", "stage3", L3, SPECTRAL, True, "s3d",
     S3("01792", "o001", "nirspec", "prism-clear", G1792F, False, target="t001")),
    ("jw01792-o001_t001_nirspec_prism-clear_x1d.fits.gz", "stage3", L3, SPECTRAL, False,
     "x1d", S3("01792", "o001", "nirspec", "prism-clear", G1792F, False, target="t001")),
    # --- NIRSpec MOS: MSA metafiles, exposures, source products ---
    ("jw01345066001_01_msa.fits", "msa", UNK, META, False, "msa",
     MSA("01345", "066", "001", "01")),
    ("jw01345067001_02_msa.fits", "msa", UNK, META, False, "msa",
     MSA("01345", "067", "001", "02")),
    ("JW02736007001_01_MSA.FITS", "msa", UNK, META, False, "msa",
     MSA("02736", "007", "001", "01")),
    ("jw01345066001_03101_00001_nrs1_uncal.fits", "exposure", L1, RAW, True, "uncal",
     X("01345", "066", "001", "03101", "00001", "nrs1", "nirspec", G1345)),
    ("jw01345066001_03101_00001_nrs2_rate.fits", "exposure", L2A, SENSOR, True, "rate",
     X("01345", "066", "001", "03101", "00001", "nrs2", "nirspec", G1345)),
    ("jw01345066001_03101_00002_nrs1_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("01345", "066", "001", "03101", "00002", "nrs1", "nirspec", G1345)),
    ("jw01345066001_03101_00002_nrs1_s2d.fits", "exposure", L2B, SPECTRAL, True, "s2d",
     X("01345", "066", "001", "03101", "00002", "nrs1", "nirspec", G1345)),
    ("jw01345-o066_s000000681_nirspec_f170lp-g235m_s2d.fits", "stage3", L3, SPECTRAL, True,
     "s2d", S3("01345", "o066", "nirspec", "f170lp-g235m", G1345, True,
               source_id="s000000681")),
    ("jw01345-o066_s000000681_nirspec_f170lp-g235m_x1d.fits", "stage3", L3, SPECTRAL, False,
     "x1d", S3("01345", "o066", "nirspec", "f170lp-g235m", G1345, True,
               source_id="s000000681")),
    ("jw01345-o066_b000000031_nirspec_f170lp-g235m_s2d.fits", "stage3", L3, SPECTRAL, True,
     "s2d", S3("01345", "o066", "nirspec", "f170lp-g235m", G1345, True,
               source_id="b000000031")),
    ("jw01345-o066_b000000031_nirspec_f170lp-g235m_x1d.fits", "stage3", L3, SPECTRAL, False,
     "x1d", S3("01345", "o066", "nirspec", "f170lp-g235m", G1345, True,
               source_id="b000000031")),
    ("jw01345-o066_v000000002_nirspec_clear-prism_s2d.fits", "stage3", L3, SPECTRAL, True,
     "s2d", S3("01345", "o066", "nirspec", "clear-prism", G1345, True,
               source_id="v000000002")),
    ("jw01345-o066_v000000002_nirspec_clear-prism_x1d.fits", "stage3", L3, SPECTRAL, False,
     "x1d", S3("01345", "o066", "nirspec", "clear-prism", G1345, True,
               source_id="v000000002")),
    # A source in a target's group: the name carries the full key.
    ("jw01345-o066_t001-s000000680_nirspec_f170lp-g235m_s2d.fits", "stage3", L3, SPECTRAL,
     True, "s2d", S3("01345", "o066", "nirspec", "f170lp-g235m", "jw01345-o066_t001_nirspec",
                     False, target="t001", source_id="s000000680")),
    ("jw01345-o066_t001-s000000680_nirspec_f170lp-g235m_x1d.fits", "stage3", L3, SPECTRAL,
     False, "x1d", S3("01345", "o066", "nirspec", "f170lp-g235m", "jw01345-o066_t001_nirspec",
                      False, target="t001", source_id="s000000680")),
    ("jw01345-o066_s000000681_nirspec_f170lp-g235m_s2d.jpg", "stage3", L3, IMAGE, True, "s2d",
     S3("01345", "o066", "nirspec", "f170lp-g235m", G1345, True, source_id="s000000681",
        **PV)),
    ("jw01345-o066_b000000031_nirspec_f170lp-g235m_x1d_thumb.png", "stage3", L3, IMAGE, True,
     "x1d", S3("01345", "o066", "nirspec", "f170lp-g235m", G1345, True,
               source_id="b000000031", **TH)),
    ("jw01345-o066_s000000681_nirspec_clear-prism_c1d.fits", "stage3", L3, SPECTRAL, False,
     "c1d", S3("01345", "o066", "nirspec", "clear-prism", G1345, True,
               source_id="s000000681")),
    ("jw01345-o066_20230102t030405_spec3_00001_asn.json", "association", UNK, META, False,
     "asn", ASN("01345", "o066", "spec3", "00001")),
    ("jw01345-o066_20230102t030405_spec2_012_asn.json", "association", UNK, META, False,
     "asn", ASN("01345", "o066", "spec2", "012")),
    ("jw01345_20230102t030405_pool.csv", "pool", UNK, META, False, "pool",
     {"program": "01345"}),
    # --- NIRSpec fixed slit ---
    ("jw01128001001_04102_00001_nrs1_cal.fits", "exposure", L2B, IMAGE, True, "cal",
     X("01128", "001", "001", "04102", "00001", "nrs1", "nirspec", "jw01128-o001_nirspec")),
    ("jw01128-o001_t001_nirspec_f100lp-g140h-s200a1-subs200a1_s2d.fits", "stage3", L3,
     SPECTRAL, True, "s2d", S3("01128", "o001", "nirspec", "f100lp-g140h-s200a1-subs200a1",
                               "jw01128-o001_t001_nirspec", False, target="t001")),
    ("jw01128-o001_t001_nirspec_f100lp-g140h-s200a1-subs200a1_x1d.fits", "stage3", L3,
     SPECTRAL, False, "x1d", S3("01128", "o001", "nirspec", "f100lp-g140h-s200a1-subs200a1",
                                "jw01128-o001_t001_nirspec", False, target="t001")),
    # --- candidate associations (c####) ---
    ("jw02727001001_02101_00001_nrca1_c1027_crf.fits", "exposure", L2B, IMAGE, True, "crf",
     X("02727", "001", "001", "02101", "00001", "nrca1", "nircam", G2727C,
       association_id="c1027")),
    ("jw02727001001_02101_00001_nrca1_c1027_crfints.fits", "exposure", L2B, IMAGE, True,
     "crfints", X("02727", "001", "001", "02101", "00001", "nrca1", "nircam", G2727C,
                  association_id="c1027")),
    ("jw02727002001_02101_00003_nrcb4_c1027_crf.fits", "exposure", L2B, IMAGE, True, "crf",
     X("02727", "002", "001", "02101", "00003", "nrcb4", "nircam", G2727C,
       association_id="c1027")),
    ("jw02727002001_02101_00003_nrcb4_c1027_crf_thumb.jpg", "exposure", L2B, IMAGE, True,
     "crf", X("02727", "002", "001", "02101", "00003", "nrcb4", "nircam", G2727C,
              association_id="c1027", **TH)),
    ("jw02727002001_02101_00003_mirimage_c1028_crf.fits", "exposure", L2B, IMAGE, True, "crf",
     X("02727", "002", "001", "02101", "00003", "mirimage", "miri", "jw02727-c1028_miri",
       association_id="c1028")),
    ("jw02727-c1027_t062_nircam_clear-f090w_i2d.fits", "stage3", L3, IMAGE, True, "i2d",
     S3("02727", "c1027", "nircam", "clear-f090w", G2727F, False, target="t062")),
    ("jw02727-c1027_t062_nircam_clear-f090w_cat.ecsv", "stage3", L3, META, False, "cat",
     S3("02727", "c1027", "nircam", "clear-f090w", G2727F, False, target="t062")),
    ("jw02727-c1027_t062_nircam_clear-f090w_segm.fits", "stage3", L3, IMAGE, True, "segm",
     S3("02727", "c1027", "nircam", "clear-f090w", G2727F, False, target="t062")),
    ("jw02727-c1027_t062_nircam_clear-f090w_i2d_thumb.jpg", "stage3", L3, IMAGE, True, "i2d",
     S3("02727", "c1027", "nircam", "clear-f090w", G2727F, False, target="t062", **TH)),
    ("jw02727-c1027_t062-epoch2_nircam_clear-f090w_i2d.fits", "stage3", L3, IMAGE, True,
     "i2d", S3("02727", "c1027", "nircam", "clear-f090w", G2727F, False, target="t062",
               epoch="epoch2")),
    ("jw02727-c1001_s000001234_nircam_f444w-grismr_x1d.fits", "stage3", L3, SPECTRAL, False,
     "x1d", S3("02727", "c1001", "nircam", "f444w-grismr", "jw02727-c1001_nircam", True,
               source_id="s000001234")),
    ("jw02727-c1027_20230105t121314_image3_00003_asn.json", "association", UNK, META, False,
     "asn", ASN("02727", "c1027", "image3", "00003")),
    ("jw02727-c1027_20230105t121314_image3_003c_asn.json", "association", UNK, META, False,
     "asn", ASN("02727", "c1027", "image3", "003c")),
    ("jw02727_20230105t121314_pool.csv", "pool", UNK, META, False, "pool",
     {"program": "02727"}),
    # --- other multi-observation associations (a####, r####) ---
    ("jw01234-r0001_t001_miri_f770w_cat.ecsv", "stage3", L3, META, False, "cat",
     S3("01234", "r0001", "miri", "f770w", "jw01234-r0001_t001_miri", False, target="t001")),
    ("jw01234-r0001_t001_miri_f770w_segm.fits", "stage3", L3, IMAGE, True, "segm",
     S3("01234", "r0001", "miri", "f770w", "jw01234-r0001_t001_miri", False, target="t001")),
    ("jw01234001001_02101_00001_mirimage_r0001_crf.fits", "exposure", L2B, IMAGE, True, "crf",
     X("01234", "001", "001", "02101", "00001", "mirimage", "miri", "jw01234-r0001_miri",
       association_id="r0001")),
    ("jw01234-a3001_t001_nircam_f200w_i2d.fits", "stage3", L3, IMAGE, True, "i2d",
     S3("01234", "a3001", "nircam", "f200w", "jw01234-a3001_t001_nircam", False,
        target="t001")),
    ("jw01234-r0001_20230101t000000_image3_001_asn.json", "association", UNK, META, False,
     "asn", ASN("01234", "r0001", "image3", "001")),
    # --- wavefront sensing: an activity id after the product type ---
    ("jw01163-o001_t001_nircam_f212n-wlp8-nrca3_wfscmb-04.fits", "stage3", L3, IMAGE, True,
     "wfscmb", S3("01163", "o001", "nircam", "f212n-wlp8-nrca3", "jw01163-o001_t001_nircam",
                  False, target="t001", activity_id="04")),
    ("jw01163-o001_t001_nircam_f212n-wlp8-nrca3_wfscmb-05.fits", "stage3", L3, IMAGE, True,
     "wfscmb", S3("01163", "o001", "nircam", "f212n-wlp8-nrca3", "jw01163-o001_t001_nircam",
                  False, target="t001", activity_id="05")),
    ("jw01163-o001_t001_nircam_f212n-wlp8-nrca3_wfscmb-04.jpg", "stage3", L3, IMAGE, True,
     "wfscmb", S3("01163", "o001", "nircam", "f212n-wlp8-nrca3", "jw01163-o001_t001_nircam",
                  False, target="t001", activity_id="04", **PV)),
    ("jw01163-o001_t001_nircam_f212n-wlp8-nrca3_wfscmb-04_thumb.jpg", "stage3", L3, IMAGE,
     True, "wfscmb", S3("01163", "o001", "nircam", "f212n-wlp8-nrca3",
                        "jw01163-o001_t001_nircam", False, target="t001", activity_id="04",
                        **TH)),
    ("jw01163001001_02101_00001_nrca3_wfscmb-04.fits", "exposure", L2B, IMAGE, True, "wfscmb",
     X("01163", "001", "001", "02101", "00001", "nrca3", "nircam", "jw01163-o001_nircam",
       activity_id="04")),
    ("jw01163001001_02101_00001_nrca3_cal-02.fits", "exposure", L2B, IMAGE, True, "cal",
     X("01163", "001", "001", "02101", "00001", "nrca3", "nircam", "jw01163-o001_nircam",
       activity_id="02")),
    ("jw01163-o001_20220401t000000_wfs-image3_001_asn.json", "association", UNK, META, False,
     "asn", ASN("01163", "o001", "wfs-image3", "001")),
    ("jw01163-o001_20220401t000000_wfs-image2_00004_asn.json", "association", UNK, META,
     False, "asn", ASN("01163", "o001", "wfs-image2", "00004")),
    # --- CRDS reference and context files ---
    ("jwst_nircam_flat_0001.fits", "reference", UNK, CALIB, True, "flat",
     CRDS("nircam", "flat", "0001")),
    ("jwst_miri_photom_0201.fits", "reference", UNK, CALIB, True, "photom",
     CRDS("miri", "photom", "0201")),
    ("jwst_nirspec_wavelengthrange_0005.asdf", "reference", UNK, CALIB, True,
     "wavelengthrange", CRDS("nirspec", "wavelengthrange", "0005")),
    ("jwst_niriss_specwcs_0012.asdf", "reference", UNK, CALIB, True, "specwcs",
     CRDS("niriss", "specwcs", "0012")),
    ("jwst_fgs_dark_0093.fits", "reference", UNK, CALIB, True, "dark",
     CRDS("fgs", "dark", "0093")),
    ("jwst_nircam_distortion_0173.asdf", "reference", UNK, CALIB, True, "distortion",
     CRDS("nircam", "distortion", "0173")),
    ("jwst_nirspec_superbias_0300.fits.gz", "reference", UNK, CALIB, True, "superbias",
     CRDS("nirspec", "superbias", "0300")),
    ("JWST_NIRCAM_GAIN_0097.FITS", "reference", UNK, CALIB, True, "gain",
     CRDS("nircam", "gain", "0097")),
    ("jwst_miri_apcorr_0008.fits", "reference", UNK, CALIB, True, "apcorr",
     CRDS("miri", "apcorr", "0008")),
    ("jwst_nircam_psfmask_0212.fits", "reference", UNK, CALIB, True, "psfmask",
     CRDS("nircam", "psfmask", "0212")),
    ("jwst_nircam_pars-tweakregstep_0012.asdf", "reference", UNK, CALIB, True,
     "pars-tweakregstep", CRDS("nircam", "pars-tweakregstep", "0012")),
    ("jwst_nirspec_msaoper_0001.json", "reference", UNK, CALIB, False, "msaoper",
     CRDS("nirspec", "msaoper", "0001")),
    ("jwst_niriss_pars-image2pipeline_0004.rmap", "context", UNK, CALIB, False,
     "pars-image2pipeline", CRDS("niriss", "pars-image2pipeline", "0004")),
    ("jwst_1075.pmap", "context", UNK, CALIB, False, "pmap", CRDS(None, None, "1075")),
    ("jwst_nircam_0350.imap", "context", UNK, CALIB, False, "imap",
     CRDS("nircam", None, "0350")),
    ("jwst_miri_flat_0075.rmap", "context", UNK, CALIB, False, "flat",
     CRDS("miri", "flat", "0075")),
    ("jwst_system_datalvl_0002.rmap", "context", UNK, CALIB, False, "datalvl",
     CRDS("system", "datalvl", "0002")),
    # --- names outside the grammar: the last token is the suffix, ids null ---
    ("jw01345066001_1_msa.fits", "other", UNK, META, False, "msa", {}),
    ("jw01345066001_01_msa.json", "other", UNK, META, False, "msa", {}),
    ("jwst_nircam_flat.fits", "other", UNK, IMAGE, True, "flat", {}),
    ("jwst_hst_flat_0001.fits", "other", UNK, IMAGE, True, "0001", {}),
    ("crds_flat_0001.asdf", "other", UNK, IMAGE, True, "0001", {}),
    ("mosaic_thumb.png", "other", UNK, IMAGE, True, "thumb", {}),
    ("m31_i2d.jpg", "other", L3, IMAGE, True, "i2d", {}),
    ("spectrum_x1d.png", "other", L3, IMAGE, True, "x1d", {}),
    ("jw02736-o001_20220712t161010_image3_01_asn.json", "other", UNK, META, False, "asn", {}),
    ("jw02736-o001_20220712t161010_image3_0001_asn.json", "other", UNK, META, False, "asn",
     {}),
    ("jw02736-o001_20220712t161010_image3_001_asn.fits", "other", UNK, META, False, "asn", {}),
    ("jw02736_20220712t161010_pool.ecsv", "other", UNK, META, False, "pool", {}),
]


def expected_identity(row: tuple[Any, ...]) -> dict[str, Any]:
    """Every FileIdentity field of a row: the written values, None/False where not given."""
    name, kind, level, dtype, viewable, suffix, ids = row
    assert set(ids) <= set(ID_FIELDS), f"unknown field in row {name}: {set(ids) - set(ID_FIELDS)}"
    lower = name.lower()
    compressed = lower.endswith(".gz")
    stem, _, ext = lower.removesuffix(".gz").rpartition(".")
    full: dict[str, Any] = dict.fromkeys(ID_FIELDS)
    full.update(dict.fromkeys(BOOL_FIELDS, False))
    full.update(ids)
    return {
        "name": name, "stem": stem, "suffix": suffix, "extension": f".{ext}",
        "file_format": FORMATS[f".{ext}"], "compressed": compressed, "kind": kind,
        "processing_level": level, "data_type": dtype, "is_viewable": viewable, **full,
    }


def test_at_least_150_further_distinct_names() -> None:
    names = [row[0] for row in ROWS]
    assert len(set(names)) == len(names)
    earlier = {row[0].lower() for row in EARLIER_ROWS}
    assert not earlier & {n.lower() for n in names}
    assert len(names) >= 150


def test_every_mode_and_instrument_is_covered() -> None:
    identities = [classify(row[0]) for row in ROWS]
    assert {i.instrument for i in identities} >= {"nircam", "niriss", "nirspec", "miri", "fgs"}
    assert {i.kind for i in identities} == {
        "exposure", "stage3", "association", "pool", "msa", "reference", "context", "other"}
    assert {i.sequence for i in identities if i.kind == "association"} >= {"001", "002a",
                                                                           "00001"}
    assert {i.source_id[0] for i in identities if i.source_id} == {"s", "b", "v"}
    assert any(i.segment for i in identities) and any(i.guide_mode for i in identities)
    assert any(i.thumbnail for i in identities) and any(i.activity_id for i in identities)


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_full_identity(row: tuple[Any, ...]) -> None:
    identity = classify(row[0])
    assert dataclasses.asdict(identity) == expected_identity(row)
    # the same file under any folder, upper case or gzipped is the same identity
    assert dataclasses.replace(classify(f"mast/x/{row[0].upper()}"), name=row[0]) == identity


@pytest.mark.parametrize(
    ("name", "product"),
    [
        ("jw02736-o001_t001_nircam_clear-f090w_i2d_thumb.jpg",
         "jw02736-o001_t001_nircam_clear-f090w"),
        ("jw01163-o001_t001_nircam_f212n-wlp8-nrca3_wfscmb-04_thumb.jpg",
         "jw01163-o001_t001_nircam_f212n-wlp8-nrca3"),
        ("jw01163-o001_t001_nircam_f212n-wlp8-nrca3_wfscmb-04.fits",
         "jw01163-o001_t001_nircam_f212n-wlp8-nrca3"),
        ("jw02727001001_02101_00001_nrca1_c1027_crf.fits",
         "jw02727001001_02101_00001_nrca1_c1027"),
        ("jw01410001001_gs-id_1_image-uncal.fits", "jw01410001001_gs-id_1_image"),
        ("jw01345066001_01_msa.fits", None),
        ("jwst_nircam_flat_0001.fits", None),
    ],
)
def test_product_names(name: str, product: str | None) -> None:
    assert classify(name).product == product


def test_group_keys_follow_the_written_rows() -> None:
    """Provisional keys are exactly the rows without a ``t###`` group."""
    for row in ROWS:
        identity = classify(row[0])
        key = identity.observation_base_id
        if key is not None:
            assert identity.provisional == (re.search(r"_t\d{3}_", key) is None), row[0]
