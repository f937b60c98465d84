"""SkyView: the footprints of search results on a map of the sky, drawn with no network access.

The map is a tangent plane (gnomonic projection, astropy's ``TAN`` WCS) around the results'
mean direction, RA increasing to the LEFT as on the sky, with an RA/Dec grid in degrees at
round steps. Footprints (``imageInfo.footprint``, STC-S) are coloured by processing level;
records with only a centre are points. Great circles project to straight lines in a gnomonic
plane, so footprint polygons (great-circle edges) are exact as straight-edged shapes.

Everything the browser draws is computed here by pure functions (:func:`make_scene`,
:func:`grid_lines`, :func:`box_to_cone`, :class:`Projection`), so the geometry is tested
without a browser; ``static/sky.js`` only scales the plane to pixels and draws SVG.

In the browser: hover names the file; a click selects the record (``selected_id``,
:meth:`SkyView.on_select`); dragging a box sets ``box`` (plane coordinates), which becomes a
cone ``region`` (centre and radius containing the box, :meth:`SkyView.on_region`) and, for a
view made on a session, a new search around it.

    view = SkyView(session)                       # or SkyView(page)
    view.search(position="151.757 -40.436", radius=0.05)
    view.on_select(lambda record_id: print(record_id))
    view
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from jwstnb.widgets._common import error_text, static_file
from jwstnb.widgets._format import LEVEL_COLOURS, level_colour

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Array = NDArray[np.float64]

__all__ = [
    "GRID_STEPS",
    "MAX_SEPARATION",
    "Projection",
    "SkyView",
    "box_to_cone",
    "coverage_cells",
    "grid_lines",
    "make_scene",
    "nice_step",
    "record_shape",
]

#: Points farther than this (degrees) from the map's centre are left off the map: a gnomonic
#: plane stretches without bound towards 90 degrees.
MAX_SEPARATION = 80.0
#: Grid steps in degrees, from 1 arcsec to 90 degrees.
GRID_STEPS: tuple[float, ...] = (
    *(s / 3600 for s in (1, 2, 5, 10, 15, 30)),
    *(m / 60 for m in (1, 2, 5, 10, 15, 30)),
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 45.0, 90.0,
)
#: Smallest width (degrees) of the map, so one point or a tiny slit still has a field around it.
MIN_SPAN = 2.0 / 60
#: Width / height of the map (the view keeps it).
ASPECT = 4.0 / 3.0
_CIRCLE_POINTS = 48
_LINE_POINTS = 65
_DIGITS = 7  # plane coordinates sent to the browser: 1e-7 deg = 0.4 mas


@dataclass(frozen=True)
class Projection:
    """The gnomonic (TAN) plane around ``(ra, dec)``: plane ``x`` is minus the standard
    coordinate xi (so RA grows to the LEFT when x grows to the right), ``y`` is eta, both in
    degrees. Uses astropy's WCS, which handles RA 0/360 and the poles."""

    ra: float
    dec: float

    def _wcs(self) -> Any:
        from astropy.wcs import WCS  # type: ignore[import-untyped, unused-ignore]

        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [self.ra % 360.0, self.dec]
        wcs.wcs.crpix = [1.0, 1.0]  # pixel 0 (0-based) is the centre
        wcs.wcs.cdelt = [-1.0, 1.0]  # one "pixel" per degree, RA to the left
        return wcs

    def to_plane(self, ra: Sequence[float] | Array, dec: Sequence[float] | Array
                 ) -> tuple[Array, Array]:
        """Plane (x, y) in degrees; NaN for points more than MAX_SEPARATION from the centre."""
        import numpy as np

        ra_a, dec_a = np.atleast_1d(np.asarray(ra, float)), np.atleast_1d(np.asarray(dec, float))
        if not ra_a.size:
            return ra_a.copy(), dec_a.copy()
        x, y = self._wcs().wcs_world2pix(ra_a, dec_a, 0)
        far = self.separation(ra_a, dec_a) > MAX_SEPARATION
        x, y = np.asarray(x, float), np.asarray(y, float)
        x[far] = np.nan
        y[far] = np.nan
        return x, y

    def to_sky(self, x: Sequence[float] | Array, y: Sequence[float] | Array
               ) -> tuple[Array, Array]:
        """(ra, dec) in degrees of plane points; RA in [0, 360)."""
        import numpy as np

        x_a, y_a = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
        ra, dec = self._wcs().wcs_pix2world(x_a, y_a, 0)
        return np.asarray(ra, float) % 360.0, np.asarray(dec, float)

    def separation(self, ra: Sequence[float] | Array, dec: Sequence[float] | Array) -> Array:
        """Angular distance (degrees) of each point from the centre."""
        import numpy as np
        from astropy.coordinates import angular_separation  # type: ignore[import-untyped, unused-ignore]

        sep = angular_separation(np.radians(self.ra), np.radians(self.dec),
                                 np.radians(np.asarray(ra, float)),
                                 np.radians(np.asarray(dec, float)))
        return np.asarray(np.degrees(sep), float)


