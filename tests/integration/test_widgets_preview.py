"""FitsPreview and the search panel's storage side against real files in a real Storage.

Files are written with astropy into a ``file://`` Storage (the same code path as S3 for
the widgets: ``read_headers``, ``image_data``, ``thumbnail``, ``open_fits``); records that
point to them are stored through the session in the real test database.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from jwstnb.schema import ImageMetadata, JwstDataModel
from jwstnb.session import Session
from jwstnb.storage import Storage
from jwstnb.widgets import FitsPreview, SearchPanel

pytestmark = pytest.mark.integration

I2D = "mast/jw01111-o001_t001_nircam_clear-f200w/jw01111-o001_t001_nircam_clear-f200w_i2d.fits"
CUBE = "mast/other/cube_s3d.fits"
PICTURE = "pictures/ngc3132.png"


def _wcs_header() -> fits.Header:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [151.757, -40.437]
    wcs.wcs.crpix = [150, 100]
    wcs.wcs.cdelt = [-8.7e-6, 8.7e-6]
    return wcs.to_header()


def _i2d_bytes() -> bytes:
    rng = np.random.default_rng(1)
    sci = rng.normal(1.0, 0.1, (200, 300)).astype("float32")
    sci[90:110, 140:160] += 50
    primary = fits.PrimaryHDU()
    primary.header.update({"TELESCOP": "JWST", "INSTRUME": "NIRCAM", "FILTER": "F200W",
                           "TARGPROP": "NGC3132"})
    sci_hdu = fits.ImageHDU(sci, header=_wcs_header(), name="SCI")
    sci_hdu.header["BUNIT"] = "MJy/sr"
    err = fits.ImageHDU(np.abs(sci) * 0.01, name="ERR")
    table = fits.BinTableHDU.from_columns([fits.Column("x", "E", array=[1.0, 2.0])], name="ASDF")
    out = io.BytesIO()
    fits.HDUList([primary, sci_hdu, err, table]).writeto(out)
    return out.getvalue()


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    store = Storage(f"file://{tmp_path / 'store'}")
    store.write_bytes(I2D, _i2d_bytes())
    cube = io.BytesIO()
    fits.PrimaryHDU(np.arange(3 * 40 * 50, dtype="float32").reshape(3, 40, 50)).writeto(cube)
    store.write_bytes(CUBE, cube.getvalue())
    picture = io.BytesIO()
    Image.fromarray(np.tile(np.arange(64, dtype="uint8"), (32, 1))).save(picture, "PNG")
    store.write_bytes(PICTURE, picture.getvalue())
    store.write_bytes("mast/broken.fits", b"this is not a FITS file at all")
    return store


def _png_size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def test_preview_defaults_to_sci_with_wcs_axes(storage: Storage) -> None:
    preview = FitsPreview(storage, I2D)
    assert preview.state == "ready", preview.status_text
    assert preview.ext == 1 and preview.hdu_dropdown.value == 1
    assert [label for label, _ in preview.hdu_dropdown.options] == [
        "0: PRIMARY no data", "1: SCI 300x200", "2: ERR 300x200",
        "3: ASDF table, 2 rows x 1 column",
    ]
    assert preview.png.startswith(b"\x89PNG") and bytes(preview.image.value) == preview.png
    width, height = _png_size(preview.png)
    assert width > 400 and height > 250
    assert preview.status_text == "300x200 pixels · zscale · RA/Dec axes from the WCS"
    assert "RA---TAN" in preview.header_view.value and "MJy/sr" in preview.header_view.value
    assert "_i2d.fits" in preview.title.value


def test_stretch_and_colour_map_re_render(storage: Storage) -> None:
    preview = FitsPreview(storage, I2D)
    images = {preview.png}
    for stretch in ("asinh", "linear", "log"):
        preview.stretch_buttons.value = stretch  # a click on the toggle button
        assert preview.state == "ready" and stretch in preview.status_text
        images.add(preview.png)
    preview.cmap_dropdown.value = "viridis"
    images.add(preview.png)
    assert len(images) == 5
    preview.stretch = "zscale"  # from Python, and the buttons follow
    assert preview.stretch_buttons.value == "zscale"
    assert "magma" in preview.cmap_dropdown.options and "gray" in preview.cmap_dropdown.options


def test_switching_hdus(storage: Storage) -> None:
    preview = FitsPreview(storage, I2D)
    preview.hdu_dropdown.value = 2
    assert preview.state == "ready"
    assert "pixel axes (no celestial WCS)" in preview.status_text
    assert "EXTNAME = 'ERR" in preview.header_view.value
    preview.hdu_dropdown.value = 3  # a table: readable error, header still shown
    assert preview.state == "error"
    assert "Cannot show HDU 3" in preview.status_text
    assert "EXTNAME = 'ASDF" in preview.header_view.value
    assert "Cannot show HDU 3" in preview.status.value
    preview.hdu_dropdown.value = 1
    assert preview.state == "ready"


def test_hdu_by_name_and_big_images_are_strided(storage: Storage) -> None:
    preview = FitsPreview(storage, I2D, ext="ERR", max_size=100)
    assert preview.ext == 2
    assert preview.status_text.startswith("300x200 pixels, 1 pixel in 3 shown")


def test_cube_shows_its_first_plane(storage: Storage) -> None:
    preview = FitsPreview(storage, CUBE)
    assert preview.state == "ready" and preview.ext == 0
    assert preview.status_text.startswith("50x40 pixels")


def test_plain_pictures_open_too(storage: Storage) -> None:
    preview = FitsPreview(storage, PICTURE)
    assert preview.state == "ready" and preview.hdu_dropdown.disabled
    assert "Not a FITS file" in preview.header_view.value


@pytest.mark.parametrize(
    ("key", "reason"),
    [("mast/nothing-here.fits", "Cannot open mast/nothing-here.fits"),
     ("mast/broken.fits", "not a FITS file")],
)
def test_unreadable_files_are_readable_errors(storage: Storage, key: str, reason: str) -> None:
    preview = FitsPreview(storage, key)
    assert preview.state == "error"
    assert reason in preview.status_text
    assert preview.png == b""


# --- the search panel with storage: header, thumbnail, open, preview ---------------------


@pytest.fixture
def reader(admin_session: Session, make_session: Callable[..., Session]) -> Session:
    info = ImageMetadata(target_name="NGC 3132", instrument="NIRCAM", filter="F200W")
    admin_session.insert(JwstDataModel(
        file_name=I2D.rsplit("/", 1)[1], file_path=I2D, data_type="image",
        processing_level="L3", observation_base_id="jw01111-o001_t001_nircam", is_public=True,
        image_info=info,
    ))
    admin_session.insert(JwstDataModel(
        file_name="ngc3132.png", file_path=PICTURE, file_format="png", data_type="image",
        is_public=True,
    ))
    return make_session("anonymous")


def _row(panel: SearchPanel, name: str) -> str:
    return next(r["id"] for r in panel.results if r["file_name"] == name)


def test_selected_row_shows_header_summary_and_generated_thumbnail(
    reader: Session, storage: Storage
) -> None:
    panel = SearchPanel(reader, storage=storage, debounce=0)
    panel.table.selected_id = _row(panel, I2D.rsplit("/", 1)[1])
    header = re.sub(r"<(t[hd]) [^>]*>", r"<\1>", panel.header_view.value)  # drop styles
    assert "<th>TELESCOP</th><td>JWST</td>" in header
    assert "<th>NAXIS1</th><td>300</td>" in header  # from the SCI header
    assert panel.thumbnail_image.layout.display == ""
    assert bytes(panel.thumbnail_image.value).startswith(b"\x89PNG")
    assert max(_png_size(bytes(panel.thumbnail_image.value))) <= 256
    assert not panel.preview_button.disabled


def test_open_selected_returns_the_hdulist(reader: Session, storage: Storage) -> None:
    panel = SearchPanel(reader, storage=storage, debounce=0)
    panel.select(_row(panel, I2D.rsplit("/", 1)[1]))
    with panel.open_selected() as hdul:
        assert isinstance(hdul, fits.HDUList)
        assert hdul["SCI"].header["BUNIT"] == "MJy/sr"
        assert hdul["SCI"].data.shape == (200, 300)


def test_preview_button_shows_the_preview_under_the_panel(
    reader: Session, storage: Storage
) -> None:
    panel = SearchPanel(reader, storage=storage, debounce=0)
    panel.select(_row(panel, I2D.rsplit("/", 1)[1]))
    panel.preview_button.click()
    (preview,) = panel.viewer_box.children
    assert isinstance(preview, FitsPreview)
    assert preview.key == I2D and preview.state == "ready"


def test_non_fits_row_cannot_be_previewed_but_has_a_thumbnail(
    reader: Session, storage: Storage
) -> None:
    panel = SearchPanel(reader, storage=storage, debounce=0)
    panel.select(_row(panel, "ngc3132.png"))
    assert panel.preview_button.disabled
    assert panel.header_view.value == ""
    assert bytes(panel.thumbnail_image.value).startswith(b"\x89PNG")


def test_missing_file_header_is_a_readable_note(
    admin_session: Session, make_session: Callable[..., Session], storage: Storage
) -> None:
    admin_session.insert(JwstDataModel(
        file_name="gone_cal.fits", file_path="mast/gone/gone_cal.fits", data_type="image",
        is_public=True,
    ))
    panel = SearchPanel(make_session("anonymous"), storage=storage, debounce=0)
    panel.select(0)
    assert "Header unavailable" in panel.header_view.value
    assert panel.thumbnail_image.layout.display == "none"
    panel.preview_button.click()
    (preview,) = panel.viewer_box.children
    assert preview.state == "error" and "Cannot open" in preview.status_text
