"""FitsPreview: one file from storage as an image: HDU, stretch, colour map, WCS axes, header.

The file is opened lazily (``Storage.open_fits``); the chosen HDU's first 2-D plane is read
once and cached, then every stretch or colour-map change only re-renders. Rendering uses
matplotlib's object API (no pyplot state, Agg canvas) with WCSAxes when the header has a
celestial WCS, so the axes read RA/Dec; big images are shown strided to at most
``max_size`` pixels a side (the WCS is sliced the same way, so labels stay right).
"""

from __future__ import annotations

import html
import io
import math
import warnings
from typing import Any

import ipywidgets as widgets
import traitlets

from jwstnb.widgets.search import error_text, is_fits_key

__all__ = ["CMAPS", "STRETCHES", "FitsPreview", "hdu_choices", "make_norm", "render_png"]

STRETCHES: tuple[str, ...] = ("zscale", "asinh", "linear", "log")
# Offered first; every other matplotlib colormap follows.
CMAPS: tuple[str, ...] = ("gray", "viridis", "magma", "inferno", "plasma", "cividis", "afmhot")


def _header_int(header: Any, key: str) -> int:
    try:
        return int(header.get(key, 0) or 0)
    except (TypeError, ValueError):
        return 0


def hdu_choices(headers: list[tuple[str, Any]]) -> list[tuple[str, int, bool]]:
    """``(label, index, is_image)`` per HDU from its ``(name, header)``: ``1: SCI 2048x2048``,
    ``3: ASDF table, 1 row x 1 column``.

    An HDU is an image when it is not a table and has at least two axes of non-zero length.
    """
    out = []
    for index, (name, header) in enumerate(headers):
        naxis = _header_int(header, "NAXIS")
        dims = [_header_int(header, f"NAXIS{i}") for i in range(1, naxis + 1)]
        xtension = str(header.get("XTENSION", "IMAGE") or "IMAGE").strip().upper()
        is_image = xtension == "IMAGE" and naxis >= 2 and all(d > 0 for d in dims[:2])
        if xtension in ("BINTABLE", "TABLE"):
            rows, columns = _header_int(header, "NAXIS2"), _header_int(header, "TFIELDS")
            shape = f"table, {rows} row{'s' * (rows != 1)} x {columns} column{'s' * (columns != 1)}"
        else:
            shape = "x".join(str(d) for d in dims) if dims else "no data"
        out.append((f"{index}: {name or 'PRIMARY'} {shape}", index, is_image))
    return out


def default_hdu(choices: list[tuple[str, int, bool]], names: list[str]) -> int | None:
    """The HDU to show first: the first image named SCI, else the first image; None if none."""
    images = [index for _, index, ok in choices if ok]
    for index in images:
        if names[index].upper() == "SCI":
            return index
    return images[0] if images else None


def make_norm(data: Any, stretch: str) -> Any:
    """An astropy ImageNormalize for ``stretch`` (zscale, asinh, linear, log) on finite pixels."""
    import numpy as np
    from astropy.visualization import (
        AsinhStretch,
        ImageNormalize,
        LinearStretch,
        LogStretch,
        MinMaxInterval,
        PercentileInterval,
        ZScaleInterval,
    )

    choices = {
        "zscale": (ZScaleInterval(), LinearStretch()),
        "asinh": (PercentileInterval(99.5), AsinhStretch(0.1)),
        "linear": (MinMaxInterval(), LinearStretch()),
        "log": (PercentileInterval(99.5), LogStretch(1000)),
    }
    if stretch not in choices:
        raise ValueError(f"unknown stretch {stretch!r}; choose one of {', '.join(STRETCHES)}")
    interval, stretcher = choices[stretch]
    finite = np.asarray(data)[np.isfinite(data)]
    if finite.size == 0:
        raise ValueError("the image has no finite pixels to show")
    vmin, vmax = interval.get_limits(finite)
    if not vmax > vmin:
        vmin, vmax = float(finite.min()), float(finite.max())
        if not vmax > vmin:
            vmax = vmin + 1.0
    return ImageNormalize(vmin=vmin, vmax=vmax, stretch=stretcher, clip=True)


def _celestial_wcs(header: Any) -> Any:
    from astropy.wcs import WCS, FITSFixedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header)
    except Exception:
        return None
    if not wcs.has_celestial:
        return None
    celestial = wcs.celestial
    return celestial if celestial.naxis == 2 else None


def first_plane(data: Any) -> Any:
    """The first 2-D plane of an image array (cubes and stacks show their first plane)."""
    import numpy as np

    array = np.asarray(data)
    while array.ndim > 2:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"not an image: {array.ndim} axis(es)")
    return array


