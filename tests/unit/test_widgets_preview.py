"""FitsPreview's pure parts and its Python side with a fake storage: colour maps, colour-bar
ticks, spectra read from small in-memory FITS files, the no-image state and the readout."""

from __future__ import annotations

import io
import itertools
import re
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from jwstnb.imaging import STRETCHES, normalise
from jwstnb.widgets._common import WidgetStorage
from jwstnb.widgets._spectra import (
    SpectrumSource,
    read_spectrum,
    spectrum_columns,
    spectrum_png,
    spectrum_sources,
)
from jwstnb.widgets.preview import (
    CMAPS,
    FitsPreview,
    colorbar_ticks,
    default_hdu,
    format_value,
    hdu_choices,
    no_image_message,
    plane_coordinate,
    world_grid,
)

# --- colour maps and ticks -------------------------------------------------------------------


def test_colour_maps_are_a_short_perceptual_list_with_reverses() -> None:
    assert CMAPS == (
        "gray", "gray_r", "viridis", "viridis_r", "magma", "magma_r", "inferno", "inferno_r",
        "cividis", "cividis_r",
    )
    assert all(name in matplotlib.colormaps for name in CMAPS)
    for name in CMAPS:  # each reverse really is the map read backwards
        forward = matplotlib.colormaps[name.removesuffix("_r")]
        if name.endswith("_r"):
            assert np.allclose(matplotlib.colormaps[name](0.1), forward(0.9), atol=0.01)


