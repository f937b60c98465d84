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
from jwstnb.widgets.preview import CMAPS

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


def test_preview_defaults_to_sci_with_a_readout_from_the_wcs(storage: Storage) -> None:
    preview = FitsPreview(storage, I2D)
    assert preview.state == "ready", preview.status_text
    assert preview.ext == 1 and preview.hdu_dropdown.value == 1
    assert [label for label, _ in preview.hdu_dropdown.options] == [
        "0: PRIMARY no data", "1: SCI 300x200", "2: ERR 300x200",
        "3: ASDF table, 2 rows x 1 column",
    ]
    assert preview.png.startswith(b"\x89PNG") and bytes(preview.view.png) == preview.png
    assert _png_size(preview.png) == (300, 200)  # one PNG pixel per data pixel
    assert preview.view.shape == [200, 300] and preview.view.step == 1
    assert preview.status_text == "300x200 pixels · zscale · RA/Dec axes and readout from the WCS"
    assert "RA---TAN" in preview.header_view.value and "MJy/sr" in preview.header_view.value
    assert "_i2d.fits" in preview.title.value
    assert preview.view.unit == "MJy/sr" and len(preview.view.ticks) >= 2
    preview.view.pointer = [149, 99]  # inside the bright square, at the reference pixel
    readout = preview.view.readout
    assert readout.startswith("x 149, y 99: ") and "MJy/sr" in readout
    value = float(readout.split(": ")[1].split(" ")[0])
    with fits.open(io.BytesIO(_i2d_bytes())) as hdul:
        assert value == pytest.approx(float(hdul["SCI"].data[99, 149]), rel=1e-2)
    assert "RA 10:07:01.68 Dec -40:26:13.2" in readout  # CRVAL at CRPIX (150, 100), 1-based


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
    assert [value for _, value in preview.cmap_dropdown.options] == list(CMAPS)


def test_switching_to_an_hdu_without_image_clears_the_picture(storage: Storage) -> None:
    preview = FitsPreview(storage, I2D)
    preview.hdu_dropdown.value = 2
    assert preview.state == "ready"
    assert "no celestial WCS" in preview.status_text
    assert "EXTNAME = 'ERR" in preview.header_view.value
    preview.hdu_dropdown.value = 3  # a table: the old picture goes, the message says why
    assert preview.state == "empty" and preview.png == b"" and preview.view.png == b""
    assert preview.view.message == (
        "HDU 3 (ASDF) holds no image (table, 2 rows x 1 column). Images: HDU 1 (SCI), 2 (ERR)."
    )
    assert preview.status_text == "HDU 3 (ASDF): nothing to draw"  # not the sentence again
    assert "EXTNAME = 'ASDF" in preview.header_view.value
    preview.hdu_dropdown.value = 1
    assert preview.state == "ready" and preview.view.kind == "image"


def test_hdu_by_name_and_big_images_are_strided(storage: Storage) -> None:
    preview = FitsPreview(storage, I2D, ext="ERR", max_size=100)
    assert preview.ext == 2
    assert preview.status_text.startswith("300x200 pixels, 1 pixel in 3 shown")
    assert _png_size(preview.png) == (100, 67)


def test_cube_shows_its_first_plane(storage: Storage) -> None:
    preview = FitsPreview(storage, CUBE)
    assert preview.state == "ready" and preview.ext == 0
    assert preview.status_text.startswith("50x40 pixels · plane 1 of 3")


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
    assert preview.png == b"" and preview.view.kind == "none"
    assert preview.view.message == ""  # said once, in the status line


# --- spectra and cubes, on local disk and on S3 (moto), with the bytes they cost -----------

X1D = "mast/jw01366-o004_t001_nirspec/jw01366004001_04101_00001_nrs1_x1d.fits"
X1DINTS = "mast/jw01366-o004_t001_nirspec/jw01366004001_04101_00001_nrs1_x1dints.fits"
S2D = "mast/jw01366-o004_t001_nirspec/jw01366004001_04101_00001_nrs1_s2d.fits"
S3D = "mast/jw01523-o003_t002_nirspec/jw01523-o003_t002_nirspec_g395h-f290lp_s3d.fits"
NINTS, NWAVE = 40, 2000
CUBE_SHAPE = (3, 300, 300)


def _x1d(extra_columns: int = 12) -> bytes:
    wave = np.linspace(2.87, 5.27, NWAVE)
    columns = [
        fits.Column("WAVELENGTH", "D", unit="um", array=wave),
        fits.Column("FLUX", "D", unit="Jy", array=1e-3 * (1 + 0.1 * np.sin(wave * 8))),
        fits.Column("FLUX_ERROR", "D", unit="Jy", array=np.full(NWAVE, 5e-5)),
    ] + [fits.Column(f"EXTRA{i}", "D", array=np.full(NWAVE, float(i)))
         for i in range(extra_columns)]
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns, name="EXTRACT1D")]
                 ).writeto(out)
    return out.getvalue()


