"""1-D spectra in FITS tables (JWST x1d, c1d, x1dints): which HDUs hold them, reading one
spectrum's columns only, and drawing flux against wavelength with its error band.

A JWST extracted spectrum is a BINTABLE (EXTNAME ``EXTRACT1D``) with ``WAVELENGTH``,
``FLUX`` and ``FLUX_ERROR`` (older files: ``ERROR``) columns, units in ``TUNITn``. An x1d
holds one row per wavelength; an x1dints holds one spectrum per integration, either as one
EXTRACT1D HDU per integration or as one table whose rows are integrations and whose cells are
arrays. numpy, astropy and matplotlib are imported inside the functions.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "Spectrum",
    "SpectrumSource",
    "header_int",
    "read_spectrum",
    "spectrum_columns",
    "spectrum_png",
    "spectrum_sources",
]

WAVELENGTH = "WAVELENGTH"
FLUX = "FLUX"
# Error columns, in order of preference (jwst >= 1.0 writes FLUX_ERROR).
ERRORS = ("FLUX_ERROR", "ERROR", "FLUX_ERR")


@dataclass(frozen=True)
class SpectrumSource:
    """Where one spectrum lives: HDU ``hdu``, and ``row`` when the table's rows are
    integrations (None: the whole table, one row per wavelength)."""

    hdu: int
    row: int | None
    label: str


@dataclass(frozen=True)
class Spectrum:
    """Flux (and its error, if the file has one) against wavelength, with their units."""

    wavelength: NDArray[np.float64]
    flux: NDArray[np.float64]
    error: NDArray[np.float64] | None
    wavelength_unit: str
    flux_unit: str
    label: str


def header_int(header: Any, key: str) -> int:
    """An integer header card, 0 when it is missing or not a number."""
    try:
        return int(header.get(key, 0) or 0)
    except (TypeError, ValueError):
        return 0


def spectrum_columns(header: Any) -> dict[str, str] | None:
    """``{"wavelength": name, "flux": name, "error": name?}`` (names as spelled in the table)
    for a BINTABLE header with wavelength and flux columns; None for any other HDU."""
    if str(header.get("XTENSION", "") or "").strip().upper() != "BINTABLE":
        return None
    names: dict[str, str] = {}
    for i in range(1, header_int(header, "TFIELDS") + 1):
        name = str(header.get(f"TTYPE{i}", "") or "").strip()
        names.setdefault(name.upper(), name)
    if WAVELENGTH not in names or FLUX not in names:
        return None
    found = {"wavelength": names[WAVELENGTH], "flux": names[FLUX]}
    error = next((names[e] for e in ERRORS if e in names), None)
    if error is not None:
        found["error"] = error
    return found


def _repeat(header: Any, column: str) -> int:
    """The number of values in each cell of ``column`` (``TFORMn`` = ``<repeat><type>``)."""
    for i in range(1, header_int(header, "TFIELDS") + 1):
        if str(header.get(f"TTYPE{i}", "")).strip().upper() == column.upper():
            match = re.match(r"\s*(\d*)", str(header.get(f"TFORM{i}", "1D")))
            return int(match.group(1)) if match and match.group(1) else 1
    return 1


def spectrum_sources(headers: list[Any], per_integration: bool = False) -> list[SpectrumSource]:
    """Every spectrum in a file, from its headers (no data read), in file order.

    A table whose WAVELENGTH cells are arrays holds one spectrum per row; any other spectrum
    table holds one. ``per_integration`` (x1dints files) labels them as integrations.
    """
    out: list[SpectrumSource] = []
    for index, header in enumerate(headers):
        columns = spectrum_columns(header)
        if columns is None:
            continue
        name = str(header.get("EXTNAME", "") or f"HDU {index}").strip()
        if _repeat(header, columns["wavelength"]) > 1:
            for row in range(header_int(header, "NAXIS2")):
                out.append(SpectrumSource(index, row, f"integration {row + 1} ({name} row {row})"))
            continue
        number = header_int(header, "INT_NUM") or (len(out) + 1 if per_integration else 0)
        version = header_int(header, "EXTVER")
        if number:
            label = f"integration {number} ({name} {version or index})"
        else:
            label = f"{name} {version}" if version else name
            slit = str(header.get("SLTNAME", "") or "").strip()
            label += f" {slit}" if slit else ""
        out.append(SpectrumSource(index, None, label))
    return out


def read_spectrum(hdu: Any, source: SpectrumSource) -> Spectrum:
    """The spectrum ``source`` from ``hdu`` (a table HDU of a lazily opened HDUList).

    Reads the table rows it needs only (one row for an x1dints row-per-integration table)
    and decodes only the wavelength, flux and error columns. astropy's ``hdu.data`` would
    read and convert the whole table, so the row bytes are read from the file here and
    viewed through the table's own record dtype (``hdu.columns.dtype``).
    """
    import numpy as np

    header = hdu.header
    wanted = spectrum_columns(header)
    if wanted is None:
        raise ValueError(f"HDU {source.hdu} has no WAVELENGTH and FLUX columns")
    row_bytes, rows = header_int(header, "NAXIS1"), header_int(header, "NAXIS2")
    first, count = (0, rows) if source.row is None else (source.row, 1)
    if not 0 <= first < rows or count < 1:
        raise ValueError(f"HDU {source.hdu} has no row {source.row} (it has {rows})")
    coldefs = hdu.columns
    dtype = coldefs.dtype.newbyteorder(">")  # FITS tables are big-endian on disk
    info = hdu.fileinfo()
    if info is None or dtype.itemsize != row_bytes:  # not backed by a file, or padded rows
        records = np.asarray(hdu.data)[first : first + count]
    else:
        stream = info["file"]
        stream.seek(int(info["datLoc"]) + first * row_bytes)
        raw = stream.read(count * row_bytes)
        if len(raw) != count * row_bytes:
            raise ValueError(f"HDU {source.hdu} is truncated: rows {first}..{first + count}")
        records = np.frombuffer(raw, dtype=dtype)

    def column(name: str) -> NDArray[np.float64]:
        spec = coldefs[name]
        values = np.asarray(records[name]).astype(np.float64)
        if spec.bscale not in (None, 1):
            values = values * float(spec.bscale)
        if spec.bzero not in (None, 0):
            values = values + float(spec.bzero)
        return values.reshape(-1)

    def unit(name: str) -> str:
        return str(coldefs[name].unit or "").strip()

    error = wanted.get("error")
    return Spectrum(
        wavelength=column(wanted["wavelength"]),
        flux=column(wanted["flux"]),
        error=column(error) if error else None,
        wavelength_unit=unit(wanted["wavelength"]),
        flux_unit=unit(wanted["flux"]),
        label=source.label,
    )


def _axis_label(what: str, unit: str) -> str:
    return f"{what} [{unit}]" if unit else what


def spectrum_png(spectrum: Spectrum, title: str = "", *, width: float = 7.0) -> bytes:
    """Flux against wavelength (steps at the sampled wavelengths) with a shaded 1-sigma error
    band, units on the axes, as PNG bytes (matplotlib object API, no pyplot state)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    order = np.argsort(spectrum.wavelength, kind="stable")
    wave, flux = spectrum.wavelength[order], spectrum.flux[order]
    fig = Figure(figsize=(width, width * 0.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if spectrum.error is not None:
        error = spectrum.error[order]
        ax.fill_between(
            wave, flux - error, flux + error, step="mid", color="#60a5fa", alpha=0.35,
            linewidth=0, label="±1σ error",
        )
    ax.step(wave, flux, where="mid", color="#1d4ed8", linewidth=1.0, label="flux")
    ax.set_xlabel(_axis_label("Wavelength", spectrum.wavelength_unit))
    ax.set_ylabel(_axis_label("Flux", spectrum.flux_unit))
    ax.set_title(title or spectrum.label, fontsize=9)
    ax.grid(alpha=0.3)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useMathText=True)
    ax.legend(loc="best", fontsize=8, frameon=False)
    finite = np.isfinite(flux)
    if not finite.any():
        ax.text(0.5, 0.5, "no finite flux values", transform=ax.transAxes, ha="center")
    out = io.BytesIO()
    fig.savefig(out, format="png", bbox_inches="tight")
    return out.getvalue()
