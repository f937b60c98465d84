"""FitsPreview in a real browser: JupyterLab 4 and Debian Chromium through Playwright.

A notebook written here opens an i2d image (with a celestial WCS) and an x1d spectrum from a
``file://`` storage. The image is zoomed (buttons and wheel) and panned, the pointer is put on
a known pixel, and the readout must show that pixel's value and its RA/Dec as astropy
computes them; the spectrum must be drawn (its line's colour is on the picture). Screenshots
go to ``test-output/screenshots/``. Without Chromium the ``browser`` fixture fails the test.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from tests.fixtures_browser import JupyterServer, open_notebook, run_all_cells, screenshot

pytestmark = pytest.mark.browser

I2D = "mast/jw02733-o001_t001_nircam_clear-f090w/jw02733-o001_t001_nircam_clear-f090w_i2d.fits"
X1D = "mast/jw01366-o004_t001_nirspec/jw01366004001_04101_00001_nrs1_x1d.fits"
NY, NX = 200, 300
PIXEL = (149, 99)  # x, y (0-based) of the pixel the pointer is put on


def _wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [151.757, -40.437]
    wcs.wcs.crpix = [120, 80]
    wcs.wcs.cdelt = [-8.7e-6, 8.7e-6]
    return wcs


def _sci() -> np.ndarray:
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:NY, 0:NX]
    sci = 1 + rng.normal(0, 0.05, (NY, NX)) + 40 * np.exp(-((x - 150) ** 2 + (y - 100) ** 2) / 400)
    return sci.astype("float32")


def _write_files(store_root: Path) -> None:
    from jwstnb.storage import Storage

    storage = Storage(store_root.as_uri())
    image = fits.ImageHDU(_sci(), header=_wcs().to_header(), name="SCI")
    image.header["BUNIT"] = "MJy/sr"
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), image]).writeto(out)
    storage.write_bytes(I2D, out.getvalue())
    wave = np.linspace(2.87, 5.27, 400)
    flux = 1e-3 * (1 + 0.3 * np.exp(-((wave - 4.3) ** 2) / 0.01))
    table = fits.BinTableHDU.from_columns([
        fits.Column("WAVELENGTH", "D", unit="um", array=wave),
        fits.Column("FLUX", "D", unit="Jy", array=flux),
        fits.Column("FLUX_ERROR", "D", unit="Jy", array=np.full(400, 4e-5)),
    ], name="EXTRACT1D")
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(out)
    storage.write_bytes(X1D, out.getvalue())


def _notebook() -> dict[str, Any]:
    def code(source: str) -> dict[str, Any]:
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": source}

    return {
        "cells": [
            code("import os\nfrom jwstnb.storage import Storage\n"
                 "from jwstnb.widgets import FitsPreview\n"
                 "storage = Storage(os.environ['JWSTNB_STORAGE_URL'])"),
            code(f"image = FitsPreview(storage, {I2D!r})\nimage"),
            code(f"spectrum = FitsPreview(storage, {X1D!r})\nspectrum"),
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


@pytest.fixture(scope="module")
def preview_lab(
    browser: Any,
    jupyter_server: Callable[..., JupyterServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """JupyterLab with the preview notebook open and run; the page is yielded."""
    work = tmp_path_factory.mktemp("preview-lab")
    (work / "notebooks").mkdir()
    (work / "notebooks" / "preview.ipynb").write_text(json.dumps(_notebook()))
    _write_files(work / "store")
    server = jupyter_server(work / "notebooks", {
        "JWSTNB_STORAGE_URL": (work / "store").as_uri(),
        # configured (never contacted here), so no embedded database is started
        "JWSTNB_MONGO_URI": "mongodb://127.0.0.1:9/",
    })
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_notebook(page, server, "preview.ipynb")
        run_all_cells(page)
        page.locator(".jwstnb-preview").nth(1).wait_for(timeout=120_000)
    except Exception:
        screenshot(page, "preview-failed-to-load")
        print(server.log_tail())
        raise
    yield page
    context.close()


def expect(locator: Any) -> Any:
    """Playwright's retrying assertions (imported late: a missing Playwright must reach the
    ``browser`` fixture, which fails with instructions)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _transform(image: Any) -> str:
    return str(image.evaluate("img => img.style.transform"))