def _x1dints() -> bytes:
    """One row per integration; each cell an array of NWAVE values (jwst >= 1.16 layout)."""
    wave = np.tile(np.linspace(2.87, 5.27, NWAVE), (NINTS, 1))
    flux = (1.0 + np.arange(NINTS)[:, None] * 0.01) * np.ones((NINTS, NWAVE))
    table = fits.BinTableHDU.from_columns([
        fits.Column("WAVELENGTH", f"{NWAVE}D", unit="um", array=wave),
        fits.Column("FLUX", f"{NWAVE}D", unit="Jy", array=flux),
        fits.Column("FLUX_ERROR", f"{NWAVE}D", unit="Jy", array=flux * 0.001),
    ], name="EXTRACT1D")
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(out)
    return out.getvalue()


def _s2d() -> bytes:
    sci = np.zeros((27, 256), "float32")
    sci[12:15] = 1.0
    out = io.BytesIO()
    fits.HDUList([
        fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI"),
        fits.ImageHDU(np.full_like(sci, 0.02), name="ERR"),
        fits.ImageHDU(np.tile(np.linspace(2.87, 5.27, 256, dtype="f4"), (27, 1)),
                      name="WAVELENGTH"),
    ]).writeto(out)
    return out.getvalue()


def _s3d() -> bytes:
    planes, ny, nx = CUBE_SHAPE
    cube = np.stack([np.full((ny, nx), 10.0 * (p + 1), "float32") for p in range(planes)])
    cube[:, 150, 150] = [100.0, 200.0, 300.0]
    header = _wcs_header()
    header.update({"CTYPE3": "WAVE", "CUNIT3": "um", "CRVAL3": 2.87, "CDELT3": 0.001,
                   "CRPIX3": 1.0})
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, header=header, name="SCI")]
                 ).writeto(out)
    return out.getvalue()


@pytest.fixture(params=["local", "s3"])
def products(request: pytest.FixtureRequest) -> Storage:
    """x1d, x1dints, s2d and s3d files on local disk and on the moto S3 server."""
    store: Storage = request.getfixturevalue(f"{request.param}_storage")
    for key, data in ((X1D, _x1d()), (X1DINTS, _x1dints()), (S2D, _s2d()), (S3D, _s3d())):
        store.write_bytes(key, data)
    return store


def test_x1d_is_drawn_as_flux_against_wavelength(products: Storage) -> None:
    preview = FitsPreview(products, X1D)
    assert preview.state == "ready", preview.status_text
    assert preview.ext == 1 and preview.view.kind == "plot"
    assert preview.status_text == (
        f"Spectrum EXTRACT1D: {NWAVE} wavelengths (um, Jy), with errors"
    )
    width, height = _png_size(preview.png)
    assert width > 500 and height > 250
    (spectrum,) = preview._spectrum_cache.values()
    assert spectrum.flux.max() == pytest.approx(1.1e-3, rel=1e-3)
    assert preview.stretch_buttons.disabled  # stretches are for images


def test_x1dints_reads_only_the_integration_shown(products: Storage) -> None:
    size = products.size(X1DINTS)
    products.reset_counters()
    preview = FitsPreview(products, X1DINTS)
    assert preview.state == "ready" and preview.spectrum_slider.layout.display == ""
    assert preview.spectrum_slider.max == NINTS
    assert preview.spectrum_slider.description == "Integration"
    products.reset_counters()
    preview.spectrum_slider.value = 26
    assert preview.status_text.startswith("Spectrum integration 26 (EXTRACT1D row 25)")
    assert preview._spectrum_cache[25].flux[0] == pytest.approx(1.25)
    row = 3 * NWAVE * 8
    print(f"x1dints: {products.bytes_read} of {size} bytes for one integration")
    if not products.is_local:  # S3: the bytes fetched are counted
        assert products.bytes_read < row + 3 * products.block_size, (products.bytes_read, size)
        assert products.bytes_read < size / 8


def test_s2d_is_shown_as_an_image(products: Storage) -> None:
    preview = FitsPreview(products, S2D)
    assert preview.state == "ready" and preview.ext == 1 and preview.view.kind == "image"
    assert preview.status_text == "256x27 pixels · zscale · no celestial WCS"
    assert _png_size(preview.png) == (256, 27)


def test_s3d_plane_slider_reads_one_plane(products: Storage) -> None:
    preview = FitsPreview(products, S3D, stretch="linear")
    assert preview.state == "ready" and preview.plane_slider.max == 3
    assert preview.status_text.startswith("300x300 pixels · plane 1 of 3 (λ 2.87 um) · linear")
    preview.view.pointer = [150, 150]
    assert preview.view.readout.startswith("x 150, y 150: 100 ")
    products.reset_counters()
    preview.plane_slider.value = 3
    assert "plane 3 of 3 (λ 2.872 um)" in preview.status_text
    assert preview.view.readout.startswith("x 150, y 150: 300 ")  # follows the plane
    assert "RA " in preview.view.readout  # the cube's celestial axes
    plane = 300 * 300 * 4
    print(f"s3d: {products.bytes_read} bytes for plane 3 of {products.size(S3D)}")
    if not products.is_local:
        assert plane <= products.bytes_read < plane + 3 * products.block_size
    products.reset_counters()
    preview.plane_slider.value = 1  # read once, then kept
    assert products.bytes_read == 0 and "plane 1 of 3" in preview.status_text


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
