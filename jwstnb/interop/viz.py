"""A record opened in jdaviz: Imviz for images, Specviz for 1-D spectra, Cubeviz for cubes,
Specviz2d for 2-D spectra.

The configuration comes from the file's product suffix, the one rule :mod:`jwstnb.naming`
owns (``s3d`` cube, ``x1d``/``c1d``/``x1dints`` 1-D spectrum, ``s2d`` 2-D spectrum, every
other FITS product an image). The data comes through the storage's lazy FITS reader
(:meth:`jwstnb.Storage.open_fits`): only the HDUs jdaviz is given are read, straight from
the store, with no copy of the whole file on disk. jdaviz is optional:
``pip install 'jwstnb[viz]'``.
"""

from __future__ import annotations

from typing import Any, Literal

from jwstnb.errors import FitsError

__all__ = ["CONFIGS", "Config", "config_for", "open"]

Config = Literal["imviz", "specviz", "cubeviz", "specviz2d"]

#: Product suffix -> jdaviz configuration (anything else that is FITS: Imviz).
CONFIGS: dict[str, Config] = {
    "s3d": "cubeviz",
    "x1d": "specviz", "c1d": "specviz", "x1dints": "specviz",
    "s2d": "specviz2d",
}


def _key(record_or_key: Any) -> str:
    key = getattr(record_or_key, "file_path", record_or_key)
    if not isinstance(key, str) or not key:
        name = getattr(record_or_key, "file_name", record_or_key)
        raise FitsError(f"{name!r} has no storage key (filePath) to open in jdaviz")
    return key


def config_for(record_or_key: Any) -> Config:
    """The jdaviz configuration for a record or storage key (see the module notes);
    FitsError for a file that is not FITS."""
    from jwstnb.naming import classify, file_type

    key = _key(record_or_key)
    name = getattr(record_or_key, "file_name", None) or key
    if file_type(key) != "fits":
        raise FitsError(f"{name} is not a FITS file: jdaviz opens FITS images and spectra")
    return CONFIGS.get(classify(name).suffix, "imviz")


def _jdaviz() -> Any:
    try:
        import jdaviz
    except ImportError:
        raise ImportError("jwstnb.viz needs jdaviz: pip install 'jwstnb[viz]'") from None
    return jdaviz


