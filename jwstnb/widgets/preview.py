"""FitsPreview: one file from storage as an image or a spectrum, with zoom, pan and a pixel
readout.

The file is opened lazily: headers come from ``Storage.read_headers`` (no data read), an
image plane from ``Storage.image_data`` (every n-th row of a big image) or
``Storage.cutout`` (one plane of a cube), a spectrum's rows and columns from
``Storage.open_fits`` (see :mod:`jwstnb.widgets._spectra`). Every stretch goes through
:func:`jwstnb.imaging.normalise`, the one used by ``Storage.thumbnail`` too, so a thumbnail
and the preview of a file show the same pixel values.

The picture is drawn by a small browser view (``static/preview.js``): the Python side sends
the stretched, coloured image as a PNG (one PNG pixel per shown data pixel), the colour bar
and its ticks, and RA/Dec on a coarse pixel grid from which the view labels its axes for
whatever part is zoomed into; the view sends the pixel under the pointer back as the
``pointer`` trait, which the Python side answers with the pixel value and RA/Dec (astropy,
exact) in ``readout``. Everything is plain traitlets, so it is driven and tested without a browser.

"Send to..." sends the file to SAMP applications that load FITS images (DS9, Aladin; shown
only while a SAMP hub runs, :meth:`FitsPreview.send_to_samp`), and "Open in jdaviz" opens it
in the jdaviz configuration its kind calls for (shown only when jdaviz is installed,
:meth:`FitsPreview.open_in_jdaviz`).
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets as widgets
import traitlets

from jwstnb.imaging import STRETCHES, celestial_wcs, normalise, stride_for, to_png, to_uint8
from jwstnb.widgets._common import (
    SampLink,
    WidgetStorage,
    error_text,
    is_fits_key,
    samp_link,
    static_file,
)
from jwstnb.widgets._spectra import (
    Spectrum,
    SpectrumSource,
    header_int,
    read_spectrum,
    spectrum_columns,
    spectrum_png,
    spectrum_sources,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "CMAPS",
    "STRETCHES",
    "FitsPreview",
    "PreviewView",
    "colorbar_ticks",
    "default_hdu",
    "format_value",
    "hdu_choices",
    "no_image_message",
    "plane_coordinate",
    "world_grid",
]

# Perceptually uniform colour maps (and grey), each followed by its reverse.
_BASE_CMAPS = ("gray", "viridis", "magma", "inferno", "cividis")
CMAPS: tuple[str, ...] = tuple(name for base in _BASE_CMAPS for name in (base, f"{base}_r"))
# Bar positions closer than this (fraction of the bar's width) would make labels collide.
_TICK_GAP = 0.17
# Pixels sampled to place the colour-bar ticks (sorting a 1024x1024 image costs ~80 ms).
_TICK_SAMPLE = 65_536
# RA/Dec grid sent to the browser for its axis labels: points per side.
_GRID_POINTS = 17


def hdu_choices(headers: list[tuple[str, Any]]) -> list[tuple[str, int, bool]]:
    """``(label, index, is_image)`` per HDU from its ``(name, header)``: ``1: SCI 2048x2048``,
    ``3: ASDF table, 1 row x 1 column``.

    An HDU is an image when it is not a table and has at least two axes of non-zero length.
    """
    out = []
    for index, (name, header) in enumerate(headers):
        naxis = header_int(header, "NAXIS")
        dims = [header_int(header, f"NAXIS{i}") for i in range(1, naxis + 1)]
        xtension = str(header.get("XTENSION", "IMAGE") or "IMAGE").strip().upper()
        is_image = xtension == "IMAGE" and naxis >= 2 and all(d > 0 for d in dims[:2])
        if xtension in ("BINTABLE", "TABLE"):
            rows, columns = header_int(header, "NAXIS2"), header_int(header, "TFIELDS")
            shape = f"table, {rows} row{'s' * (rows != 1)} x {columns} column{'s' * (columns != 1)}"
            shape += " (spectrum)" if spectrum_columns(header) else ""
        else:
            shape = "x".join(str(d) for d in dims) if dims else "no data"
        out.append((f"{index}: {name or 'PRIMARY'} {shape}", index, is_image))
    return out


def default_hdu(choices: list[tuple[str, int, bool]], names: list[str]) -> int | None:
    """The image HDU to show first: the first image named SCI, else the first image; None
    if the file has no image."""
    images = [index for _, index, ok in choices if ok]
    for index in images:
        if names[index].upper() == "SCI":
            return index
    return images[0] if images else None


def no_image_message(index: int, choices: list[tuple[str, int, bool]], names: list[str],
                     spectra: list[int] | None = None) -> str:
    """What to say when HDU ``index`` holds no image: what it holds, and which HDUs do."""
    label = choices[index][0].split(" ", 2)
    what = label[2] if len(label) > 2 else "no data"
    images = [f"{i} ({names[i] or 'PRIMARY'})" for _, i, ok in choices if ok]
    text = f"HDU {index} ({names[index] or 'PRIMARY'}) holds no image ({what})."
    if spectra:
        text += " Spectra: HDU " + ", ".join(f"{i} ({names[i]})" for i in spectra) + "."
    if images:
        return f"{text} Images: HDU {', '.join(images)}."
    return f"{text} This file has no image HDU."


def format_value(value: float) -> str:
    """A short label for a data value: 3 significant digits, scientific outside 1e-3..1e4."""
    import numpy as np

    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    if 1e-3 <= abs(value) < 1e4:
        return str(
            np.format_float_positional(value, precision=3, fractional=False, trim="-")
        )
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _nice(value: float, direction: int) -> float:
    """``value`` rounded to two significant digits, towards +inf (1), -inf (-1) or nearest."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10.0 ** (math.floor(math.log10(abs(value))) - 1)
    rounder = {1: math.ceil, -1: math.floor}.get(direction, round)
    return float(rounder(value / scale) * scale)


