"""The sky coverage of records as a MOC (IVOA Multi-Order Coverage map 2.0, via mocpy).

:func:`coverage` takes records (or footprints) and returns one :class:`mocpy.MOC`: the union
of every record's footprint (``imageInfo.footprint``, STC-S parsed by
:func:`jwstnb.sky.parse_stcs`: polygons with great-circle edges, circles), refined to
``max_order`` (order 10 cells are 3.4 arcmin across, order 13 25 arcsec); a record with only a
centre adds the one cell holding it. The MOC is a superset of the footprints: a cell their
boundary crosses is in it, so it is larger than their union by at most one cell per boundary
crossing. Pure: which records (and so whose private files) go in is decided by the caller,
the session's scoped search. :func:`save` writes it as IVOA MOC FITS or JSON.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mocpy import MOC

    from jwstnb.sky import Footprint

__all__ = ["MAX_ORDER", "coverage", "footprint_moc", "save"]

#: Finest order mocpy and the IVOA MOC standard allow for space.
MAX_ORDER = 29


def _require_mocpy() -> Any:
    try:
        import mocpy
    except ImportError:
        raise ImportError(
            "coverage maps need mocpy: pip install 'jwstnb[interop]'"
        ) from None
    return mocpy


def _order(max_order: int) -> int:
    from jwstnb.errors import invalid

    if isinstance(max_order, bool) or not isinstance(max_order, int) or not (
        0 <= max_order <= MAX_ORDER
    ):
        raise invalid("max_order", f"max_order is an integer from 0 to {MAX_ORDER}", max_order)
    return max_order


def _image_fields(item: Any) -> tuple[Any, Any, Any] | None:
    """(ra, dec, footprint) of a record or a stored document (``imageInfo``), else None."""
    if isinstance(item, Mapping):
        info = item.get("imageInfo") or item.get("image_info")
        if not isinstance(info, Mapping):
            return None
        return info.get("ra"), info.get("dec"), info.get("footprint")
    info = getattr(item, "image_info", None)
    if info is None:
        return None
    return info.ra, info.dec, info.footprint


def _shapes(item: Any) -> tuple[Footprint | None, tuple[float, float] | None]:
    """(footprint, centre) of a record, a stored document, a Footprint, STC-S text or an
    (ra, dec) pair; an unreadable footprint falls back to the centre."""
    from jwstnb import sky

    if isinstance(item, sky.Footprint):
        return item, None
    if isinstance(item, str):
        return sky.parse_stcs(item), None
    if isinstance(item, tuple) and len(item) == 2:
        return None, sky.parse_position(item)
    fields = _image_fields(item)
    if fields is None:
        return None, None
    ra, dec, footprint = fields
    centre = (float(ra), float(dec)) if ra is not None and dec is not None else None
    if isinstance(footprint, str) and footprint.strip():
        try:
            return sky.parse_stcs(footprint), centre
        except (ValueError, TypeError, ArithmeticError):
            pass  # a footprint the session stored but cannot parse now: its centre counts
    return None, centre


def coverage(items: Iterable[Any], max_order: int = 10) -> MOC:
    """The MOC of ``items`` at ``max_order``: records or stored documents (their footprints,
    else their centres: a session may read only ``imageInfo.ra/dec/footprint``),
    :class:`jwstnb.sky.Footprint` objects, STC-S strings or ``(ra, dec)`` pairs. Records with
    neither a footprint nor a centre add nothing; no items give an empty MOC."""
    mocpy = _require_mocpy()
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import Angle, Latitude, Longitude

    order = _order(max_order)
    by_size: dict[int, list[Any]] = {}  # vertex count -> rings (mocpy takes them in blocks)
    circles: list[tuple[float, float, float]] = []
    points: list[tuple[float, float]] = []
    for item in items:
        footprint, centre = _shapes(item)
        if footprint is not None:
            for ring in footprint.polygons:
                by_size.setdefault(len(ring), []).append(ring)
            circles.extend(footprint.circles)
        elif centre is not None:
            points.append(centre)
    mocs: list[MOC] = []
    for rings in by_size.values():
        # [lon_1, lat_1, lon_2, lat_2, ...] rows, one pair per polygon
        block = np.ascontiguousarray(
            np.asarray(rings, dtype=float).transpose(0, 2, 1).reshape(-1, len(rings[0])))
        mocs.extend(mocpy.MOC.from_polygons(block, max_depth=order, n_threads=1))
    for ra, dec, radius in circles:
        mocs.append(mocpy.MOC.from_cone(lon=Longitude(ra * u.deg), lat=Latitude(dec * u.deg),
                                        radius=Angle(radius * u.deg), max_depth=order))
    if points:
        ra_arr, dec_arr = np.array(points, dtype=float).T
        mocs.append(mocpy.MOC.from_lonlat(lon=Longitude(ra_arr * u.deg),
                                          lat=Latitude(dec_arr * u.deg), max_norder=order))
    if not mocs:
        return mocpy.MOC.new_empty(order)
    if len(mocs) == 1:
        return mocs[0]
    return mocs[0].union(*mocs[1:])


def footprint_moc(footprint: Footprint | str, max_order: int = 10) -> MOC:
    """The MOC of one footprint (a :class:`jwstnb.sky.Footprint` or STC-S text)."""
    return coverage([footprint], max_order)


def save(moc: MOC, path: str | os.PathLike[str], format: str | None = None,
         overwrite: bool = True) -> None:
    """Write ``moc`` as IVOA MOC ``"fits"`` or ``"json"`` (default: from the file's suffix,
    ``.json`` JSON, else FITS)."""
    from jwstnb.errors import invalid

    target = os.fspath(path)
    fmt = format or ("json" if target.lower().endswith(".json") else "fits")
    if fmt not in ("fits", "json"):
        raise invalid("format", "a MOC is saved as 'fits' or 'json'", fmt)
    moc.save(target, format=fmt, overwrite=overwrite)