def _label(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    for end in (".fits.gz", ".fits", ".fit", ".fts"):
        if name.lower().endswith(end):
            return name[: -len(end)]
    return name


def _image(hdul: Any, key: str) -> Any:
    """The science image of a file as NDData with its celestial WCS."""
    from astropy.nddata import NDData

    from jwstnb.imaging import celestial_wcs

    names = [str(h.name).upper() for h in hdul]
    hdu = hdul["SCI"] if "SCI" in names else next(
        (h for h in hdul if getattr(h, "data", None) is not None and h.is_image
         and h.header.get("NAXIS", 0) >= 2), None)
    if hdu is None:
        raise FitsError(f"{key!r} holds no image for Imviz")
    wcs = None
    try:
        wcs = celestial_wcs(hdu.header)
    except Exception:
        wcs = None
    unit = str(hdu.header.get("BUNIT", "") or "").strip() or None
    return NDData(hdu.data, wcs=wcs, unit=_unit(unit), meta=dict(hdu.header))


def _unit(text: str | None) -> Any:
    if not text:
        return None
    import astropy.units as u

    try:
        return u.Unit(text, parse_strict="silent")
    except ValueError:
        return None


def _spectrum_class() -> Any:
    try:
        from specutils import Spectrum
    except ImportError:  # specutils < 2
        from specutils import Spectrum1D as Spectrum
    return Spectrum


def _sci(hdul: Any, key: str, what: str) -> Any:
    names = [str(h.name).upper() for h in hdul]
    if "SCI" not in names:
        raise FitsError(f"{key!r} has no SCI extension for {what}")
    return hdul["SCI"]


def _cube(hdul: Any, key: str) -> Any:
    """An s3d cube as a specutils Spectrum with its full (celestial + spectral) WCS."""
    import astropy.units as u
    from astropy.wcs import WCS

    hdu = _sci(hdul, key, "Cubeviz")
    unit = _unit(str(hdu.header.get("BUNIT", "") or "")) or u.dimensionless_unscaled
    return _spectrum_class()(flux=hdu.data * unit, wcs=WCS(hdu.header))


def _spectrum2d(hdul: Any, key: str) -> Any:
    """An s2d 2-D spectrum as a Spectrum: SCI against the WAVELENGTH extension's median
    wavelength of each column (pixels where the file has none)."""
    import warnings

    import astropy.units as u
    import numpy as np

    hdu = _sci(hdul, key, "Specviz2d")
    data = np.asarray(hdu.data, dtype=float)
    unit = _unit(str(hdu.header.get("BUNIT", "") or "")) or u.dimensionless_unscaled
    names = [str(h.name).upper() for h in hdul]
    axis: Any = np.arange(data.shape[-1], dtype=float) * u.pix
    if "WAVELENGTH" in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            wave = np.nanmedian(np.asarray(hdul["WAVELENGTH"].data, dtype=float), axis=0)
        if np.all(np.isfinite(wave)) and np.all(np.diff(wave) > 0):
            axis = wave * u.um
    return _spectrum_class()(flux=data * unit, spectral_axis=axis)


def _spectrum1d(hdul: Any, key: str) -> Any:
    """The first extracted spectrum (EXTRACT1D table) as a specutils Spectrum."""
    import astropy.units as u
    import numpy as np

    Spectrum = _spectrum_class()
    hdu = next((h for h in hdul if str(h.name).upper() == "EXTRACT1D"), None)
    if hdu is None:
        hdu = next((h for h in hdul if getattr(h, "columns", None) is not None
                    and "WAVELENGTH" in [c.upper() for c in h.columns.names]), None)
    if hdu is None:
        raise FitsError(f"{key!r} has no EXTRACT1D table for Specviz")
    columns = {c.upper(): c for c in hdu.columns.names}
    wave_col = hdu.columns[columns["WAVELENGTH"]]
    flux_name = columns.get("FLUX") or columns.get("SURF_BRIGHT")
    if flux_name is None:
        raise FitsError(f"{key!r}: the EXTRACT1D table has no FLUX column")
    flux_col = hdu.columns[flux_name]
    wave = np.asarray(hdu.data[columns["WAVELENGTH"]], dtype=float)
    flux = np.asarray(hdu.data[flux_name], dtype=float)
    wave_unit = _unit(wave_col.unit) or u.um
    flux_unit = _unit(flux_col.unit) or u.dimensionless_unscaled
    good = np.isfinite(wave)
    return Spectrum(spectral_axis=wave[good] * wave_unit, flux=flux[good] * flux_unit)


def _load(app: Any, data: Any, label: str, kind: str) -> Any:
    """Load ``data`` into a jdaviz app as ``kind`` (jdaviz 5's format names: "Image",
    "1D Spectrum", ...) with ``load``; jdaviz 4's ``load_data`` otherwise."""
    if hasattr(app, "load"):
        app.load(data, format=kind, data_label=label)
    else:  # jdaviz 4
        app.load_data(data, data_label=label)
    return app


def open(record_or_key: Any, storage: Any, *, config: Config | None = None,
         show: bool = False) -> Any:
    """Open a record's file (or a storage key) in the matching jdaviz configuration and
    return the jdaviz app (display it in a cell, or ``show=True`` to show it at once).

    ``config`` forces one (``"imviz"``, ``"specviz"``, ``"cubeviz"``, ``"specviz2d"``).
    Images go to Imviz as their SCI array and celestial WCS; x1d spectra to Specviz as
    wavelength and flux from their EXTRACT1D table; cubes to Cubeviz as SCI with the
    file's 3-D WCS; 2-D spectra to Specviz2d as SCI against their WAVELENGTH extension.
    """
    jdaviz = _jdaviz()
    key = _key(record_or_key)
    chosen = config or config_for(record_or_key)
    label = _label(key)
    hdul = storage.open_fits(record_or_key)
    if chosen == "imviz":
        app = _load(jdaviz.Imviz(), _image(hdul, key), label, "Image")
    elif chosen == "specviz":
        app = _load(jdaviz.Specviz(), _spectrum1d(hdul, key), label, "1D Spectrum")
    elif chosen == "cubeviz":
        app = _load(jdaviz.Cubeviz(), _cube(hdul, key), label, "3D Spectrum")
    elif chosen == "specviz2d":
        app = _load(jdaviz.Specviz2d(), _spectrum2d(hdul, key), label, "2D Spectrum")
    else:
        from jwstnb.errors import invalid

        raise invalid("config", "one of imviz, specviz, cubeviz, specviz2d", chosen)
    if show:
        app.show()
    return app
