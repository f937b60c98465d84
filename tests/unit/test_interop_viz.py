"""jwstnb.viz: the jdaviz configuration chosen from the file name, and the data jdaviz gets
equal to the file's (jdaviz is in the test extra, so these run in CI)."""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from jwstnb import viz
from jwstnb.errors import FitsError
from jwstnb.samples import sample_files
from jwstnb.schema import JwstDataModel
from jwstnb.storage import Storage


@pytest.mark.parametrize(("name", "config"), [
    ("jw02733-o001_t001_nircam_clear-f090w_i2d.fits", "imviz"),
    ("jw02733001001_02101_00001_nrca1_cal.fits", "imviz"),
    ("jw01366004001_04101_00001_nrs1_x1d.fits", "specviz"),
    ("jw01366-o004_t001_nirspec_f290lp-g395h_x1dints.fits.gz", "specviz"),
    ("jw01366-o004_t001_nirspec_f290lp-g395h_s3d.fits", "cubeviz"),
    ("jw01366004001_04101_00001_nrs1_s2d.fits", "specviz2d"),
])
def test_config_from_the_file_name(name: str, config: str) -> None:
    assert viz.config_for(f"mast/x/{name}") == config
    record = JwstDataModel(file_name=name, file_path=f"mast/x/{name}", data_type="image")
    assert viz.config_for(record) == config


def test_not_fits_or_no_key() -> None:
    with pytest.raises(FitsError, match="not a FITS file"):
        viz.config_for("mast/x/jw02733-o001_t001_nircam_clear-f090w_cat.ecsv")
    with pytest.raises(FitsError, match="no storage key"):
        viz.config_for(JwstDataModel(file_name="a_i2d.fits", data_type="image"))




@pytest.fixture(scope="module")
def storage() -> Storage:
    """The sample files in memory, plus a small s3d cube."""
    store = Storage("memory://jwstnb-viz-test")
    keys = {}
    for obs, files in sample_files().items():
        for name, blob in files.items():
            store.write_bytes(f"mast/{obs}/{name}", blob)
            keys[name] = f"mast/{obs}/{name}"
    w = WCS(naxis=3)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN", "WAVE"]
    w.wcs.cunit = ["deg", "deg", "um"]
    w.wcs.crval, w.wcs.cdelt, w.wcs.crpix = [10, 20, 3.0], [-1e-5, 1e-5, 0.001], [5, 5, 1]
    cube = np.random.default_rng(3).random((30, 8, 9)).astype("f4")
    sci = fits.ImageHDU(cube, header=w.to_header(), name="SCI")
    sci.header["BUNIT"] = "MJy/sr"
    import io

    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), sci]).writeto(buffer)
    store.write_bytes("mine/jw01366-o004_t001_nirspec_g395h-f290lp_s3d.fits", buffer.getvalue())
    store.keys = keys  # type: ignore[attr-defined]
    return store


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.slow
def test_imviz_gets_the_i2d_sci_array(storage: Storage) -> None:
    key = storage.keys["jw02733-o001_t001_nircam_clear-f090w_i2d.fits"]
    imviz = viz.open(key, storage)
    assert type(imviz).__name__ == "Imviz"
    data = imviz.get_data(imviz.data_labels[0])
    with storage.open_fits(key) as hdul:
        assert np.array_equal(np.asarray(data.data), hdul["SCI"].data)
        assert data.wcs is not None


@pytest.mark.slow
def test_specviz_gets_the_x1d_wavelengths(storage: Storage) -> None:
    key = storage.keys["jw01366004001_04101_00001_nrs1_x1d.fits"]
    specviz = viz.open(key, storage)
    assert type(specviz).__name__ == "Specviz"
    spectrum = specviz.get_data(specviz.data_labels[0])
    with storage.open_fits(key) as hdul:
        table = hdul["EXTRACT1D"].data
        assert np.array_equal(spectrum.spectral_axis.to_value(u.um), table["WAVELENGTH"])
        assert np.array_equal(spectrum.flux.value, table["FLUX"])


@pytest.mark.slow
def test_cubeviz_and_specviz2d(storage: Storage) -> None:
    cube_key = "mine/jw01366-o004_t001_nirspec_g395h-f290lp_s3d.fits"
    cubeviz = viz.open(cube_key, storage)
    assert type(cubeviz).__name__ == "Cubeviz"
    cube = cubeviz.get_data(cubeviz.data_labels[0])
    assert cube.flux.shape == (30, 8, 9) or cube.flux.shape == (9, 8, 30)
    assert cube.spectral_axis[0].to_value(u.um) == pytest.approx(3.0)
    s2d_key = storage.keys["jw01366004001_04101_00001_nrs1_s2d.fits"]
    specviz2d = viz.open(s2d_key, storage)
    assert type(specviz2d).__name__ == "Specviz2d"
    with storage.open_fits(s2d_key) as hdul:
        sci = hdul["SCI"].data
    labels = specviz2d.data_labels
    two_d = specviz2d.get_data(labels[0])
    assert np.array_equal(np.asarray(two_d.flux.value), sci)
