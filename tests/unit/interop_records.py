"""Records shared by the interop tests: images, a cube, a spectrum, MAST and scanned ones,
footprints across RA 0/360 and one with only a centre."""

from __future__ import annotations

from datetime import UTC, datetime

from jwstnb.schema import ImageMetadata, JwstDataModel

OBSERVED = datetime(2022, 8, 9, tzinfo=UTC)  # MJD 59800.0


def records() -> list[JwstDataModel]:
    """Five records: NIRCam i2d (MAST), NIRSpec s3d, MIRI x1d, a cal across RA 0, a centre."""
    return [
        JwstDataModel(
            id="0" * 23 + "1", file_name="jw02733-o001_t001_nircam_clear-f090w_i2d.fits",
            file_path="mast/jw02733-o001_t001_nircam_clear-f090w/"
                      "jw02733-o001_t001_nircam_clear-f090w_i2d.fits",
            file_size=123_456, data_type="image", processing_level="L3",
            observation_base_id="jw02733-o001_t001_nircam", is_public=True,
            metadata={"source": "mast", "mast_obs_id": "jw02733-o001_t001_nircam_clear-f090w",
                      "mast_t_min": 59742.1, "mast_t_max": 59742.3},
            image_info=ImageMetadata(
                target_name="NGC-3132", instrument="NIRCAM", filter="CLEAR-F090W",
                exposure_time=1288.5, observation_date=OBSERVED, ra=151.757, dec=-40.436,
                footprint="POLYGON ICRS 151.70 -40.48 151.82 -40.48 151.82 -40.39 151.70 -40.39",
            ),
        ),
        JwstDataModel(
            id="0" * 23 + "2", file_name="jw01234-o005_t001_nirspec_g395h-f290lp_s3d.fits",
            file_path="mine/jw01234-o005_t001_nirspec_g395h-f290lp_s3d.fits",
            file_size=2_000_001, data_type="spectral", processing_level="L3",
            observation_base_id="jw01234-o005_t001_nirspec",
            image_info=ImageMetadata(
                target_name="HD 1", instrument="NIRSPEC", filter="G395H/F290LP",
                exposure_time=100.0, observation_date=OBSERVED, ra=20.0, dec=10.0,
                footprint="POLYGON ICRS 19.999 9.999 20.001 9.999 20.001 10.001 19.999 10.001",
            ),
        ),
        JwstDataModel(
            id="0" * 23 + "3", file_name="jw01523-o003_t002_miri_p750l_x1d.fits",
            file_path="mine/jw01523-o003_t002_miri_p750l_x1d.fits", file_size=999,
            data_type="spectral", processing_level="L3",
            image_info=ImageMetadata(instrument="MIRI", filter="P750L", ra=0.5, dec=1.0,
                                     footprint="CIRCLE ICRS 0.5 1.0 0.001"),
        ),
        JwstDataModel(
            id="0" * 23 + "4", file_name="jw01000001001_02101_00001_nrcb1_cal.fits",
            file_path="mine/jw01000001001_02101_00001_nrcb1_cal.fits", file_size=5000,
            data_type="image", processing_level="L2b",
            image_info=ImageMetadata(
                instrument="NIRCAM", filter="F444W-F405N", exposure_time=50.0,
                observation_date=OBSERVED, ra=0.0, dec=-2.0,
                footprint="POLYGON ICRS 359.98 -2.02 0.02 -2.02 0.02 -1.98 359.98 -1.98",
            ),
        ),
        JwstDataModel(
            id="0" * 23 + "5", file_name="jw01000002001_02101_00001_nrca1_uncal.fits",
            file_path="mine/jw01000002001_02101_00001_nrca1_uncal.fits", data_type="raw",
            processing_level="L1",
            image_info=ImageMetadata(instrument="NIRCAM", ra=45.0, dec=30.0),
        ),
    ]