def _ra_seconds(label: str) -> float:
    match = re.fullmatch(r"(\d+)h(\d\d)m(?:([\d.]+)s)?", label)
    assert match, label
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3] or 0)


def _check_axes(preview: Any) -> list[str]:
    """The RA labels under the image and the Dec labels beside it read like coordinates,
    and each RA label sits where the image's bottom edge has that RA (astropy, 0.01 s)."""
    ra = preview.locator(".jwstnb-pv-axis-x .jwstnb-pv-ra")
    expect(ra.first).to_be_visible()
    dec_labels = preview.locator(".jwstnb-pv-axis-y .jwstnb-pv-dec").all_inner_texts()
    assert len(dec_labels) >= 2, dec_labels
    assert all(re.fullmatch(r"[+-]\d+°\d\d′(\d\d(\.\d+)?″)?", t) for t in dec_labels), dec_labels
    places = preview.evaluate("""el => {
        const vp = el.querySelector(".jwstnb-pv-viewport").getBoundingClientRect();
        const img = el.querySelector("img.jwstnb-preview-image").getBoundingClientRect();
        return {
            labels: [...el.querySelectorAll(".jwstnb-pv-ra")].map(
                (s) => [s.textContent, parseFloat(s.style.left)]),
            left: img.left - vp.left, top: img.top - vp.top,
            width: img.width, height: img.height, bottom: vp.height,
        };
    }""")
    assert len(places["labels"]) >= 2, places
    per_x, per_y = places["width"] / NX, places["height"] / NY
    edge = min(NY, (places["bottom"] - places["top"]) / per_y)  # image rows down to the edge
    for text, left in places["labels"]:
        x = (left - places["left"]) / per_x - 0.5
        y = NY - edge - 0.5
        ra_deg, _ = _wcs().pixel_to_world_values(x, y)
        assert abs(float(ra_deg) * 240 - _ra_seconds(text)) < 0.01, (text, x, y)
    return [text for text, _ in places["labels"]]


def test_zoom_pan_and_pixel_readout(preview_lab: Any) -> None:
    page = preview_lab
    preview = page.locator(".jwstnb-preview").first
    image = preview.locator("img.jwstnb-preview-image")
    page.wait_for_function("img => img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [NX, NY]
    expect(preview.locator(".jwstnb-preview-status")).to_contain_text(
        "300x200 pixels · zscale · RA/Dec axes and readout from the WCS"
    )
    expect(preview.locator(".jwstnb-pv-tick").first).to_be_visible()
    expect(preview.locator(".jwstnb-pv-unit")).to_have_text("MJy/sr")
    preview.locator(".jwstnb-pv-viewport").scroll_into_view_if_needed()
    expect(preview.locator(".jwstnb-pv-zoom")).to_have_text("1.0×")
    fitted = _transform(image)
    ra_labels = _check_axes(preview)

    preview.locator(".jwstnb-pv-zoom-in").click()
    preview.locator(".jwstnb-pv-zoom-in").click()
    expect(preview.locator(".jwstnb-pv-zoom")).to_have_text("2.3×")
    box = preview.locator(".jwstnb-pv-viewport").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)  # the wheel zooms in further, about the pointer
    page.wait_for_function(
        "el => parseFloat(el.textContent) > 2.3", arg=preview.locator(".jwstnb-pv-zoom")
        .element_handle(),
    )
    zoomed = _transform(image)
    assert zoomed != fitted
    assert _check_axes(preview) != ra_labels  # the axes follow the zoom
    page.mouse.down()  # drag to pan
    page.mouse.move(box["x"] + box["width"] / 2 - 60, box["y"] + box["height"] / 2 - 30,
                    steps=5)
    page.mouse.up()
    assert _transform(image) != zoomed

    # put the pointer on the centre of pixel PIXEL, wherever zoom and pan have put it
    rect = image.evaluate("img => { const r = img.getBoundingClientRect();"
                          " return [r.left, r.top, r.width, r.height]; }")
    x, y = PIXEL
    row = NY - 1 - y  # the picture is north up
    page.mouse.move(rect[0] + (x + 0.5) * rect[2] / NX, rect[1] + (row + 0.5) * rect[3] / NY)
    readout = preview.locator(".jwstnb-pv-readout")
    expect(readout).to_contain_text(f"x {x}, y {y}: ")
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    from jwstnb.widgets.preview import format_value

    sky = SkyCoord(*_wcs().pixel_to_world_values(x, y), unit="deg")
    ra = sky.ra.to_string(unit=u.hour, sep=":", precision=2, pad=True)
    dec = sky.dec.to_string(unit=u.deg, sep=":", precision=1, pad=True, alwayssign=True)
    value = format_value(float(_sci()[y, x]))
    expect(readout).to_contain_text(f"x {x}, y {y}: {value} MJy/sr · RA {ra} Dec {dec}")
    screenshot(page, "preview-zoom-readout")

    # the round trip (pointer -> kernel -> readout on screen) for the next pixel to the right
    latency = preview.evaluate("""(el, [px, py]) => new Promise((resolve) => {
        const out = el.querySelector(".jwstnb-pv-readout"), before = out.textContent;
        const start = performance.now();
        const watch = new MutationObserver(() => {
            if (out.textContent === before) return;
            watch.disconnect();
            resolve(performance.now() - start);
        });
        watch.observe(out, { childList: true, characterData: true, subtree: true });
        el.querySelector(".jwstnb-pv-viewport").dispatchEvent(
            new PointerEvent("pointermove", { clientX: px, clientY: py, bubbles: true }));
    })""", [rect[0] + (x + 1.5) * rect[2] / NX, rect[1] + (row + 0.5) * rect[3] / NY])
    expect(readout).to_contain_text(f"x {x + 1}, y {y}: ")
    print(f"readout round trip: {latency:.0f} ms")
    assert latency < 2000