def mean_direction(points: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    """The normalised mean of unit vectors of (ra, dec) points (spherical-geometry's
    conversions): right across RA 0/360 and at the poles. None for no points."""
    import numpy as np
    from spherical_geometry.vector import lonlat_to_vector, vector_to_lonlat  # type: ignore[import-untyped, unused-ignore]

    pairs = list(points)
    if not pairs:
        return None
    lon, lat = np.array(pairs, float).T
    xyz = np.column_stack(lonlat_to_vector(lon, lat, degrees=True)).mean(axis=0)
    norm = float(np.linalg.norm(xyz))
    if norm < 1e-9:  # symmetric about the origin: take the first point
        return float(lon[0]) % 360.0, float(lat[0])
    ra, dec = vector_to_lonlat(*(xyz / norm), degrees=True)
    return float(ra) % 360.0, float(dec)


# --- the shapes of records --------------------------------------------------------------------


def _info(record: Any) -> Any:
    return getattr(record, "image_info", None)


def _footprint(record: Any, cache: dict[str, Any]) -> Any:
    """The record's parsed footprint, or None (none stored, or one that cannot be read)."""
    from jwstnb import sky

    return sky.read_footprint(getattr(_info(record), "footprint", None))


def _circle_ring(ra: float, dec: float, radius: float) -> list[tuple[float, float]]:
    import numpy as np
    from astropy import units as u  # type: ignore[import-untyped, unused-ignore]
    from astropy.coordinates import SkyCoord  # type: ignore[import-untyped, unused-ignore]

    angles = np.linspace(0.0, 360.0, _CIRCLE_POINTS, endpoint=False) * u.deg
    ring = SkyCoord(ra, dec, unit="deg").directional_offset_by(angles, radius * u.deg)
    return list(zip(ring.ra.deg.tolist(), ring.dec.deg.tolist(), strict=True))


def sky_rings(record: Any, cache: dict[str, Any] | None = None) -> list[list[tuple[float, float]]]:
    """The record's footprint as (ra, dec) vertex rings (circles as 48-gons); [] without one."""
    footprint = _footprint(record, {} if cache is None else cache)
    if footprint is None:
        return []
    rings = [list(ring) for ring in footprint.polygons]
    rings += [_circle_ring(ra, dec, r) for ra, dec, r in footprint.circles]
    return rings


def record_centre(record: Any, cache: dict[str, Any] | None = None) -> tuple[float, float] | None:
    """The record's (ra, dec): ``imageInfo.ra/dec``, else its footprint's centre, else None."""
    info = _info(record)
    ra, dec = getattr(info, "ra", None), getattr(info, "dec", None)
    if ra is not None and dec is not None:
        return float(ra), float(dec)
    footprint = _footprint(record, {} if cache is None else cache)
    return footprint.centre if footprint is not None else None


def _area(ring: Sequence[Sequence[float]]) -> float:
    return 0.5 * abs(sum(ring[i - 1][0] * p[1] - p[0] * ring[i - 1][1]
                         for i, p in enumerate(ring)))


def record_shape(record: Any, projection: Projection,
                 cache: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """What the view draws for one record: polygons in plane coordinates (its footprint), or
    a point (its centre, when it has no footprint or the footprint leaves the map); None when
    the record has no position or lies off the map."""
    import numpy as np

    cache = {} if cache is None else cache
    polygons: list[list[list[float]]] = []
    for ring in sky_rings(record, cache):
        x, y = projection.to_plane([p[0] for p in ring], [p[1] for p in ring])
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            polygons = []
            break
        polygons.append([[round(float(a), _DIGITS), round(float(b), _DIGITS)]
                         for a, b in zip(x, y, strict=True)])
    point = None
    centre = record_centre(record, cache)
    if centre is not None:
        x, y = projection.to_plane([centre[0]], [centre[1]])
        if np.isfinite(x[0]) and np.isfinite(y[0]):
            point = [round(float(x[0]), _DIGITS), round(float(y[0]), _DIGITS)]
    if not polygons and point is None:
        return None
    level = str(getattr(getattr(record, "processing_level", None), "value",
                        getattr(record, "processing_level", "unknown")))
    return {
        "id": str(record.id) if getattr(record, "id", None) is not None else "",
        "name": str(getattr(record, "file_name", "")),
        "level": level,
        "colour": level_colour(level),
        "polygons": polygons,
        "point": point,
        "area": sum(_area(p) for p in polygons),
    }


# --- coverage (a MOC) ------------------------------------------------------------------------

_SKY_DEG2 = 4 * math.pi * math.degrees(1.0) ** 2  # the whole sky in square degrees
#: Most MOC cells drawn: a finer MOC is drawn at the coarser order that fits (a superset).
MAX_COVERAGE_CELLS = 3000


def coverage_cells(moc: Any, max_cells: int = MAX_COVERAGE_CELLS
                   ) -> list[list[tuple[float, float]]]:
    """The cells of a mocpy MOC as (ra, dec) corner rings, coarsened (never shrunk) until
    at most ``max_cells`` remain, so a fine coverage map stays quick to draw."""
    import numpy as np
    from astropy import units as u  # type: ignore[import-untyped, unused-ignore]
    from astropy_healpix import HEALPix  # type: ignore[import-untyped, unused-ignore]

    while moc.max_order > 0 and len(moc.uniq_hpx) > max_cells:
        moc = moc.degrade_to_order(moc.max_order - 1)
    uniq = np.asarray(moc.uniq_hpx, dtype=np.int64)
    rings: list[list[tuple[float, float]]] = []
    if not uniq.size:
        return rings
    orders = (np.floor(np.log2(uniq // 4) / 2)).astype(int)
    for order in np.unique(orders):
        pixels = uniq[orders == order] - 4 * 4 ** int(order)
        lon, lat = HEALPix(nside=2 ** int(order), order="nested").boundaries_lonlat(
            pixels, step=1)
        for ra_row, dec_row in zip(lon.to_value(u.deg), lat.to_value(u.deg), strict=True):
            rings.append(list(zip(ra_row.tolist(), dec_row.tolist(), strict=True)))
    return rings


def _coverage_plane(rings: Sequence[Sequence[tuple[float, float]]], projection: Projection
                    ) -> list[list[list[float]]]:
    import numpy as np

    out = []
    for ring in rings:
        x, y = projection.to_plane([p[0] for p in ring], [p[1] for p in ring])
        if np.all(np.isfinite(x)) and np.all(np.isfinite(y)):
            out.append([[round(float(a), _DIGITS), round(float(b), _DIGITS)]
                        for a, b in zip(x, y, strict=True)])
    return out


# --- grid -------------------------------------------------------------------------------------


def nice_step(span: float, lines: int = 5) -> float:
    """The smallest of :data:`GRID_STEPS` that draws at most about ``lines`` lines over
    ``span`` degrees."""
    for step in GRID_STEPS:
        if span / step <= lines:
            return step
    return GRID_STEPS[-1]


def _label(value: float, step: float) -> str:
    """A grid value in degrees with as many decimals as its step needs."""
    digits = max(0, min(6, math.ceil(-math.log10(step) + 1e-9))) if step < 1 else 0
    if step < 1 and round(step, digits) != step:
        digits = min(6, digits + 1)  # 15", 5' ...: one more decimal
    return f"{value:.{digits}f}°"


def _sky_ranges(projection: Projection, extent: Sequence[float]
                ) -> tuple[float, float, float, float, bool]:
    """RA offsets from the centre (-180..180) and Dec covered by the extent; True when a pole
    lies inside it (every RA is then on the map)."""
    import numpy as np

    x0, x1, y0, y1 = extent
    gx, gy = np.meshgrid(np.linspace(x0, x1, 25), np.linspace(y0, y1, 25))
    ra, dec = projection.to_sky(gx.ravel(), gy.ravel())
    offsets = (ra - projection.ra + 180.0) % 360.0 - 180.0
    dec_lo, dec_hi = float(dec.min()), float(dec.max())
    pole = False
    for pole_dec in (90.0, -90.0):
        px, py = projection.to_plane([0.0], [pole_dec])
        if np.isfinite(px[0]) and x0 <= px[0] <= x1 and y0 <= py[0] <= y1:
            pole = True
            dec_lo, dec_hi = min(dec_lo, pole_dec), max(dec_hi, pole_dec)
    if pole:
        return -180.0, 180.0, dec_lo, dec_hi, True
    return float(offsets.min()), float(offsets.max()), dec_lo, dec_hi, False


def _inside(x: float, y: float, extent: Sequence[float]) -> bool:
    return extent[0] <= x <= extent[1] and extent[2] <= y <= extent[3]


def grid_lines(projection: Projection, extent: Sequence[float]) -> list[dict[str, Any]]:
    """RA and Dec lines at round steps over the extent ``[x0, x1, y0, y1]`` (plane degrees).

    Each line: ``{"kind": "ra" | "dec", "value", "label", "points": [[x, y], ...],
    "anchor": [x, y]}``; the anchor (where the label goes) is the line's lowest point on the
    map for RA lines, its left-most (largest x, highest RA side drawn on the left) for Dec.
    Lines with no point on the map are left out.
    """
    import numpy as np

    ra_lo, ra_hi, dec_lo, dec_hi, pole = _sky_ranges(projection, extent)
    dec_step = nice_step(dec_hi - dec_lo)
    ra_step = nice_step(ra_hi - ra_lo) if not pole else 45.0
    out: list[dict[str, Any]] = []
    decs = np.arange(math.ceil(dec_lo / dec_step), math.floor(dec_hi / dec_step) + 1) * dec_step
    ras = np.arange(math.ceil((projection.ra + ra_lo) / ra_step),
                    math.floor((projection.ra + ra_hi) / ra_step) + 1) * ra_step
    if pole:
        ras = np.arange(0.0, 360.0, ra_step)
    along_ra = np.linspace(projection.ra + ra_lo, projection.ra + ra_hi, _LINE_POINTS)
    along_dec = np.linspace(dec_lo, dec_hi, _LINE_POINTS)
    for kind, values, step in (("dec", decs, dec_step), ("ra", ras, ra_step)):
        for value in values:
            value = float(value)
            if kind == "dec":
                if abs(value) >= 90.0:
                    continue  # a pole is a point, not a line
                x, y = projection.to_plane(along_ra, np.full(_LINE_POINTS, value))
            else:
                x, y = projection.to_plane(np.full(_LINE_POINTS, value), along_dec)
            keep = np.isfinite(x) & np.isfinite(y)
            points = [[round(float(a), _DIGITS), round(float(b), _DIGITS)]
                      for a, b in zip(x[keep], y[keep], strict=True)]
            shown = [p for p in points if _inside(p[0], p[1], extent)]
            if len(points) < 2 or not shown:
                continue
            anchor = min(shown, key=lambda p: p[1]) if kind == "ra" else max(
                shown, key=lambda p: p[0])
            label_value = value % 360.0 if kind == "ra" else value
            out.append({"kind": kind, "value": label_value, "label": _label(label_value, step),
                        "points": points, "anchor": anchor})
    return out


# --- the scene --------------------------------------------------------------------------------


def _extent(shapes: Sequence[dict[str, Any]]) -> list[float]:
    """A padded box [x0, x1, y0, y1] around every shape, at least MIN_SPAN wide, of ASPECT."""
    xs = [p[0] for s in shapes for ring in s["polygons"] for p in ring]
    ys = [p[1] for s in shapes for ring in s["polygons"] for p in ring]
    xs += [s["point"][0] for s in shapes if s["point"] is not None]
    ys += [s["point"][1] for s in shapes if s["point"] is not None]
    if not xs:
        xs, ys = [0.0], [0.0]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    width = max(MIN_SPAN, (max(xs) - min(xs)) * 1.15, (max(ys) - min(ys)) * 1.15 * ASPECT)
    height = width / ASPECT
    return [cx - width / 2, cx + width / 2, cy - height / 2, cy + height / 2]


def make_scene(records: Sequence[Any], centre: tuple[float, float] | None = None,
               cone: tuple[float, float, float] | None = None,
               coverage: Sequence[Sequence[tuple[float, float]]] | None = None
               ) -> dict[str, Any]:
    """Everything the view draws for these records (pure; JSON-friendly).

    ``centre`` defaults to the records' mean direction; ``cone`` (ra, dec, radius), the
    position searched, is drawn as a dashed circle; ``coverage``, (ra, dec) rings of a
    coverage map's cells (:func:`coverage_cells`), is drawn under the footprints. Returns
    ``{"centre", "extent", "shapes", "grid", "cone", "coverage", "counts"}``; shapes are
    sorted largest first, so smaller footprints lie on top and stay clickable.
    """
    cache: dict[str, Any] = {}
    positions = [c for c in (record_centre(r, cache) for r in records) if c is not None]
    if centre is None and not positions and coverage:
        centre = mean_direction(p for ring in coverage for p in ring)
    if centre is None:
        centre = mean_direction(positions) or (cone[:2] if cone else (0.0, 0.0))
    projection = Projection(float(centre[0]) % 360.0, float(centre[1]))
    shapes = []
    off_map = 0
    for record in records:
        shape = record_shape(record, projection, cache)
        if shape is not None:
            shapes.append(shape)
        elif record_centre(record, cache) is not None or sky_rings(record, cache):
            off_map += 1
    shapes.sort(key=lambda s: -s["area"])
    cone_ring = None
    if cone is not None and cone[2] > 0:
        x, y = projection.to_plane(*zip(*_circle_ring(*cone), strict=True))
        cone_ring = [[round(float(a), _DIGITS), round(float(b), _DIGITS)]
                     for a, b in zip(x, y, strict=True) if math.isfinite(a) and math.isfinite(b)]
    cells = _coverage_plane(coverage or [], projection)
    extent = _extent(shapes + ([{"polygons": [cone_ring], "point": None}] if cone_ring else [])
                     + ([{"polygons": cells, "point": None}] if cells else []))
    return {
        "centre": [projection.ra, projection.dec],
        "extent": [round(v, _DIGITS) for v in extent],
        "shapes": shapes,
        "grid": grid_lines(projection, extent),
        "cone": cone_ring or [],
        "coverage": cells,
        "counts": {
            "records": len(records),
            "drawn": len(shapes),
            "footprints": sum(1 for s in shapes if s["polygons"]),
            "points": sum(1 for s in shapes if not s["polygons"]),
            "off_map": off_map,
            "no_position": len(records) - len(shapes) - off_map,
        },
    }


def box_to_cone(projection: Projection, box: Sequence[float]) -> tuple[float, float, float]:
    """A box ``[x0, y0, x1, y1]`` dragged on the plane -> (ra, dec, radius) in degrees: the
    box's centre on the sky and the smallest radius whose cone contains its four corners."""
    import numpy as np

    if len(box) != 4 or not all(math.isfinite(float(v)) for v in box):
        raise ValueError("a box is [x0, y0, x1, y1] in plane degrees")
    x0, y0, x1, y1 = (float(v) for v in box)
    ra, dec = projection.to_sky([(x0 + x1) / 2], [(y0 + y1) / 2])
    centre = Projection(float(ra[0]), float(dec[0]))
    corner_ra, corner_dec = projection.to_sky([x0, x1, x1, x0], [y0, y0, y1, y1])
    radius = float(np.max(centre.separation(corner_ra, corner_dec)))
    return float(ra[0]), float(dec[0]), radius


# --- the widget -------------------------------------------------------------------------------


def _counts_text(counts: dict[str, int]) -> str:
    parts = [f"{counts['footprints']} footprint{'s' * (counts['footprints'] != 1)}"]
    if counts["points"]:
        parts.append(f"{counts['points']} centre{'s' * (counts['points'] != 1)} only")
    if counts["off_map"]:
        parts.append(f"{counts['off_map']} off the map (over {MAX_SEPARATION:g}° away)")
    if counts["no_position"]:
        parts.append(f"{counts['no_position']} without a position")
    return ", ".join(parts)


class SkyView(anywidget.AnyWidget):
    """The footprints of search results on a tangent-plane map (see the module notes).

    ``SkyView(source=None, *, limit=500, search_on_region=None)``: ``source`` is a session
    (then :meth:`search` fills the map) or a Page / list of records (shown at once).
    ``limit`` caps the records a :meth:`search` draws. ``search_on_region`` (default: True
    for a session) runs a new search around a dragged box.
    """

    _esm = static_file("sky.js")
    _css = static_file("sky.css")
    scene = traitlets.Dict(help="what the browser draws (make_scene)").tag(sync=True)
    selected_id = traitlets.Unicode("", help="id of the chosen record").tag(sync=True)
    box: traitlets.List[float] = traitlets.List(
        help="[x0, y0, x1, y1] dragged on the plane (degrees)").tag(sync=True)
    region = traitlets.Dict(help="{ra, dec, radius} of the last dragged box, degrees")
    caption = traitlets.Unicode("", help="the line under the map").tag(sync=True)
    message = traitlets.Unicode("", help="shown instead of the map (empty/error)").tag(sync=True)
    level_colours = traitlets.Dict(LEVEL_COLOURS).tag(sync=True)

    def __init__(self, source: Any = None, *, limit: int = 500,
                 search_on_region: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = int(limit)
        self.session: Any = None
        self.criteria: dict[str, Any] = {}
        self._records: dict[str, Any] = {}
        self._coverage: list[list[tuple[float, float]]] = []
        self.coverage: Any = None  # the MOC drawn (show_coverage)
        self._select_callbacks: list[Callable[[str | None], Any]] = []
        self._region_callbacks: list[Callable[[float, float, float], Any]] = []
        if source is not None and not callable(getattr(source, "items", None)):
            self.show(source)
        else:
            self.session = source
            self.message = "No results to map yet: call view.search(...) or view.show(page)."
        self.search_on_region = (self.session is not None if search_on_region is None
                                 else bool(search_on_region))
        self.observe(self._on_selected, "selected_id")
        self.observe(self._on_box, "box")

    # --- what is shown ------------------------------------------------------------------

    @property
    def records(self) -> list[Any]:
        """The records on the map, in the order given."""
        return list(self._records.values())

    @property
    def selected_record(self) -> Any:
        """The chosen record, or None."""
        return self._records.get(self.selected_id)

    def search(self, **criteria: Any) -> list[Any]:
        """Ask the session for up to ``limit`` records matching ``criteria`` (the arguments of
        ``Session.search``) and map them; returns them. Errors are shown on the map."""
        if self.session is None:
            raise ValueError("this SkyView was made from results, not a session: "
                             "use view.show(page) or SkyView(session)")
        criteria = {k: v for k, v in criteria.items() if k not in ("page", "page_size")}
        self.criteria = criteria
        try:
            records = list(self.session.items(**criteria, page=1, page_size=self.limit))
        except Exception as exc:
            self._records = {}
            self.scene = {}
            self.message = f"Search failed: {error_text(exc)}"
            self.caption = ""
            return []
        self.show(records)
        return records

    def show(self, results: Any) -> None:
        """Map a Page (its items) or any iterable of records, replacing what was shown."""
        records = list(getattr(results, "items", results))
        self._records = {str(r.id): r for r in records}
        cone = self._cone()
        self.scene = make_scene(records, cone=cone, coverage=self._coverage)
        counts = self.scene["counts"]
        if not records and self._coverage:
            self.message = ""
        elif not records:
            self.message = "No records match."
        elif not counts["drawn"]:
            self.message = f"None of these {len(records)} records has a position on the map."
        else:
            self.message = ""
        if self.selected_id not in self._records:
            self.selected_id = ""
        self._update_caption()

    def show_coverage(self, moc: Any, max_cells: int = MAX_COVERAGE_CELLS) -> None:
        """Draw a coverage map (a mocpy MOC, e.g. ``Session.coverage(...)``) under the
        footprints; None removes it. Cells past ``max_cells`` are drawn at a coarser order."""
        self.coverage = moc
        self._coverage = [] if moc is None else coverage_cells(moc, max_cells)
        self.show(self.records)
        self._update_caption()

    def _cone(self) -> tuple[float, float, float] | None:
        position = self.criteria.get("position")
        if position is None:
            return None
        from jwstnb import sky

        try:
            ra, dec = sky.parse_position(position)
            return ra, dec, sky.parse_radius(self.criteria.get("radius", 0.0))
        except ValueError:
            return None

    def _update_caption(self) -> None:
        counts = self.scene.get("counts")
        text = _counts_text(counts) if counts and counts["records"] else ""
        if self.coverage is not None:
            area = float(self.coverage.sky_fraction) * _SKY_DEG2
            shown = f"coverage {area:.4g} deg²"
            text = f"{text} · {shown}" if text else shown
        cone = self._cone()
        if cone is not None and text:
            text += f" · cone {cone[0]:.6f} {cone[1]:+.6f} r={cone[2]:.6f}°"
        record = self.selected_record
        if record is not None:
            level = getattr(record.processing_level, "value", record.processing_level)
            text = f"Selected: {record.file_name} ({level})" + (f" · {text}" if text else "")
        self.caption = text

    # --- selection and regions ----------------------------------------------------------

    def select(self, record_id: str | None) -> None:
        """Choose a record on the map by id (None clears the choice)."""
        self.selected_id = record_id or ""

    def on_select(self, callback: Callable[[str | None], Any]) -> None:
        """Call ``callback(record_id)`` whenever the choice changes (None when cleared)."""
        self._select_callbacks.append(callback)

    def on_region(self, callback: Callable[[float, float, float], Any]) -> None:
        """Call ``callback(ra, dec, radius)`` (degrees) when a box is dragged on the map."""
        self._region_callbacks.append(callback)

    def _on_selected(self, change: dict[str, Any]) -> None:
        self._update_caption()
        for callback in self._select_callbacks:
            callback(change["new"] or None)

    def _on_box(self, change: dict[str, Any]) -> None:
        box = change["new"]
        centre = self.scene.get("centre")
        if not box or not centre:
            return
        try:
            ra, dec, radius = box_to_cone(Projection(*centre), box)
        except ValueError as exc:
            self.caption = error_text(exc)
            return
        self.region = {"ra": ra, "dec": dec, "radius": radius}
        for callback in self._region_callbacks:
            callback(ra, dec, radius)
        if self.search_on_region and self.session is not None:
            self.search(**{**self.criteria, "position": (ra, dec), "radius": radius})