def render_png(
    data: Any,
    *,
    wcs: Any = None,
    stretch: str = "zscale",
    cmap: str = "gray",
    title: str = "",
    unit: str = "",
    max_size: int = 1024,
    figsize: float = 6.0,
) -> tuple[bytes, int]:
    """Render a 2-D array to PNG bytes; returns ``(png, step)`` where ``step`` is the stride
    used to bring the image under ``max_size`` pixels a side. With a celestial ``wcs`` the
    axes are RA/Dec (WCSAxes), else pixel numbers."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    array = first_plane(data).astype("float32", copy=False)
    step = max(1, math.ceil(max(array.shape) / max_size))
    if step > 1:
        array = array[::step, ::step]
        if wcs is not None:
            wcs = wcs.slice((slice(None, None, step), slice(None, None, step)))
    norm = make_norm(array, stretch)
    height, width = array.shape
    aspect = min(max(height / max(width, 1), 0.3), 3.0)
    fig = Figure(figsize=(figsize + 1.2, figsize * aspect), dpi=100)
    FigureCanvasAgg(fig)
    if wcs is not None:
        ax = fig.add_subplot(projection=wcs)
        ax.coords[0].set_axislabel("Right ascension")
        ax.coords[1].set_axislabel("Declination")
        ax.coords.grid(color="white", alpha=0.25, linestyle="dotted")
    else:
        ax = fig.add_subplot()
        ax.set_xlabel("x [pixel]" + (f" / {step}" if step > 1 else ""))
        ax.set_ylabel("y [pixel]" + (f" / {step}" if step > 1 else ""))
    shown = np.where(np.isfinite(array), array, np.nan)
    image = ax.imshow(shown, origin="lower", cmap=cmap, norm=norm, interpolation="nearest")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=unit or None)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue(), step


class FitsPreview(widgets.VBox):
    """A file from storage as an image, with HDU, stretch and colour-map controls and its header.

    ``FitsPreview(storage, key, *, ext=None, stretch="zscale", cmap="gray", max_size=1024)``;
    ``ext`` is an HDU index or name (default: the first SCI image, else the first image).
    Headers come from ``Storage.read_headers`` (no data read); the plane shown from
    ``Storage.image_data(key, ext, step=...)``, which reads only every ``step``-th row of a
    big image, so previews of remote files stay cheap.
    """

    key = traitlets.Unicode(help="storage key of the file shown")
    ext = traitlets.Int(-1, help="index of the HDU shown (-1: none)")
    stretch = traitlets.Unicode("zscale")
    cmap = traitlets.Unicode("gray")
    status_text = traitlets.Unicode("")
    state = traitlets.Unicode("idle", help="idle | loading | ready | error")
    png = traitlets.Bytes(b"", help="the rendered image (PNG)")

    def __init__(
        self,
        storage: Any,
        key: str,
        *,
        ext: int | str | None = None,
        stretch: str = "zscale",
        cmap: str = "gray",
        max_size: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        import matplotlib

        self.storage = storage
        self.max_size = max_size
        self.headers: list[Any] = []
        self._planes: dict[int, tuple[Any, int]] = {}  # HDU index -> (strided plane, step)
        self.add_class("jwstnb-preview")
        self.title = widgets.HTML()
        self.hdu_dropdown = widgets.Dropdown(
            description="HDU", layout=widgets.Layout(width="300px")
        )
        self.hdu_dropdown.add_class("jwstnb-hdu")
        self.stretch_buttons = widgets.ToggleButtons(
            options=list(STRETCHES), value=stretch, description="Stretch",
            style={"button_width": "64px"},
        )
        self.stretch_buttons.add_class("jwstnb-stretch")
        cmaps = [*CMAPS, *sorted(c for c in matplotlib.colormaps if c not in CMAPS)]
        self.cmap_dropdown = widgets.Dropdown(
            options=cmaps, value=cmap, description="Colours", layout=widgets.Layout(width="240px")
        )
        self.cmap_dropdown.add_class("jwstnb-cmap")
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
        self.image.add_class("jwstnb-preview-image")
        self.status = widgets.HTML()
        self.status.add_class("jwstnb-preview-status")
        self.header_view = widgets.HTML(
            layout=widgets.Layout(max_height="520px", overflow="auto", flex="1 1 360px")
        )
        self.header_view.add_class("jwstnb-preview-header")
        self.children = [
            self.title,
            widgets.HBox(
                [self.hdu_dropdown, self.cmap_dropdown], layout=widgets.Layout(flex_flow="row wrap")
            ),
            self.stretch_buttons,
            self.status,
            widgets.HBox(
                [self.image, self.header_view], layout=widgets.Layout(flex_flow="row wrap")
            ),
        ]
        self.stretch = stretch
        self.cmap = cmap
        self.hdu_dropdown.observe(self._on_hdu, "value")
        self.stretch_buttons.observe(lambda c: setattr(self, "stretch", c["new"]), "value")
        self.cmap_dropdown.observe(lambda c: setattr(self, "cmap", c["new"]), "value")
        self.observe(self._on_look, ["stretch", "cmap"])
        self.observe(self._on_ext, "ext")
        self.observe(self._on_status, ["status_text", "state"])
        self._open(key, ext)

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
                self._open_plain_image(key)
                return
            self.headers = list(self.storage.read_headers(key))
        except Exception as exc:
            self._fail(f"Cannot open {key}: {error_text(exc)}")
            return
        names = self.names
        choices = hdu_choices(list(zip(names, self.headers, strict=True)))
        self.hdu_dropdown.options = [(label, index) for label, index, _ in choices]
        if isinstance(ext, str):
            matches = [i for i, name in enumerate(names) if name.upper() == ext.upper()]
            index = matches[0] if matches else None
        else:
            index = ext if ext is not None else default_hdu(choices, names)
        if index is None or not 0 <= index < len(self.headers):
            self._show_header(0)
            self._fail(f"No image HDU {ext!r} to show" if ext is not None else
                       "This file has no image HDU to show; its header is shown instead.")
            return
        self.hdu_dropdown.value = index
        if self.ext == index:  # the observer does not fire for an unchanged value
            self._render()
        else:
            self.ext = index

    def _open_plain_image(self, key: str) -> None:
        self.hdu_dropdown.options = [("0: image", 0)]
        self.hdu_dropdown.disabled = True
        self.header_view.value = '<div class="jwstnb-note">Not a FITS file: no header.</div>'
        self.ext = 0

    def _on_hdu(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.ext = int(change["new"])

    def _on_ext(self, change: dict[str, Any]) -> None:
        if self.hdu_dropdown.value != change["new"]:
            self.hdu_dropdown.value = change["new"]
        self._render()

    def _on_look(self, change: dict[str, Any]) -> None:
        if self.stretch_buttons.value != self.stretch:
            self.stretch_buttons.value = self.stretch
        if self.cmap_dropdown.value != self.cmap:
            self.cmap_dropdown.value = self.cmap
        self._render()

    def _show_header(self, index: int) -> None:
        if not self.headers:
            return
        text = self.headers[index].tostring(sep="\n", endcard=False, padding=False)
        text = html.escape(text, quote=False)
        self.header_view.value = f'<pre style="font-size:11px;margin:0">{text}</pre>'

    def _plane(self, index: int) -> tuple[Any, int]:
        """The HDU's first plane, strided to at most ``max_size`` a side (read once)."""
        if index not in self._planes:
            if not self.headers:  # a JPG/PNG/TIFF
                plane = self.storage.image_data(self.key)
                step = max(1, math.ceil(max(plane.shape) / self.max_size))
                self._planes[index] = (plane[::step, ::step], step)
            else:
                header = self.headers[index]
                if _header_int(header, "NAXIS") < 2:
                    raise ValueError(f"HDU {index} ({self.names[index]}) has no image data")
                ny, nx = _header_int(header, "NAXIS2"), _header_int(header, "NAXIS1")
                step = max(1, math.ceil(max(nx, ny) / self.max_size))
                plane = self.storage.image_data(self.key, ext=index, step=step)
                self._planes[index] = (plane, step)
        return self._planes[index]

    def _render(self) -> None:
        index = self.ext
        if index < 0:
            return
        self.state = "loading"
        self.status_text = "Rendering..."
        try:
            wcs, unit = None, ""
            if self.headers:
                self._show_header(index)
                header = self.headers[index]
                wcs = _celestial_wcs(header)
                unit = str(header.get("BUNIT", "") or "")
            plane, step = self._plane(index)
            if wcs is not None and step > 1:
                wcs = wcs.slice((slice(None, None, step), slice(None, None, step)))
            png, _ = render_png(
                plane, wcs=wcs, stretch=self.stretch, cmap=self.cmap, unit=unit,
                max_size=max(plane.shape),
            )
        except Exception as exc:
            self._fail(f"Cannot show HDU {index}: {error_text(exc)}")
            return
        self.png = png
        self.image.value = png
        height, width = plane.shape
        if self.headers:
            width = _header_int(self.headers[index], "NAXIS1")
            height = _header_int(self.headers[index], "NAXIS2")
        shown = f", 1 pixel in {step} shown" if step > 1 else ""
        axes = "RA/Dec axes from the WCS" if wcs is not None else "pixel axes (no celestial WCS)"
        self.status_text = f"{width}x{height} pixels{shown} · {self.stretch} · {axes}"
        self.state = "ready"

    def _fail(self, message: str) -> None:
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