def test_x1d_spectrum_is_drawn(preview_lab: Any) -> None:
    page = preview_lab
    preview = page.locator(".jwstnb-preview").nth(1)
    preview.scroll_into_view_if_needed()
    view = preview.locator(".jwstnb-pv")
    expect(view).to_have_attribute("data-kind", "plot")
    image = preview.locator("img.jwstnb-preview-image")
    page.wait_for_function("img => img.naturalWidth > 400", arg=image.element_handle())
    expect(preview.locator(".jwstnb-preview-status")).to_contain_text(
        "Spectrum EXTRACT1D: 400 wavelengths (um, Jy), with errors"
    )
    expect(preview.locator(".jwstnb-pv-bar")).to_be_hidden()  # no colour bar for a plot
    # the flux line (#1d4ed8) and the error band are on the picture the browser shows
    counts = image.evaluate("""img => {
        const c = document.createElement("canvas");
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext("2d"); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let line = 0, band = 0;
        for (let i = 0; i < d.length; i += 4) {
          const [r, gr, b] = [d[i], d[i + 1], d[i + 2]];
          const near = (v, want) => Math.abs(v - want) < 30;
          if (near(r, 0x1d) && near(gr, 0x4e) && near(b, 0xd8)) line++;
          else if (b > 200 && r > 150 && r < 235 && gr > 190 && gr < 240) band++;
        }
        return [line, band];
    }""")
    assert counts[0] > 300 and counts[1] > 300, counts
    preview.locator(".jwstnb-pv-viewport").scroll_into_view_if_needed()
    screenshot(page, "preview-x1d-spectrum")

    # an HDU without data: the plot goes, the message says what holds what
    preview.locator(".jwstnb-hdu select").select_option(label="0: PRIMARY no data")
    message = preview.locator(".jwstnb-pv-message")
    expect(message).to_have_text(
        "HDU 0 (PRIMARY) holds no image (no data). Spectra: HDU 1 (EXTRACT1D). "
        "This file has no image HDU."
    )
    expect(preview.locator(".jwstnb-pv-viewport")).to_be_hidden()
    assert image.get_attribute("src") is None
    screenshot(page, "preview-no-image")
