"""Search results in ipyaladin (Aladin Lite in a notebook), for users who have it.

:func:`to_ipyaladin` centres an Aladin view on the records, draws their footprints (STC-S
overlays, coloured by processing level) and their centres (a table whose rows are the
records), and a coverage map when given. ipyaladin is optional (``pip install ipyaladin``);
Aladin Lite draws its sky survey from the network, which jwstnb's own :class:`SkyView` does
not need.
"""

from __future__ import annotations

from typing import Any

from jwstnb.widgets._format import level_colour

__all__ = ["to_ipyaladin"]


def _aladin_class() -> Any:
    try:
        from ipyaladin import Aladin
    except ImportError:
        raise ImportError("to_ipyaladin needs ipyaladin: pip install 'jwstnb[aladin]'") from None
    return Aladin


def _field(records: list[Any]) -> tuple[tuple[float, float] | None, float]:
    """The records' mean direction and a field of view (degrees) holding them all."""
    from jwstnb.widgets.sky import mean_direction, record_centre, sky_rings

    cache: dict[str, Any] = {}
    centres = [c for c in (record_centre(r, cache) for r in records) if c is not None]
    centre = mean_direction(centres)
    if centre is None:
        return None, 1.0
    from jwstnb.widgets.sky import Projection

    projection = Projection(*centre)
    points = centres + [p for r in records for ring in sky_rings(r, cache) for p in ring]
    seps = projection.separation([p[0] for p in points], [p[1] for p in points])
    return centre, float(min(180.0, max(2.0 / 60, 2.4 * float(seps.max()))))


def to_ipyaladin(results: Any, *, coverage: Any = None, survey: str | None = None,
                 fov: float | None = None, **options: Any) -> Any:
    """An ipyaladin ``Aladin`` widget showing ``results`` (a Page or records): centred on
    them, their footprints drawn, their centres as a table; ``coverage`` (a mocpy MOC, e.g.
    ``Session.coverage(...)``) drawn too. ``survey`` (e.g. ``"P/2MASS/color"``) and ``fov``
    (degrees) override the defaults; other options go to ``Aladin``."""
    from astropy.table import Table

    aladin_class = _aladin_class()
    records = list(getattr(results, "items", results))
    centre, field = _field(records)
    init: dict[str, Any] = dict(options)
    if centre is not None:
        init.setdefault("target", f"{centre[0]:.6f} {centre[1]:+.6f}")
    init.setdefault("fov", float(fov) if fov is not None else field)
    if survey:
        init["survey"] = survey
    aladin = aladin_class(**init)
    by_level: dict[str, list[str]] = {}
    for record in records:
        info = getattr(record, "image_info", None)
        text = getattr(info, "footprint", None)
        if isinstance(text, str) and text.strip():
            level = str(getattr(record.processing_level, "value", record.processing_level))
            by_level.setdefault(level, []).append(text)
    for level, footprints in by_level.items():
        aladin.add_graphic_overlay_from_stcs(footprints, color=level_colour(level),
                                             name=f"jwstnb {level}")
    rows = [(str(r.id), r.file_name, r.image_info.ra, r.image_info.dec) for r in records
            if getattr(r, "image_info", None) is not None and r.image_info.ra is not None
            and r.image_info.dec is not None]
    if rows:
        ids, names, ras, decs = zip(*rows, strict=True)
        table = Table({"id": list(ids), "file_name": list(names), "ra": list(ras),
                       "dec": list(decs)})
        table["ra"].unit = table["dec"].unit = "deg"
        aladin.add_table(table, name="jwstnb records")
    if coverage is not None:
        aladin.add_moc(coverage, name="jwstnb coverage", fill=True, opacity=0.2,
                       color="#d97706")
    return aladin