def colorbar_ticks(
    values: Any, normalised: Any, count: int = 5, min_gap: float = _TICK_GAP
) -> list[tuple[float, str]]:
    """Colour-bar ticks ``(position in [0, 1], label)`` for an image and its stretched values.

    Ticks sit near evenly spaced positions along the bar (so log and asinh stretches do not
    bunch them at one end), each at a value rounded to two significant digits; ticks closer
    than ``min_gap`` to the previous one are dropped. Positions are read off the image's own
    (value, stretched value) pairs, so they follow whichever stretch
    :func:`jwstnb.imaging.normalise` applied, without a second copy of its formulas.
    """
    import numpy as np

    data = np.asarray(values, dtype=np.float64).ravel()
    scaled = np.asarray(normalised, dtype=np.float64).ravel()
    finite = np.isfinite(data)
    data, scaled = data[finite], scaled[finite]
    if data.size == 0:
        return []
    if data.size > _TICK_SAMPLE:
        pick = np.linspace(0, data.size - 1, _TICK_SAMPLE).astype(np.int64)
        data, scaled = data[pick], scaled[pick]
    order = np.argsort(data, kind="stable")
    data, scaled = data[order], np.maximum.accumulate(scaled[order])
    lowest, highest = data[0], data[-1]
    low = data[max(0, int(np.searchsorted(scaled, 0.0, side="right")) - 1)]
    high = data[min(data.size - 1, int(np.searchsorted(scaled, 1.0, side="left")))]
    ticks: list[tuple[float, str]] = []
    for i, target in enumerate(np.linspace(0.0, 1.0, count)):
        if i == 0:
            value = _nice(float(low), 1 if low > lowest else 0)
        elif i == count - 1:
            value = _nice(float(high), -1 if high < highest else 0)
        else:
            raw = data[min(data.size - 1, int(np.searchsorted(scaled, target)))]
            value = _nice(float(raw), 0)
        position = float(np.interp(value, data, scaled))
        label = format_value(value)
        if ticks and (position - ticks[-1][0] < min_gap or label == ticks[-1][1]):
            if i == count - 1 and position - ticks[-1][0] >= min_gap / 2 and len(ticks) > 1:
                ticks[-1] = (position, label)  # keep the top of the bar labelled
            continue
        ticks.append((position, label))
    return ticks