def _sky(ny: int = 120, nx: int = 160) -> np.ndarray:
    """Faint noise, a smooth nebula and a few bright stars: a log/asinh-worthy image."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:ny, 0:nx]
    data = 10 + rng.normal(0, 1, (ny, nx)) + 400 * np.exp(-((x - 80) ** 2 + (y - 60) ** 2) / 800)
    data[10, 10] = data[100, 140] = 20_000
    data[0, 0] = np.nan
    return data


@pytest.mark.parametrize("stretch", STRETCHES)
def test_colour_bar_ticks_are_few_spread_and_placed_where_the_stretch_puts_them(
    stretch: str,
) -> None:
    data = _sky()
    scaled = normalise(data, stretch)
    ticks = colorbar_ticks(data, scaled)
    positions = [p for p, _ in ticks]
    assert 2 <= len(ticks) <= 5, ticks
    assert positions == sorted(positions) and positions[0] >= 0 and positions[-1] <= 1
    assert all(b - a >= 0.17 for a, b in itertools.pairwise(positions)), ticks
    assert all(len(label) <= 7 for _, label in ticks), ticks
    finite = np.isfinite(data)
    for position, label in ticks:  # the pixel nearest the labelled value has that colour
        value = float(label)
        nearest = np.nanargmin(np.where(finite, np.abs(data - value), np.inf))
        assert abs(scaled.ravel()[nearest] - position) < 0.03, (label, position)


@pytest.mark.parametrize("stretch", ["log", "asinh"])
def test_nonlinear_stretches_do_not_bunch_ticks_at_one_end(stretch: str) -> None:
    data = np.random.default_rng(0).lognormal(3, 1.2, (200, 200))
    ticks = colorbar_ticks(data, normalise(data, stretch))
    assert len(ticks) >= 4, ticks
    assert ticks[-1][0] > 0.8 and ticks[0][0] < 0.2


def test_colour_bar_of_an_image_without_finite_pixels_has_no_ticks() -> None:
    data = np.full((4, 4), np.nan)
    assert colorbar_ticks(data, normalise(data, "zscale")) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (1234.5, "1230"), (0.5, "0.5"), (12.0, "12"), (2.5e-5, "2.5e-5"),
     (3.2e7, "3.2e7"), (-0.004, "-0.004"), (20_000.0, "2.0e4"), (0.73, "0.73")],
)
def test_format_value_is_short(value: float, text: str) -> None:
    assert format_value(value) == text


# --- the RA/Dec grid behind the browser's axis labels -------------------------------------


def _bilinear(grid: dict[str, Any], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """What the browser view does with the grid (static/preview.js: worldAt)."""
    xs, ys = np.asarray(grid["x"]), np.asarray(grid["y"])
    n = xs.size
    i = np.clip(((x - xs[0]) // (xs[1] - xs[0])).astype(int), 0, n - 2)
    j = np.clip(((y - ys[0]) // (ys[1] - ys[0])).astype(int), 0, ys.size - 2)
    u, v = (x - xs[i]) / (xs[1] - xs[0]), (y - ys[j]) / (ys[1] - ys[0])

    def at(values: list[float]) -> np.ndarray:
        a = np.asarray(values).reshape(ys.size, n)
        return (a[j, i] * (1 - u) * (1 - v) + a[j, i + 1] * u * (1 - v)
                + a[j + 1, i] * (1 - u) * v + a[j + 1, i + 1] * u * v)

    return at(grid["ra"]), at(grid["dec"])


@pytest.mark.parametrize(("crval", "pixel_deg"), [((151.757, -40.437), 8.6e-6),
                                                  ((0.01, 12.0), 3e-5)])
def test_world_grid_interpolates_to_a_milliarcsecond(
    crval: tuple[float, float], pixel_deg: float
) -> None:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = [1024, 1024]
    wcs.wcs.cd = [[-pixel_deg * 0.9, pixel_deg * 0.4], [pixel_deg * 0.4, pixel_deg * 0.9]]
    grid = world_grid(wcs, 2048, 2048)
    assert len(grid["ra"]) == len(grid["dec"]) == 17 * 17
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-0.5, 2047.5, 500), rng.uniform(-0.5, 2047.5, 500)
    ra, dec = _bilinear(grid, x, y)
    true_ra, true_dec = wcs.pixel_to_world_values(x, y)
    d_ra = ((ra - true_ra + 180) % 360 - 180) * np.cos(np.radians(true_dec))
    assert np.max(np.abs(d_ra)) * 3.6e6 < 1 and np.max(np.abs(dec - true_dec)) * 3.6e6 < 1
    assert max(grid["ra"]) - min(grid["ra"]) < 1  # RA unwrapped across 0h, not 0..360


# --- HDUs and the no-image message -----------------------------------------------------------


def _x1d_hdul(n: int = 50, error: str = "FLUX_ERROR") -> fits.HDUList:
    wave = np.linspace(2.9, 5.1, n)
    table = fits.BinTableHDU.from_columns([
        fits.Column("WAVELENGTH", "D", unit="um", array=wave),
        fits.Column("FLUX", "D", unit="Jy", array=1e-3 * wave),
        fits.Column(error, "D", unit="Jy", array=np.full(n, 1e-4)),
        fits.Column("DQ", "J", array=np.zeros(n, np.int32)),
    ], name="EXTRACT1D")
    return fits.HDUList([fits.PrimaryHDU(), table])


def _reopen(hdul: fits.HDUList) -> fits.HDUList:
    out = io.BytesIO()
    hdul.writeto(out)
    out.seek(0)
    return fits.open(out, lazy_load_hdus=True, memmap=False)


def test_hdu_choices_name_spectra_and_the_message_names_image_hdus() -> None:
    hdul = fits.HDUList([
        fits.PrimaryHDU(),
        fits.ImageHDU(np.zeros((3, 4, 5), "f4"), name="SCI"),
        _x1d_hdul()[1],
    ])
    headers = [(h.name, h.header) for h in hdul]
    choices = hdu_choices(headers)
    assert [c[0] for c in choices] == [
        "0: PRIMARY no data", "1: SCI 5x4x3", "2: EXTRACT1D table, 50 rows x 4 columns (spectrum)",
    ]
    assert default_hdu(choices, [n for n, _ in headers]) == 1
    message = no_image_message(0, choices, [n for n, _ in headers], [2])
    assert message == (
        "HDU 0 (PRIMARY) holds no image (no data). Spectra: HDU 2 (EXTRACT1D). Images: HDU 1 (SCI)."
    )
    only_table = hdu_choices(headers[:1])
    assert no_image_message(0, only_table, ["PRIMARY"]).endswith("This file has no image HDU.")


# --- spectra ------------------------------------------------------------------------------


def test_spectrum_columns_find_the_error_column_under_either_name() -> None:
    assert spectrum_columns(_x1d_hdul()[1].header) == {
        "wavelength": "WAVELENGTH", "flux": "FLUX", "error": "FLUX_ERROR",
    }
    assert spectrum_columns(_x1d_hdul(error="ERROR")[1].header)["error"] == "ERROR"
    other = fits.BinTableHDU.from_columns([fits.Column("x", "E", array=[1.0])])
    assert spectrum_columns(other.header) is None
    assert spectrum_columns(fits.ImageHDU(np.zeros((2, 2))).header) is None


def test_read_x1d_spectrum_with_units_and_errors() -> None:
    hdul = _reopen(_x1d_hdul())
    (source,) = spectrum_sources([h.header for h in hdul])
    assert source == SpectrumSource(1, None, "EXTRACT1D")
    spectrum = read_spectrum(hdul[1], source)
    assert spectrum.wavelength_unit == "um" and spectrum.flux_unit == "Jy"
    assert np.allclose(spectrum.wavelength, np.linspace(2.9, 5.1, 50))
    assert np.allclose(spectrum.flux, 1e-3 * spectrum.wavelength)
    assert spectrum.error is not None and np.allclose(spectrum.error, 1e-4)
    assert spectrum.flux.dtype == np.float64 and spectrum.flux.dtype.isnative


def test_x1dints_as_rows_reads_one_integration_only() -> None:
    nints, n = 4, 30
    wave = np.tile(np.linspace(1, 2, n), (nints, 1))
    flux = np.arange(nints)[:, None] + wave
    table = fits.BinTableHDU.from_columns([
        fits.Column("WAVELENGTH", f"{n}D", unit="um", array=wave),
        fits.Column("FLUX", f"{n}D", unit="Jy", array=flux),
        fits.Column("FLUX_ERROR", f"{n}D", unit="Jy", array=flux * 0.01),
    ], name="EXTRACT1D")
    hdul = _reopen(fits.HDUList([fits.PrimaryHDU(), table]))
    sources = spectrum_sources([h.header for h in hdul], per_integration=True)
    assert [s.row for s in sources] == [0, 1, 2, 3]
    assert sources[2].label == "integration 3 (EXTRACT1D row 2)"
    spectrum = read_spectrum(hdul[1], sources[2])
    assert np.allclose(spectrum.flux, 2 + np.linspace(1, 2, n))
    assert spectrum.wavelength.shape == (n,)


def test_x1dints_as_one_hdu_per_integration() -> None:
    hdus = [fits.PrimaryHDU()]
    for number in (1, 2, 3):
        table = _x1d_hdul()[1]
        table.header["EXTVER"] = number
        table.header["INT_NUM"] = number
        table.data["FLUX"] *= number
        hdus.append(table)
    hdul = _reopen(fits.HDUList(hdus))
    sources = spectrum_sources([h.header for h in hdul], per_integration=True)
    assert [(s.hdu, s.row, s.label) for s in sources] == [
        (1, None, "integration 1 (EXTRACT1D 1)"), (2, None, "integration 2 (EXTRACT1D 2)"),
        (3, None, "integration 3 (EXTRACT1D 3)"),
    ]
    third = read_spectrum(hdul[3], sources[2])
    assert np.allclose(third.flux, 3e-3 * third.wavelength)


def test_spectrum_without_error_column_and_scaled_columns() -> None:
    table = fits.BinTableHDU.from_columns([
        fits.Column("WAVELENGTH", "E", unit="nm", array=np.array([500.0, 600.0])),
        fits.Column("FLUX", "I", unit="count", array=np.array([18, 38], np.int16)),
    ], name="SPEC")
    table.header["TSCAL2"], table.header["TZERO2"] = 0.5, 1.0  # stored 18, 38 mean 10, 20
    hdul = _reopen(fits.HDUList([fits.PrimaryHDU(), table]))
    spectrum = read_spectrum(hdul[1], SpectrumSource(1, None, "SPEC"))
    assert spectrum.error is None
    assert np.allclose(spectrum.flux, [10, 20])
    png = spectrum_png(spectrum)
    assert Image.open(io.BytesIO(png)).size[0] > 400


# --- the widget with a fake storage ---------------------------------------------------------


@dataclass
class FakeStorage:
    """In-memory FITS files behind the calls FitsPreview makes."""

    files: dict[str, bytes]

    def _open(self, key: str) -> fits.HDUList:
        return fits.open(io.BytesIO(self.files[key]), lazy_load_hdus=True, memmap=False)

    def read_headers(self, key: str) -> list[Any]:
        with self._open(key) as hdul:
            return [h.header.copy() for h in hdul]

    def image_data(self, key: str, ext: int | None = None, *, step: int = 1) -> np.ndarray:
        with self._open(key) as hdul:
            data = np.asarray(hdul[ext or 0].data)
            while data.ndim > 2:
                data = data[0]
            return data[::step, ::step].astype("float32")

    def cutout(self, key: str, ext: int, plane: int = 0) -> Any:
        with self._open(key) as hdul:
            return type("Cut", (), {"data": np.asarray(hdul[ext].data)[plane]})()

    def open_fits(self, key: str, *, check: bool = True) -> fits.HDUList:
        return self._open(key)

    def read_header(self, key: str, ext: int | str = 0) -> Any:
        return self.read_headers(key)[ext if isinstance(ext, int) else 0]

    def thumbnail(self, key: str, size: int = 256) -> bytes:  # the preview never asks
        raise AssertionError("FitsPreview draws its own picture")


def _bytes(hdul: fits.HDUList) -> bytes:
    out = io.BytesIO()
    hdul.writeto(out)
    return out.getvalue()


def _wcs_header() -> fits.Header:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [151.757, -40.437]
    wcs.wcs.crpix = [11, 6]  # 1-based: pixel (10, 5) 0-based is the reference
    wcs.wcs.cdelt = [-1e-4, 1e-4]
    return wcs.to_header()


@pytest.fixture
def fake() -> FakeStorage:
    sci = fits.ImageHDU(np.arange(20 * 30, dtype="f4").reshape(20, 30), _wcs_header(), name="SCI")
    sci.header["BUNIT"] = "MJy/sr"
    table = fits.BinTableHDU.from_columns([fits.Column("x", "E", array=[1.0])], name="ASDF")
    cube = fits.ImageHDU(np.stack([np.full((8, 9), v, "f4") for v in (1, 2, 3)]), name="SCI")
    return FakeStorage({
        "a_i2d.fits": _bytes(fits.HDUList([fits.PrimaryHDU(), sci, table])),
        "a_x1d.fits": _bytes(_x1d_hdul()),
        "a_s3d.fits": _bytes(fits.HDUList([fits.PrimaryHDU(), cube])),
    })


def test_storage_and_the_fake_both_fit_what_the_preview_reads(
    fake: FakeStorage, tmp_path: Any
) -> None:
    from jwstnb.storage import Storage

    assert isinstance(Storage(tmp_path.as_uri()), WidgetStorage)
    assert isinstance(fake, WidgetStorage)
    assert not isinstance(object(), WidgetStorage)


def test_an_hdu_without_image_clears_the_old_image_and_names_the_images(
    fake: FakeStorage,
) -> None:
    preview = FitsPreview(fake, "a_i2d.fits")
    assert preview.state == "ready" and preview.view.png and preview.view.kind == "image"
    preview.hdu_dropdown.value = 2
    assert preview.state == "empty"
    assert preview.png == b"" and preview.view.png == b"" and preview.view.kind == "none"
    assert preview.normalised is None and preview.readout_at(1, 1) == ""
    assert preview.view.message == (
        "HDU 2 (ASDF) holds no image (table, 1 row x 1 column). Images: HDU 1 (SCI)."
    )
    assert "HDU 2 (ASDF): nothing to draw" in preview.status.value
    assert "EXTNAME = 'ASDF" in preview.header_view.value  # its header is still shown
    preview.hdu_dropdown.value = 1
    assert preview.state == "ready" and preview.view.png


def test_readout_gives_value_unit_and_ra_dec(fake: FakeStorage) -> None:
    preview = FitsPreview(fake, "a_i2d.fits")
    preview.view.pointer = [10, 5]  # what the browser view sends
    text = preview.view.readout
    assert text.startswith("x 10, y 5: 160 MJy/sr · RA 10:07:01.68 Dec -40:26:13.2")
    assert "(151.75700°, -40.43700°)" in text
    preview.view.pointer = [99, 99]
    assert preview.view.readout == ""
    assert "RA/Dec axes and readout from the WCS" in preview.status_text


def test_strided_readout_reports_the_shown_pixel(fake: FakeStorage) -> None:
    preview = FitsPreview(fake, "a_i2d.fits", max_size=10)
    assert preview.view.step == 3 and preview.view.shape == [7, 10]
    assert preview.readout_at(6, 3).startswith("x 6, y 3: 96 ")  # data[3, 6] = 3*30 + 6


def test_colour_map_and_stretch_change_the_picture_not_the_values(fake: FakeStorage) -> None:
    preview = FitsPreview(fake, "a_i2d.fits")
    grey = preview.png
    assert Image.open(io.BytesIO(grey)).mode == "L"
    values = preview.normalised
    preview.cmap_dropdown.value = "magma_r"
    assert Image.open(io.BytesIO(preview.png)).mode == "RGB"
    assert np.array_equal(preview.normalised, values)
    preview.stretch = "log"
    assert preview.stretch_buttons.value == "log" and not np.array_equal(preview.normalised, values)
    assert [label for label, _ in preview.cmap_dropdown.options][:2] == ["gray", "gray (reversed)"]


def test_spectrum_file_opens_on_its_spectrum(fake: FakeStorage) -> None:
    preview = FitsPreview(fake, "a_x1d.fits")
    assert preview.ext == 1 and preview.state == "ready" and preview.view.kind == "plot"
    assert preview.status_text == "Spectrum EXTRACT1D: 50 wavelengths (um, Jy), with errors"
    assert preview.stretch_buttons.disabled and preview.spectrum_slider.layout.display == "none"
    preview.hdu_dropdown.value = 0
    assert preview.state == "empty" and "Spectra: HDU 1 (EXTRACT1D)" in preview.view.message


def test_cube_plane_slider(fake: FakeStorage) -> None:
    preview = FitsPreview(fake, "a_s3d.fits", stretch="linear")
    assert preview.plane_slider.layout.display == "" and preview.plane_slider.max == 3
    assert "plane 1 of 3" in preview.status_text
    preview.view.pointer = [0, 0]
    assert re.match(r"x 0, y 0: 1\b", preview.view.readout)
    preview.plane_slider.value = 3
    assert preview.plane == 2 and "plane 3 of 3" in preview.status_text
    assert re.match(r"x 0, y 0: 3\b", preview.view.readout)  # the readout follows the plane
    preview.plane = 1
    assert preview.plane_slider.value == 2 and "plane 2 of 3" in preview.status_text


def test_plane_coordinate_reads_the_spectral_axis_in_the_header_unit() -> None:
    header = fits.Header()
    header.update({"NAXIS": 3, "NAXIS1": 4, "NAXIS2": 4, "NAXIS3": 5, "CTYPE1": "RA---TAN",
                   "CTYPE2": "DEC--TAN", "CTYPE3": "WAVE", "CUNIT3": "um", "CRVAL3": 2.87,
                   "CDELT3": 0.001, "CRPIX3": 1.0})
    assert plane_coordinate(header, 0) == "λ 2.87 um"
    assert plane_coordinate(header, 4) == "λ 2.874 um"
    del header["CTYPE3"]
    assert plane_coordinate(header, 1) == ""  # no spectral axis, no label
