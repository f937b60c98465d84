"""FITS preview rendering (pure): HDU choices, stretches, PNG with and without WCS axes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from jwstnb.widgets.preview import STRETCHES, default_hdu, hdu_choices, make_norm, render_png


def _wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [151.75, -40.44]
    wcs.wcs.crpix = [50, 40]
    wcs.wcs.cdelt = [-8.6e-6, 8.6e-6]
    return wcs


def _image(ny: int = 80, nx: int = 100) -> np.ndarray:
    rng = np.random.default_rng(0)
    data = rng.normal(10, 1, (ny, nx)).astype("float32")
    data[ny // 2, nx // 2] = 500
    data[0, 0] = np.nan
    return data


def test_hdu_choices_and_default_prefers_sci() -> None:
    hdul = fits.HDUList([
        fits.PrimaryHDU(),
        fits.ImageHDU(np.zeros((4, 3, 5)), name="SCI"),
        fits.ImageHDU(np.zeros((3, 5)), name="ERR"),
        fits.BinTableHDU.from_columns([fits.Column("a", "E", array=[1.0])], name="ASDF"),
    ])
    headers = [(h.name, h.header) for h in hdul]
    choices = hdu_choices(headers)
    assert [c[0] for c in choices] == [
        "0: PRIMARY no data", "1: SCI 5x3x4", "2: ERR 5x3", "3: ASDF table, 1 row x 1 column",
    ]
    assert [c[2] for c in choices] == [False, True, True, False]
    assert default_hdu(choices, [n for n, _ in headers]) == 1
    assert default_hdu(choices[:1], ["PRIMARY"]) is None


@pytest.mark.parametrize("stretch", STRETCHES)
def test_every_stretch_maps_finite_pixels_into_0_1(stretch: str) -> None:
    data = _image()
    norm = make_norm(data, stretch)
    scaled = np.asarray(norm(data[np.isfinite(data)]))
    assert scaled.min() >= 0 and scaled.max() <= 1
    assert norm.vmax > norm.vmin


def test_unknown_stretch_and_empty_image_are_readable_errors() -> None:
    with pytest.raises(ValueError, match="unknown stretch 'sqrtish'"):
        make_norm(_image(), "sqrtish")
    with pytest.raises(ValueError, match="no finite pixels"):
        make_norm(np.full((3, 3), np.nan), "zscale")


def test_constant_image_still_renders() -> None:
    png, _ = render_png(np.ones((10, 10)), stretch="linear")
    assert png.startswith(b"\x89PNG")


def test_render_png_with_wcs_axes_and_stride() -> None:
    png, step = render_png(_image(), wcs=_wcs(), stretch="asinh", cmap="viridis", max_size=50)
    assert step == 2
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width > 300 and image.height > 200


def test_render_png_of_a_cube_shows_its_first_plane() -> None:
    cube = np.stack([_image(), np.zeros((80, 100), "float32")])
    png, step = render_png(cube, stretch="log", cmap="gray")
    assert png.startswith(b"\x89PNG") and step == 1


def test_render_png_rejects_one_dimensional_data() -> None:
    with pytest.raises(ValueError, match="not an image"):
        render_png(np.arange(10.0))