def world_grid(wcs: Any, height: int, width: int, points: int = _GRID_POINTS) -> dict[str, Any]:
    """RA/Dec (degrees) of a ``points`` x ``points`` grid spanning an image's pixel edges,
    for the browser view's axis labels (it interpolates between grid points; on a JWST field
    of view the grid is fine enough for 1 mas). ``x`` and ``y`` are the grid's 0-based pixel
    positions; ``ra`` and ``dec`` run row by row, RA unwrapped around the image centre."""
    import numpy as np

    xs = np.linspace(-0.5, width - 0.5, points)
    ys = np.linspace(-0.5, height - 0.5, points)
    gx, gy = np.meshgrid(xs, ys)
    ra, dec = (np.asarray(v, dtype=np.float64) for v in wcs.pixel_to_world_values(gx, gy))
    centre = float(ra[points // 2, points // 2])
    ra = (ra - centre + 180.0) % 360.0 - 180.0 + centre
    return {"x": xs.tolist(), "y": ys.tolist(), "ra": ra.ravel().tolist(),
            "dec": dec.ravel().tolist()}


def plane_coordinate(header: Any, plane: int) -> str:
    """The spectral coordinate of a cube's plane (``λ 2.872 um``) from its header's WCS, in
    the header's own unit (``CUNIT3``); empty when the cube has no spectral axis."""
    import warnings

    from astropy import units as u
    from astropy.wcs import WCS, FITSFixedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            spectral = WCS(header).spectral
        if spectral.naxis != 1 or not spectral.has_spectral:
            return ""
        value = spectral.pixel_to_world(plane)
        unit = str(header.get("CUNIT3", "") or "").strip()
        quantity = u.Quantity(value).to(u.Unit(unit), equivalencies=u.spectral()) if unit else (
            u.Quantity(value)
        )
    except Exception:  # a cube without a readable spectral WCS is shown without it
        return ""
    symbol = {"WAVE": "λ", "FREQ": "ν"}.get(str(header.get("CTYPE3", ""))[:4].upper(), "")
    label = f"{quantity.value:.6g} {quantity.unit.to_string()}"
    return f"{symbol} {label}" if symbol else label


def _sexagesimal(ra: float, dec: float) -> str:
    from astropy import units as u
    from astropy.coordinates import Angle

    ra_text = Angle(ra % 360.0, u.deg).to_string(unit=u.hour, sep=":", precision=2, pad=True)
    dec_text = Angle(dec, u.deg).to_string(
        unit=u.deg, sep=":", precision=1, pad=True, alwayssign=True
    )
    return f"RA {ra_text} Dec {dec_text} ({ra % 360.0:.5f}°, {dec:+.5f}°)"


class PreviewView(anywidget.AnyWidget):
    """The browser view: the image (zoom with the wheel or the buttons, pan by dragging), the
    colour bar, and the readout of the pixel under the pointer.

    ``kind`` is ``image`` (pixels: readout and colour bar), ``plot`` (a rendered spectrum)
    or ``none`` (``message`` is shown instead). The view sets ``pointer`` to ``[x, y]``
    (0-based pixel of the full-resolution HDU) and ``zoom``; the Python side sets the rest.
    """

    _esm = static_file("preview.js")
    _css = static_file("preview.css")
    png = traitlets.Bytes(b"", help="the picture (PNG), one pixel per shown data pixel").tag(
        sync=True
    )
    kind = traitlets.Unicode("none").tag(sync=True)
    shape = traitlets.List(traitlets.Int(), [0, 0], help="shown [height, width]").tag(sync=True)
    step = traitlets.Int(1, help="one shown pixel per step data pixels").tag(sync=True)
    bar_png = traitlets.Bytes(b"", help="the colour map as a 256x1 PNG").tag(sync=True)
    ticks: traitlets.List[Any] = traitlets.List(help="[[position 0..1, label], ...]").tag(
        sync=True
    )
    unit = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    pointer = traitlets.List(traitlets.Int(), help="[x, y] under the pointer").tag(sync=True)
    readout = traitlets.Unicode("").tag(sync=True)
    world_grid = traitlets.Dict(help="RA/Dec on a coarse pixel grid (see world_grid)").tag(
        sync=True
    )
    zoom = traitlets.Float(1.0, help="magnification relative to fitting the view").tag(
        sync=True
    )


class FitsPreview(widgets.VBox):  # type: ignore[misc]
    """A file from storage as an image or a spectrum, with its controls and its header.

    ``FitsPreview(storage, key, *, ext=None, stretch="zscale", cmap="gray", max_size=1024)``;
    ``ext`` is an HDU index or name (default: the first SCI image, else the first spectrum,
    else the first image). Images larger than ``max_size`` a side are read every n-th row and
    column only. Cubes (s3d) get a plane slider and read one plane at a time; spectra (x1d,
    c1d, x1dints) are drawn as flux against wavelength with their error band, with a selector
    for the integration (or slit) shown, reading only that spectrum's rows and columns.
    """

    key = traitlets.Unicode(help="storage key of the file shown")
    ext = traitlets.Int(-1, help="index of the HDU shown (-1: none)")
    stretch = traitlets.Unicode("zscale")
    cmap = traitlets.Unicode("gray")
    plane = traitlets.Int(0, help="plane of a cube shown (0-based)")
    spectrum = traitlets.Int(0, help="index into ``spectra`` of the spectrum shown")
    status_text = traitlets.Unicode("")
    state = traitlets.Unicode("idle", help="idle | loading | ready | empty | error")
    png = traitlets.Bytes(b"", help="the picture shown (PNG); empty when nothing is shown")

    def __init__(
        self,
        storage: WidgetStorage,
        key: str,
        *,
        ext: int | str | None = None,
        stretch: str = "zscale",
        cmap: str = "gray",
        max_size: int = 1024,
        samp: SampLink | bool | None = None,
        viz_open: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.storage = storage
        self.max_size = max_size
        self._samp_arg = samp
        self._samp: SampLink | None = None
        self._viz_open = viz_open
        self.headers: list[Any] = []
        self.spectra: list[SpectrumSource] = []
        self.normalised: NDArray[np.float64] | None = None  # the stretched plane shown
        self._planes: dict[tuple[int, int], tuple[Any, int]] = {}  # (HDU, plane) -> data, step
        self._spectrum_cache: dict[int, Spectrum] = {}
        self._shown: tuple[Any, int, Any] | None = None  # plane, step, wcs (for the readout)
        self._unit = ""
        self.add_class("jwstnb-preview")
        self.title = widgets.HTML()
        self.hdu_dropdown = widgets.Dropdown(
            description="HDU", layout=widgets.Layout(width="320px")
        )
        self.hdu_dropdown.add_class("jwstnb-hdu")
        self.stretch_buttons = widgets.ToggleButtons(
            options=list(STRETCHES), value=stretch, description="Stretch",
            style={"button_width": "64px"},
        )
        self.stretch_buttons.add_class("jwstnb-stretch")
        self.cmap_dropdown = widgets.Dropdown(
            options=[(n.replace("_r", " (reversed)"), n) for n in CMAPS], value=cmap,
            description="Colours", layout=widgets.Layout(width="240px"),
        )
        self.cmap_dropdown.add_class("jwstnb-cmap")
        # 1-based like the status line ("plane 2 of 3"); x1dints may hold thousands of
        # integrations, so sliders rather than drop-downs
        self.plane_slider = self._slider("Plane", "jwstnb-plane")
        self.spectrum_slider = self._slider("Spectrum", "jwstnb-spectrum")
        self.view = PreviewView()
        self.view.add_class("jwstnb-preview-view")
        self.image = self.view
        self.status = widgets.HTML()
        self.status.add_class("jwstnb-preview-status")
        self.header_view = widgets.HTML(
            layout=widgets.Layout(max_height="560px", overflow="auto", flex="1 1 280px")
        )
        self.header_view.add_class("jwstnb-preview-header")
        row = widgets.Layout(flex_flow="row wrap", align_items="center")
        self.samp_button = widgets.Button(
            description="Send to...", icon="share-square", layout=widgets.Layout(
                width="auto", display="none"),
            tooltip="Send this file to DS9, Aladin... (SAMP image.load.fits)",
        )
        self.samp_button.add_class("jwstnb-samp-send")
        self.jdaviz_button = widgets.Button(
            description="Open in jdaviz", icon="external-link", layout=widgets.Layout(
                width="auto", display="none"),
            tooltip="Imviz for images, Specviz for spectra, Cubeviz for cubes",
        )
        self.jdaviz_button.add_class("jwstnb-open-jdaviz")
        self.jdaviz_box = widgets.VBox()
        self.jdaviz_box.add_class("jwstnb-jdaviz-box")
        self.children = [
            self.title,
            widgets.HBox([self.hdu_dropdown, self.cmap_dropdown, self.samp_button,
                          self.jdaviz_button], layout=row),
            widgets.HBox([self.plane_slider, self.spectrum_slider], layout=row),
            self.stretch_buttons,
            self.status,
            widgets.HBox(
                [self.view, self.header_view],
                layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"),
            ),
            self.jdaviz_box,
        ]
        self.stretch = stretch
        self.cmap = cmap
        self.hdu_dropdown.observe(self._on_hdu, "value")
        self.stretch_buttons.observe(lambda c: setattr(self, "stretch", c["new"]), "value")
        self.cmap_dropdown.observe(lambda c: setattr(self, "cmap", c["new"]), "value")
        self.plane_slider.observe(lambda c: setattr(self, "plane", c["new"] - 1), "value")
        self.spectrum_slider.observe(lambda c: setattr(self, "spectrum", c["new"] - 1), "value")
        self.observe(self._on_look, ["stretch", "cmap"])
        self.observe(self._on_ext, "ext")
        self.observe(self._on_plane, "plane")
        self.observe(self._on_spectrum, "spectrum")
        self.observe(self._on_status, ["status_text", "state"])
        self.view.observe(self._on_pointer, "pointer")
        self.samp_button.on_click(lambda _: self._samp_clicked())
        self.jdaviz_button.on_click(lambda _: self._jdaviz_clicked())
        self._open(key, ext)
        self.refresh_samp()
        self._show_jdaviz_button()

    @staticmethod
    def _slider(description: str, css_class: str) -> widgets.IntSlider:
        slider = widgets.IntSlider(
            value=1, min=1, max=1, description=description, continuous_update=False,
            layout=widgets.Layout(width="360px", display="none"),
        )
        slider.add_class(css_class)
        return slider

    # --- loading -----------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """HDU names (EXTNAME; PRIMARY for the first), in file order."""
        return [
            str(h.get("EXTNAME") or ("PRIMARY" if i == 0 else "")).strip()
            for i, h in enumerate(self.headers)
        ]

    def _open(self, key: str, ext: int | str | None) -> None:
        self.key = key
        self.title.value = f"<b>{html.escape(key.rsplit('/', 1)[-1])}</b>"
        self.state = "loading"
        self.status_text = "Opening..."
        try:
            if not is_fits_key(key):
                self._open_plain_image()
                return
            self.headers = list(self.storage.read_headers(key))
        except Exception as exc:
            self._fail(f"Cannot open {key}: {error_text(exc)}")
            return
        names = self.names
        choices = hdu_choices(list(zip(names, self.headers, strict=True)))
        self.spectra = spectrum_sources(self.headers, per_integration="ints" in key.lower())
        self.spectrum_slider.max = max(1, len(self.spectra))
        self.spectrum_slider.description = "Integration" if "ints" in key.lower() else "Spectrum"
        self.hdu_dropdown.options = [(label, index) for label, index, _ in choices]
        if isinstance(ext, str):
            matches = [i for i, name in enumerate(names) if name.upper() == ext.upper()]
            index = matches[0] if matches else None
        elif ext is not None:
            index = ext if 0 <= ext < len(self.headers) else None
        else:
            index = default_hdu(choices, names)
            if index is None or (self.spectra and names[index].upper() != "SCI"):
                index = self.spectra[0].hdu if self.spectra else index
        if index is None:
            self._show_header(0)
            self._fail(
                f"No HDU {ext!r} in this file; it has {', '.join(names)}" if ext is not None
                else "This file has no image or spectrum to show; its header is shown instead."
            )
            return
        self.hdu_dropdown.value = index
        if self.ext == index:  # the observer does not fire for an unchanged value
            self._render()
        else:
            self.ext = index

    def _open_plain_image(self) -> None:
        self.hdu_dropdown.options = [("0: image", 0)]
        self.hdu_dropdown.disabled = True
        self.header_view.value = '<div class="jwstnb-note">Not a FITS file: no header.</div>'
        self.ext = 0

    # --- controls ----------------------------------------------------------------------

    def _on_hdu(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.ext = int(change["new"])

    def _on_ext(self, change: dict[str, Any]) -> None:
        if self.hdu_dropdown.value != change["new"]:
            self.hdu_dropdown.value = change["new"]
        here = [i for i, s in enumerate(self.spectra) if s.hdu == change["new"]]
        if here and self.spectra[self.spectrum].hdu != change["new"]:
            self.spectrum = here[0]  # renders
            return
        self._render()

    def _on_spectrum(self, change: dict[str, Any]) -> None:
        if not 0 <= change["new"] < len(self.spectra):
            return
        if self.spectrum_slider.value != change["new"] + 1:
            self.spectrum_slider.value = change["new"] + 1
        source = self.spectra[change["new"]]
        if self.ext != source.hdu:
            self.ext = source.hdu  # renders
        else:
            self._render()

    def _on_plane(self, change: dict[str, Any]) -> None:
        if self.plane_slider.value != change["new"] + 1:
            self.plane_slider.value = change["new"] + 1
        self._render()

    def _on_look(self, change: dict[str, Any]) -> None:
        if self.stretch_buttons.value != self.stretch:
            self.stretch_buttons.value = self.stretch
        if self.cmap_dropdown.value != self.cmap:
            self.cmap_dropdown.value = self.cmap
        if self.view.kind == "image":
            self._render()

    def _show_header(self, index: int) -> None:
        if not self.headers:
            return
        text = self.headers[index].tostring(sep="\n", endcard=False, padding=False)
        text = html.escape(text, quote=False)
        self.header_view.value = f'<pre style="font-size:11px;margin:0">{text}</pre>'

    # --- reading -----------------------------------------------------------------------

    def _planes_in(self, index: int) -> int:
        """How many planes the HDU's slider offers (the axis before the last two)."""
        if not self.headers:
            return 1
        naxis = header_int(self.headers[index], "NAXIS")
        return max(1, header_int(self.headers[index], "NAXIS3")) if naxis >= 3 else 1

    def _plane(self, index: int, plane: int) -> tuple[Any, int]:
        """Plane ``plane`` of the HDU, strided to at most ``max_size`` a side (read once)."""
        if (index, plane) not in self._planes:
            if not self.headers:  # a JPG/PNG/TIFF
                data = self.storage.image_data(self.key)
                step = stride_for(data.shape, self.max_size)
                self._planes[index, plane] = (data[::step, ::step], step)
            else:
                header = self.headers[index]
                ny, nx = header_int(header, "NAXIS2"), header_int(header, "NAXIS1")
                step = stride_for((ny, nx), self.max_size)
                if plane == 0:  # strided reads of the first plane
                    data = self.storage.image_data(self.key, ext=index, step=step)
                else:
                    cut = self.storage.cutout(self.key, index, plane=plane)
                    data = cut.data[::step, ::step].astype("float32")
                self._planes[index, plane] = (data, step)
        return self._planes[index, plane]

    # --- rendering ---------------------------------------------------------------------

    def _render(self) -> None:
        index = self.ext
        if index < 0:
            return
        self.state = "loading"
        self.status_text = "Rendering..."
        self._show_header(index)
        try:
            if self.headers and spectrum_columns(self.headers[index]) is not None:
                self._render_spectrum()
            elif self.headers and not hdu_choices(
                [(self.names[index], self.headers[index])]
            )[0][2]:
                self._render_nothing(index)
            else:
                self._render_image(index)
        except Exception as exc:
            self._fail(f"Cannot show HDU {index}: {error_text(exc)}")

    def _clear(self) -> None:
        self.png = b""
        self.normalised = None
        self._shown = None
        self.view.png = b""
        self.view.readout = ""
        self.view.world_grid = {}

    def _render_nothing(self, index: int) -> None:
        names = self.names
        choices = hdu_choices(list(zip(names, self.headers, strict=True)))
        spectra = sorted({s.hdu for s in self.spectra})
        message = no_image_message(index, choices, names, spectra)
        self._clear()
        self._show_controls(planes=1, spectra=False)
        self.view.kind = "none"
        self.view.message = message  # the whole story in the view; a short status line
        self.status_text = f"HDU {index} ({names[index] or 'PRIMARY'}): nothing to draw"
        self.state = "empty"

    def _show_controls(self, *, planes: int, spectra: bool) -> None:
        self.plane_slider.layout.display = "" if planes > 1 else "none"
        self.plane_slider.max = max(1, planes)
        self.spectrum_slider.layout.display = "" if spectra and len(self.spectra) > 1 else "none"
        for control in (self.stretch_buttons, self.cmap_dropdown):  # pixels only
            control.disabled = spectra
            control.layout.display = "none" if spectra else ""

    def _render_image(self, index: int) -> None:
        planes = self._planes_in(index)
        plane_no = min(self.plane, planes - 1)
        data, step = self._plane(index, plane_no)
        wcs, unit = None, ""
        if self.headers:
            header = self.headers[index]
            wcs = celestial_wcs(header)
            unit = str(header.get("BUNIT", "") or "").strip()
        full_shape = (data.shape[0] * step, data.shape[1] * step)
        if self.headers:
            full_shape = (header_int(header, "NAXIS2"), header_int(header, "NAXIS1"))
        normalised = normalise(data, self.stretch)
        grey = self.cmap == "gray"  # 8-bit grey, byte for byte what a thumbnail shows
        png = to_png(normalised, cmap=None if grey else self.cmap)
        bar = to_png([[v / 255.0 for v in range(256)]], cmap=None if grey else self.cmap)
        self._show_controls(planes=planes, spectra=False)
        self.normalised = normalised
        self._shown = (data, step, wcs)
        self._unit = unit
        view = self.view
        with view.hold_sync():
            view.kind = "image"
            view.message = ""
            view.shape = [int(data.shape[0]), int(data.shape[1])]
            view.step = step
            view.unit = unit
            view.world_grid = {} if wcs is None else world_grid(wcs, *full_shape)
            view.ticks = [[p, label] for p, label in colorbar_ticks(data, normalised)]
            view.bar_png = bar
            view.png = png
            view.readout = self.readout_at(*view.pointer) if len(view.pointer) == 2 else ""
        self.png = png
        parts = [f"{full_shape[1]}x{full_shape[0]} pixels"]
        if step > 1:
            parts[0] += f", 1 pixel in {step} shown"
        if planes > 1:
            where = plane_coordinate(self.headers[index], plane_no) if self.headers else ""
            parts.append(f"plane {plane_no + 1} of {planes}" + (f" ({where})" if where else ""))
        parts.append(self.stretch)
        parts.append("RA/Dec axes and readout from the WCS" if wcs is not None else
                     "no celestial WCS")
        self.status_text = " · ".join(parts)
        self.state = "ready"

    def _render_spectrum(self) -> None:
        number = self.spectrum
        source = self.spectra[number]
        if number not in self._spectrum_cache:
            with self.storage.open_fits(self.key, check=False) as hdul:
                self._spectrum_cache[number] = read_spectrum(hdul[source.hdu], source)
        spectrum = self._spectrum_cache[number]
        png = spectrum_png(spectrum, f"{self.key.rsplit('/', 1)[-1]}: {spectrum.label}")
        self._show_controls(planes=1, spectra=True)
        self.normalised = None
        self._shown = None
        with self.view.hold_sync():
            self.view.kind = "plot"
            self.view.message = ""
            self.view.ticks = []
            self.view.png = png
            self.view.readout = ""
        self.png = png
        which = f" · {len(self.spectra)} spectra" if len(self.spectra) > 1 else ""
        units = f"{spectrum.wavelength_unit or 'no unit'}, {spectrum.flux_unit or 'no unit'}"
        self.status_text = (
            f"Spectrum {spectrum.label}: {spectrum.wavelength.size} wavelengths ({units})"
            f"{', with errors' if spectrum.error is not None else ', no error column'}{which}"
        )
        self.state = "ready"

    # --- readout -----------------------------------------------------------------------

    def readout_at(self, x: int, y: int) -> str:
        """The value (with BUNIT) and RA/Dec of pixel ``(x, y)`` (0-based, full-resolution
        HDU pixels) of the image shown; for a strided image, the shown pixel covering it.
        Empty when no image is shown or the pixel is outside it."""
        if self._shown is None:
            return ""
        data, step, wcs = self._shown
        row, column = int(y) // step, int(x) // step
        if not (0 <= row < data.shape[0] and 0 <= column < data.shape[1]):
            return ""
        value = float(data[row, column])
        text = f"x {x}, y {y}: {format_value(value) if math.isfinite(value) else 'NaN'}"
        text += f" {self._unit}" if self._unit else ""
        if wcs is not None:
            ra, dec = wcs.pixel_to_world_values(float(x), float(y))
            text += " · " + _sexagesimal(float(ra), float(dec))
        return text

    def _on_pointer(self, change: dict[str, Any]) -> None:
        point = change["new"]
        self.view.readout = self.readout_at(point[0], point[1]) if len(point) == 2 else ""

    def grey_pixels(self) -> NDArray[np.uint8] | None:
        """The shown image as 8-bit grey levels, north up (as in the PNG), before colours."""
        return None if self.normalised is None else to_uint8(self.normalised)[::-1]

    # --- status ------------------------------------------------------------------------

    # --- SAMP and jdaviz ------------------------------------------------------------------

    def refresh_samp(self) -> bool:
        """Show "Send to..." when a SAMP hub runs and the file is FITS; returns whether."""
        try:
            link = self._samp if self._samp is not None else samp_link(self._samp_arg)
            running = link is not None and is_fits_key(self.key) and link.hub_running()
        except Exception:
            link, running = None, False
        self._samp = link
        self.samp_button.layout.display = "" if running else "none"
        return running

    def send_to_samp(self, recipient: str | None = None) -> str:
        """Send the file shown to SAMP applications that load FITS (or ``recipient``, a
        client id or name); returns the SAMP image id."""
        if self._samp is None and not self.refresh_samp():
            from jwstnb.interop.samp import SampError

            raise SampError("no SAMP hub is running: start DS9 or Aladin, then call "
                            "preview.refresh_samp()")
        assert self._samp is not None
        return self._samp.send_image(self.key, self.storage, recipient=recipient)

    def _samp_clicked(self) -> None:
        try:
            self.send_to_samp()
        except Exception as exc:
            self.status_text = f"Send failed: {error_text(exc)}"
            return
        self.status_text = f"Sent {self.key.rsplit('/', 1)[-1]} to the SAMP applications"

    def _viz(self) -> Any:
        if self._viz_open is not None:
            return self._viz_open
        import importlib.util

        if importlib.util.find_spec("jdaviz") is None:
            return None
        from jwstnb.interop.viz import open as viz_open

        return viz_open

    def _show_jdaviz_button(self) -> None:
        shown = is_fits_key(self.key) and self._viz() is not None
        self.jdaviz_button.layout.display = "" if shown else "none"

    def open_in_jdaviz(self) -> Any:
        """Open the file in jdaviz (Imviz, Specviz, Cubeviz or Specviz2d by its kind), shown
        under the preview; returns the jdaviz app."""
        opener = self._viz()
        if opener is None:
            raise ImportError("jdaviz is not installed: pip install 'jwstnb[viz]'")
        app = opener(self.key, self.storage)
        shown = getattr(app, "app", None)
        if isinstance(shown, widgets.DOMWidget):
            self.jdaviz_box.children = [shown]
        else:
            output = widgets.Output()
            output.append_display_data(app)
            self.jdaviz_box.children = [output]
        return app

    def _jdaviz_clicked(self) -> None:
        try:
            self.open_in_jdaviz()
        except Exception as exc:
            self.status_text = f"Cannot open in jdaviz: {error_text(exc)}"

    def _fail(self, message: str) -> None:
        """Nothing can be drawn: the old picture goes; the status line (red) says why."""
        self._clear()
        self.view.kind = "none"
        self.view.message = ""
        self.status_text = message
        self.state = "error"

    def _on_status(self, change: dict[str, Any]) -> None:
        colour = "#b91c1c" if self.state == "error" else "#374151"
        self.status.value = (
            f'<span class="jwstnb-status-{self.state}" style="color:{colour}">'
            f"{html.escape(self.status_text)}</span>"
        )

    def open_fits(self) -> Any:
        """The file as an astropy HDUList (``Storage.open_fits``; lazy)."""
        return self.storage.open_fits(self.key)
