"""A thumbnail and the FitsPreview of one file with one stretch show the same pixel values:
both go through ``jwstnb.imaging.normalise`` (the preview in grey is the thumbnail's PNG
pixel for pixel; in colour, its stretched values are the thumbnail's grey levels)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from jwstnb.imaging import STRETCHES, to_uint8
from jwstnb.storage import Storage
from jwstnb.widgets.preview import FitsPreview

KEY = "mast/jw01111-o001_t001_nircam_clear-f200w/jw01111-o001_t001_nircam_clear-f200w_i2d.fits"
NY, NX = 60, 90


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:NY, 0:NX]
    sci = (5 + rng.normal(0, 0.5, (NY, NX)) + 300 * np.exp(-((x - 60) ** 2 + (y - 20) ** 2) / 60))
    sci = sci.astype("float32")
    sci[3, 4] = np.nan
    sci[50, 10] = 5000.0  # a saturated star: the stretches disagree about it
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI")]).writeto(out)
    store = Storage((tmp_path / "store").as_uri())
    store.write_bytes(KEY, out.getvalue())
    return store


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


@pytest.mark.parametrize("stretch", STRETCHES)
def test_grey_preview_is_the_thumbnail_pixel_for_pixel(storage: Storage, stretch: str) -> None:
    thumbnail = _pixels(storage.thumbnail(KEY, size=NX, stretch=stretch))
    preview = FitsPreview(storage, KEY, stretch=stretch, cmap="gray")
    assert preview.state == "ready", preview.status_text
    shown = _pixels(preview.png)
    assert thumbnail.shape == shown.shape == (NY, NX)
    assert np.array_equal(shown, thumbnail)
    assert np.array_equal(preview.grey_pixels(), thumbnail)
    assert len(np.unique(thumbnail)) > 10  # a real picture, not a flat one


@pytest.mark.parametrize("stretch", STRETCHES)
def test_coloured_preview_stretches_like_the_thumbnail(storage: Storage, stretch: str) -> None:
    thumbnail = _pixels(storage.thumbnail(KEY, size=NX, stretch=stretch))
    preview = FitsPreview(storage, KEY, stretch=stretch, cmap="inferno")
    assert preview.normalised is not None
    assert np.array_equal(to_uint8(preview.normalised)[::-1], thumbnail)
    assert _pixels(preview.png).shape == (NY, NX, 3)


def test_strided_preview_matches_a_small_thumbnail(storage: Storage) -> None:
    thumbnail = _pixels(storage.thumbnail(KEY, size=30, stretch="asinh"))
    preview = FitsPreview(storage, KEY, stretch="asinh", max_size=30)
    assert preview.view.step == 3
    assert np.array_equal(_pixels(preview.png), thumbnail)


def test_stretches_really_differ(storage: Storage) -> None:
    """The comparisons above are not vacuous: each stretch gives another picture."""
    pictures = {storage.thumbnail(KEY, size=NX, stretch=s) for s in STRETCHES}
    assert len(pictures) == len(STRETCHES)
