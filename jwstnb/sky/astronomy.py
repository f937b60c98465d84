"""The sky as astronomers describe it: positions, radii, footprints (STC-S, WCS corners,
pointing), area centroids, exact great-circle tests of cones and search regions (the IVOA SIA
2.0 intersect modes), and target names.

Pure: no I/O except :func:`resolve` (astropy's name resolver). astropy, numpy and
spherical-geometry are imported inside the functions, so ``import jwstnb.sky`` is light.
How a footprint is encoded for a database index (GeoJSON, HEALPix cells) is
:mod:`jwstnb.sky.encodings`.


"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    from astropy.coordinates import SkyCoord  # type: ignore[import-untyped, unused-ignore]
    from numpy.typing import NDArray

    Vectors = NDArray[np.float64]

__all__ = [
    "CHART_TOLERANCE",
    "CONE_PAD",
    "INTERSECT_MODES",
    "Footprint",
    "SkyQuery",
    "TargetSource",
    "area_centroid",
    "centre_from_pointing",
    "footprint_from_wcs",
    "matches_cone",
    "parse_intersect",
    "parse_position",
    "parse_radius",
    "parse_region",
    "parse_stcs",
    "read_footprint",
    "record_shape",
    "resolve",
]

Vertex = tuple[float, float]
Ring = tuple[Vertex, ...]
Circle = tuple[float, float, float]

#: Largest difference (degrees) allowed between an edge read as a great circle and read as a
#: straight line in longitude/latitude: edges are cut until their midpoints agree this well.
CHART_TOLERANCE = 0.1 / 3600.0
#: Extra radius (degrees) of the polygon sent for a cone: covers both readings of the stored
#: footprints and of the cone polygon itself, many times over.
CONE_PAD = 1.0 / 3600.0
#: A circle is sent as a circumscribed polygon of this many great-circle sides ...
_CIRCLE_SIDES = 24
#: ... up to this radius (degrees); bigger circles are sent as their longitude/latitude box.
_MAX_POLYGON_RADIUS = 45.0
#: Longest step (degrees of longitude) along a parallel of a box; its great-circle sag is then
#: at most step**2 / 16 radians (0.25 arcsec), well inside CONE_PAD.
_PARALLEL_STEP = 0.25
#: Longest meridian edge (degrees) in the GeoJSON, so no edge joins two antipodal points.
_MERIDIAN_STEP = 30.0
_POLE = 90.0 - 1e-9
# A cap this wide (degrees) is treated as the whole sky: astropy_healpix searches caps smaller
# than a hemisphere, and a cap past it no longer bounds a polygon usefully.
_WHOLE_SKY = 89.0
_MAX_TEXT = 100_000
_FRAMES_AS_ICRS = {"ICRS", "GSC1", "J2000", "UNKNOWNFRAME"}
_FRAMES_CONVERTED = {"FK4": "fk4", "B1950": "fk4", "FK5": "fk5", "GALACTIC": "galactic"}
_REFPOS = {
    "GEOCENTER", "TOPOCENTER", "BARYCENTER", "HELIOCENTER", "LSR", "LSRK", "LSRD",
    "GALACTIC_CENTER", "LOCAL_GROUP_CENTER", "EMBARYCENTER", "MOON", "MERCURY", "VENUS",
    "MARS", "JUPITER", "SATURN", "URANUS", "NEPTUNE", "PLUTO", "RELOCATABLE",
    "UNKNOWNREFPOS",
}
_FLAVORS = {"SPHERICAL2", "UNITSPHERE"}
_SHAPES = {"POLYGON": None, "CIRCLE": 3, "BOX": 4}


def _invalid(field_name: str, message: str, value: Any = None) -> Exception:
    """A ``jwstnb.errors.ValidationError`` (a ValueError) naming the argument."""
    from jwstnb.errors import invalid

    return invalid(field_name, message, value)


def _wrap_ra(ra: float) -> float:
    ra = float(ra) % 360.0
    return 0.0 if ra >= 360.0 else ra  # -1e-17 % 360 rounds to 360.0


def _finite(value: Any, field_name: str) -> float:
    if isinstance(value, bool):
        raise _invalid(field_name, "must be a number, not a boolean", value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _invalid(field_name, "must be a number", repr(value)) from None
    if not math.isfinite(number):
        raise _invalid(field_name, "must be a finite number", repr(value))
    return number


def _vertex(ra: Any, dec: Any, field_name: str) -> Vertex:
    ra_deg, dec_deg = _finite(ra, field_name), _finite(dec, field_name)
    if not -90.0 <= dec_deg <= 90.0:
        raise _invalid(field_name, "Dec must lie between -90 and +90 degrees", dec_deg)
    return _wrap_ra(ra_deg), dec_deg


# --- the footprint ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Footprint:
    """A region of the sky in ICRS degrees: polygons (great-circle edges) and/or circles.

    ``polygons`` are vertex lists ``((ra, dec), ...)`` (open rings: the first vertex is not
    repeated); a polygon's inside is the smaller of the two regions its ring bounds (so vertex
    order does not matter, as MAST writes both). ``circles`` are ``(ra, dec, radius)``. Several
    shapes mean their union. RA is kept in [0, 360).
    """

    polygons: tuple[Ring, ...] = ()
    circles: tuple[Circle, ...] = ()

    def __post_init__(self) -> None:
        polygons = tuple(_ring(p) for p in self.polygons)
        for ring in polygons:
            _oriented(ring)  # refuses a polygon whose vertices lie on one great circle
        circles = []
        for circle in self.circles:
            if len(circle) != 3:
                raise _invalid("footprint", "a circle is (ra, dec, radius)", repr(circle))
            ra, dec = _vertex(circle[0], circle[1], "footprint")
            radius = _finite(circle[2], "footprint")
            if not 0.0 < radius <= 180.0:
                raise _invalid("footprint", "a circle's radius is above 0 and at most 180 "
                               "degrees", radius)
            circles.append((ra, dec, radius))
        if not polygons and not circles:
            raise _invalid("footprint", "a footprint needs at least one polygon or circle")
        object.__setattr__(self, "polygons", polygons)
        object.__setattr__(self, "circles", tuple(circles))

    @property
    def centre(self) -> tuple[float, float]:
        """(ra, dec) in degrees: the area centroid on the sphere (:func:`area_centroid`), so
        an irregular or multi-part footprint is centred where its area is; the normalised
        mean direction of the vertices and circle centres only when the area has no centre
        (a region spread evenly over the sphere)."""
        found = area_centroid(self)
        return found if found is not None else self.vertex_mean

    @property
    def vertex_mean(self) -> tuple[float, float]:
        """(ra, dec): the normalised mean direction of the vertices and circle centres (the
        fallback of :attr:`centre`; off the area's centre when vertices bunch up)."""
        import numpy as np

        points = [v for ring in self.polygons for v in ring] + [c[:2] for c in self.circles]
        xyz = _to_vectors([p[0] for p in points], [p[1] for p in points])
        mean = xyz.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm < 1e-9:  # symmetric about the origin: no meaningful mean, take a vertex
            return points[0]
        return _to_lonlat(mean / norm)

    def to_stcs(self) -> str:
        """STC-S text (ICRS); ``parse_stcs(fp.to_stcs()) == fp`` (floats written exactly)."""
        shapes = [
            "POLYGON ICRS " + " ".join(f"{ra!r} {dec!r}" for ra, dec in ring)
            for ring in self.polygons
        ] + [f"CIRCLE ICRS {ra!r} {dec!r} {r!r}" for ra, dec, r in self.circles]
        if len(shapes) == 1:
            return shapes[0]
        return "UNION ICRS ( " + " ".join(shapes) + " )"

    @functools.cached_property
    def bounding_cap(self) -> tuple[float, float, float]:
        """A cap ``(ra, dec, radius)`` in degrees holding the whole footprint (padded by
        CONE_PAD; a radius of ``_WHOLE_SKY`` or more says nothing useful)."""
        return _bounding_cap(self)

    def overlaps_cone(self, ra: float, dec: float, radius: float) -> bool:
        """True when some point of the footprint lies within ``radius`` degrees of (ra, dec)."""
        from astropy.coordinates import angular_separation  # type: ignore[import-untyped, unused-ignore]

        # The bounding cap decides most records of a search quickly: wholly outside the
        # cone, or wholly inside it; only the ones across its edge need the exact test.
        c_ra, c_dec, c_r = self.bounding_cap
        if c_r < _WHOLE_SKY:
            sep = math.degrees(float(angular_separation(
                math.radians(c_ra), math.radians(c_dec), math.radians(ra), math.radians(dec))))
            if sep > c_r + radius:
                return False
            if sep + c_r <= radius:
                return True

        for c_ra, c_dec, c_r in self.circles:
            sep = math.degrees(float(angular_separation(
                math.radians(c_ra), math.radians(c_dec), math.radians(ra), math.radians(dec))))
            if sep <= c_r + radius:
                return True
        point = _unit_vector(ra, dec)
        for xyz, prepared in self._prepared_rings:
            inside = _contains(xyz, point) if prepared is None else _contains_prepared(
                prepared, point)
            if inside or _boundary_distance(xyz, point) <= math.radians(radius):
                return True
        return False

    @functools.cached_property
    def _prepared_rings(self) -> tuple[tuple[Vectors, Any], ...]:
        """Each oriented ring with its gnomonic plane and planar path (None when it does
        not fit one hemisphere's plane), built once per footprint."""
        from matplotlib.path import Path

        out = []
        for xyz in self._oriented_rings:
            plane = _gnomonic(xyz)
            out.append((xyz, None if plane is None else (Path(plane[0]), plane[1])))
        return tuple(out)

    @functools.cached_property
    def _oriented_rings(self) -> tuple[Vectors, ...]:
        """Each polygon's unit vectors, counter-clockwise (computed once per footprint: the
        stored footprints are read once and tested against many cones)."""
        return tuple(_oriented(ring) for ring in self.polygons)


def area_centroid(footprint: Footprint) -> tuple[float, float] | None:
    """(ra, dec) in degrees of a footprint's area centroid on the sphere, or None when its
    area has no centre (a region spread evenly over the whole sphere).

    The centroid is the direction of the area's first moment, the integral of the position
    vector over the region: for a polygon with great-circle edges it is exactly
    ``1/2 * sum(angle_i * pole_i)`` over its edges (``pole_i`` the unit normal of edge i's
    great circle, the ring counter-clockwise), for a circle of radius r about c it is
    ``pi * sin(r)**2 * c``. Parts of a UNION add their moments (an overlap counts twice).
    Unlike the mean of the vertices it does not move toward where vertices bunch up (a
    detector outline with many vertices on one side). The vectors are spherical-geometry's
    (its polygons give areas and containment but no centroid).
    """
    import numpy as np

    moment = np.zeros(3)
    scale = 0.0  # the size of the terms summed, to tell a cancelled sum from a small one
    for ring in footprint.polygons:
        xyz = _oriented(ring)
        nxt = np.roll(xyz, -1, axis=0)
        cross = np.cross(xyz, nxt)
        sines = np.linalg.norm(cross, axis=1)
        angles = np.arctan2(sines, np.einsum("ij,ij->i", xyz, nxt))
        keep = sines > 0.0  # a repeated vertex has no edge
        moment += 0.5 * (angles[keep, None] * cross[keep] / sines[keep, None]).sum(axis=0)
        scale += 0.5 * float(angles[keep].sum())
    for ra, dec, radius in footprint.circles:
        centre = _to_vectors([ra], [dec])[0]
        weight = math.pi * math.sin(math.radians(radius)) ** 2
        moment += weight * centre
        scale += weight
    norm = float(np.linalg.norm(moment))
    if not math.isfinite(norm) or norm <= 1e-12 * scale:
        return None
    return _to_lonlat(moment / norm)


def _ring(polygon: Iterable[Sequence[Any]]) -> Ring:
    vertices = [_vertex(*_pair(v), "footprint") for v in polygon]
    if len(vertices) > 1 and vertices[0] == vertices[-1]:
        vertices.pop()  # a closed ring: the closing vertex repeats the first
    deduped = [v for i, v in enumerate(vertices) if i == 0 or v != vertices[i - 1]]
    if len(set(deduped)) < 3:
        raise _invalid("footprint", "a polygon needs at least three distinct vertices",
                       repr(vertices[:4]))
    return tuple(deduped)


def _pair(value: Any) -> tuple[Any, Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise _invalid("footprint", "a vertex is an (ra, dec) pair", repr(value))
    return value[0], value[1]


# --- vectors and great circles --------------------------------------------------------------------


def _to_vectors(lon: Sequence[float], lat: Sequence[float]) -> Vectors:
    import numpy as np
    from spherical_geometry.vector import lonlat_to_vector  # type: ignore[import-untyped, unused-ignore]

    x, y, z = lonlat_to_vector(np.asarray(lon, float), np.asarray(lat, float), degrees=True)
    return np.column_stack((x, y, z))


def _to_lonlat(xyz: Vectors) -> tuple[float, float]:
    from spherical_geometry.vector import vector_to_lonlat  # type: ignore[import-untyped, unused-ignore]

    lon, lat = vector_to_lonlat(xyz[..., 0], xyz[..., 1], xyz[..., 2], degrees=True)
    return _wrap_ra(float(lon)), max(-90.0, min(90.0, float(lat)))


def _spherical(xyz: Vectors) -> Any:
    from spherical_geometry.polygon import SingleSphericalPolygon  # type: ignore[import-untyped, unused-ignore]

    polygon = SingleSphericalPolygon(xyz)
    if polygon._degenerate:  # spherical-geometry's flag: all vertices on one great circle
        raise _invalid("footprint", "a polygon's vertices all lie on one great circle")
    return polygon


def _gnomonic(xyz: Vectors) -> tuple[Vectors, Vectors] | None:
    """The ring in the tangent plane at its mean direction (gnomonic: great circles become
    straight lines, so orientation and containment are exact planar questions), with that
    direction; None when the ring does not fit in the open hemisphere around it.

    Hand-written because spherical-geometry's orientation and inside point are unreliable for
    sub-arcsecond polygons near the poles (its triple products underflow its tolerances).
    """
    import numpy as np

    mean = xyz.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-12:
        return None
    mean /= norm
    dots = xyz @ mean
    if float(dots.min()) <= 1e-6:
        return None
    helper = np.array([0.0, 0.0, 1.0]) if abs(mean[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    east = _cross(helper, mean)
    east /= np.linalg.norm(east)
    north = _cross(mean, east)  # east x north = mean: the plane seen from outside
    flat = xyz / dots[:, None]
    return np.column_stack((flat @ east, flat @ north)), np.vstack((mean, east, north))


def _shoelace(flat: Vectors) -> float:
    import numpy as np

    x, y = flat[:, 0], flat[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _oriented(ring: Ring) -> Vectors:
    """Unit vectors of a ring, counter-clockwise seen from outside the sphere (inside on the
    left), inside = the smaller region. A ValidationError when all lie on one great circle."""
    import numpy as np

    xyz = _to_vectors(*zip(*ring, strict=True))
    plane = _gnomonic(xyz)
    if plane is None:  # bigger than a hemisphere's worth: spherical-geometry orients it
        points: Vectors = _spherical(xyz).points
        return points[:-1][::-1].copy()  # it turns rings clockwise; we want the reverse
    flat = plane[0]
    area = _shoelace(flat)
    extent = float(np.ptp(flat, axis=0).max())
    if abs(area) <= 1e-9 * extent**2:
        raise _invalid("footprint", "a polygon's vertices all lie on one great circle")
    return xyz if area > 0 else xyz[::-1].copy()


def _contains(xyz: Vectors, point: Vectors) -> bool:
    """Whether a counter-clockwise ring's inside holds ``point`` (edges may go either way)."""
    plane = _gnomonic(xyz)
    if plane is None:
        return bool(_spherical(xyz[::-1]).contains_point(point))
    from matplotlib.path import Path

    flat, (mean, east, north) = plane
    height = float(point @ mean)
    if height <= 0.0:
        return False
    target = point / height
    return bool(Path(flat).contains_point((float(target @ east), float(target @ north))))


def _unit_vector(ra: float, dec: float) -> Vectors:
    """The unit vector of one (ra, dec) in degrees (what ``_to_vectors`` gives, for one)."""
    import numpy as np

    r, d = math.radians(ra), math.radians(dec)
    return np.array([math.cos(d) * math.cos(r), math.cos(d) * math.sin(r), math.sin(d)])


def _contains_prepared(prepared: Any, point: Vectors) -> bool:
    """:func:`_contains` with the ring's plane and path already built."""
    path, (mean, east, north) = prepared
    height = float(point @ mean)
    if height <= 0.0:
        return False
    target = point / height
    return bool(path.contains_point((float(target @ east), float(target @ north))))


def _is_convex(xyz: Vectors) -> bool:
    import numpy as np

    a, b, c = xyz, np.roll(xyz, -1, axis=0), np.roll(xyz, -2, axis=0)
    turns = np.einsum("ij,ij->i", _cross(a, b), c)
    scale = float(np.max(np.abs(turns)))
    return bool(np.all(turns >= -1e-9 * scale))


def _cross(a: Vectors, b: Vectors) -> Vectors:
    """``a x b`` along the last axis, broadcast. Written out because ``numpy.cross`` costs ten
    times more on the 3-vectors and short rings here, and a cone search tests every candidate."""
    import numpy as np

    return np.stack((a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]), axis=-1)


def _angle(u: Vectors, v: Vectors) -> Vectors:
    import numpy as np

    angle: Vectors = np.arctan2(np.linalg.norm(_cross(u, v), axis=-1),
                                np.einsum("...j,...j", u, v))
    return angle


def _boundary_distance(xyz: Vectors, point: Vectors) -> float:
    """Angular distance (radians) from ``point`` to the nearest edge of a great-circle ring.

    Hand-written: neither spherical-geometry nor astropy measures point-to-arc distance. The
    nearest point of an arc is the projection of ``point`` on its great circle when that
    projection lies on the arc, else an end.
    """
    import numpy as np

    a, b = xyz, np.roll(xyz, -1, axis=0)
    ends = np.minimum(_angle(a, point), _angle(b, point))
    normal = _cross(a, b)
    length = np.linalg.norm(normal, axis=1)
    ok = length > 1e-15
    normal[ok] /= length[ok, None]
    foot = point - np.outer(normal @ point, np.ones(3)) * normal
    on_arc = (
        ok
        & (np.einsum("ij,ij->i", _cross(a, foot), normal) >= 0)
        & (np.einsum("ij,ij->i", _cross(foot, b), normal) >= 0)
    )
    to_circle = np.arcsin(np.clip(np.abs(normal @ point), 0.0, 1.0))
    return float(np.min(np.where(on_arc, to_circle, ends)))


# --- caps and cones ------------------------------------------------------------------------------


def _bounding_cap(footprint: Footprint) -> tuple[float, float, float]:
    """A cap (ra, dec, radius) holding the whole footprint (``Footprint.bounding_cap``)."""
    import numpy as np
    from astropy.coordinates import angular_separation  # type: ignore[import-untyped, unused-ignore]

    ra, dec = footprint.centre
    radius = 0.0
    vertices = [v for ring in footprint.polygons for v in ring]
    if vertices:
        lon = np.radians([v[0] for v in vertices])
        lat = np.radians([v[1] for v in vertices])
        seps = angular_separation(math.radians(ra), math.radians(dec), lon, lat)
        radius = float(np.degrees(np.max(seps)))
    for c_ra, c_dec, c_r in footprint.circles:
        sep = float(angular_separation(math.radians(ra), math.radians(dec),
                                       math.radians(c_ra), math.radians(c_dec)))
        radius = max(radius, math.degrees(sep) + c_r)
    return ra, dec, radius + CONE_PAD


def matches_cone(footprint: Footprint | None, centre: tuple[float, float] | None,
                 ra: float, dec: float, radius: float) -> bool:
    """The search rule, exact on great circles: the footprint overlaps the cone (radius 0: it
    contains the position, edges included); with no footprint, the centre lies in the cone."""
    if footprint is not None:
        return footprint.overlaps_cone(ra, dec, radius)
    if centre is None:
        return False
    from astropy.coordinates import angular_separation  # type: ignore[import-untyped, unused-ignore]

    sep = angular_separation(*(math.radians(float(v)) for v in (centre[0], centre[1], ra, dec)))
    return math.degrees(float(sep)) <= radius


# --- a record's shape: the one reading rule ------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def read_footprint(text: Any) -> Footprint | None:
    """A stored footprint (STC-S text) as a :class:`Footprint`, or None when there is none or it
    cannot be read: a broken region never breaks a search, the record falls back to its centre.

    The one rule every reader of a record's footprint follows (derived sky fields, the exact
    test of a cone, the sky view, records built from headers).
    """
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
        return None
    try:
        return parse_stcs(text)
    except (ValueError, TypeError, ArithmeticError):
        return None


def record_shape(info: Any) -> tuple[Footprint | None, tuple[float, float] | None]:
    """A record's footprint (None when absent or unreadable) and centre (None when absent),
    from its ``imageInfo`` (a stored mapping or an :class:`~jwstnb.schema.ImageMetadata`)."""
    if info is None:
        return None, None
    if isinstance(info, Mapping):
        text, ra, dec = info.get("footprint"), info.get("ra"), info.get("dec")
    else:
        text, ra, dec = (getattr(info, k, None) for k in ("footprint", "ra", "dec"))
    numbers = (int, float)
    centre = (
        (float(ra), float(dec))
        if isinstance(ra, numbers) and isinstance(dec, numbers)
        and not isinstance(ra, bool) and not isinstance(dec, bool)
        else None
    )
    return read_footprint(text), centre


# --- STC-S ---------------------------------------------------------------------------------------


def parse_stcs(text: str) -> Footprint:
    """A footprint from STC-S as MAST writes ``s_region``: POLYGON, CIRCLE, BOX (centre and full
    widths; great-circle sides through the corners offset from the centre), UNION of those, or
    several shapes one after another (a union too).

    Frames: ICRS, GSC1, J2000, UNKNOWNFRAME taken as ICRS (J2000/FK5 differ from ICRS by
    about 0.02 arcsec); FK4 (B1950), FK5 and GALACTIC converted to ICRS by astropy. Reference
    positions (TOPOCENTER, ...) and SPHERICAL2 are accepted and ignored. Anything else is a
    ``ValidationError`` (a ValueError) naming ``footprint``.
    """
    if not isinstance(text, str):
        raise _invalid("footprint", "STC-S must be text", repr(text))
    if len(text) > _MAX_TEXT:
        raise _invalid("footprint", f"STC-S longer than {_MAX_TEXT} characters", text)
    tokens = re.findall(r"[()]|[^\s()]+", text)
    if not tokens:
        raise _invalid("footprint", "STC-S is empty", text)
    polygons: list[Ring] = []
    circles: list[Circle] = []
    end = _parse_shapes(tokens, 0, "ICRS", polygons, circles, text)
    if end != len(tokens):
        raise _invalid("footprint", f"unexpected {tokens[end]!r} in STC-S", text)
    return Footprint(tuple(polygons), tuple(circles))


def _parse_shapes(tokens: list[str], i: int, frame: str, polygons: list[Ring],
                  circles: list[Circle], text: str) -> int:
    """Shapes from tokens[i:] until a ')' or the end; returns the index reached."""
    while i < len(tokens) and tokens[i] != ")":
        word = tokens[i].upper()
        i, shape_frame = _prefix(tokens, i + 1, frame)
        if word == "UNION":
            if i >= len(tokens) or tokens[i] != "(":
                raise _invalid("footprint", "UNION needs its shapes in parentheses", text)
            i = _parse_shapes(tokens, i + 1, shape_frame, polygons, circles, text)
            if i >= len(tokens):
                raise _invalid("footprint", "UNION ( ... has no closing parenthesis", text)
            i += 1
            continue
        if word not in _SHAPES:
            raise _invalid("footprint", f"unknown STC-S shape {tokens[i - 1]!r} (POLYGON, "
                           "CIRCLE, BOX or UNION)", text)
        numbers: list[float] = []
        while i < len(tokens) and _is_number(tokens[i]):
            numbers.append(_finite(tokens[i], "footprint"))
            i += 1
        _add_shape(word, numbers, shape_frame, polygons, circles, text)
    return i


def _prefix(tokens: list[str], i: int, frame: str) -> tuple[int, str]:
    """Skip a shape's frame / reference position / flavor words; returns (index, frame)."""
    while i < len(tokens):
        word = tokens[i].upper()
        if word in _FRAMES_AS_ICRS or word in _FRAMES_CONVERTED:
            frame = word
        elif word not in _REFPOS and word not in _FLAVORS:
            break
        i += 1
    return i, frame


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _add_shape(word: str, numbers: list[float], frame: str, polygons: list[Ring],
               circles: list[Circle], text: str) -> None:
    needed = _SHAPES[word]
    if needed is None:
        if len(numbers) < 6 or len(numbers) % 2:
            raise _invalid("footprint", "POLYGON needs at least three ra dec pairs", text)
        pairs = list(zip(numbers[::2], numbers[1::2], strict=True))
        polygons.append(_ring(_to_icrs(pairs, frame)))
    elif len(numbers) != needed:
        what = "ra dec radius" if word == "CIRCLE" else "ra dec width height"
        raise _invalid("footprint", f"{word} needs {what} ({needed} numbers)", text)
    elif word == "CIRCLE":
        (ra, dec), = _to_icrs([(numbers[0], numbers[1])], frame)
        circles.append((ra, dec, numbers[2]))
    else:
        ra, dec, width, height = numbers
        polygons.append(_ring(_to_icrs(_box_corners(ra, dec, width, height, text), frame)))


def _box_corners(ra: float, dec: float, width: float, height: float,
                 text: str) -> list[Vertex]:
    """The four corners of an STC-S BOX, counter-clockwise, offset from its centre along its
    own RA and Dec directions by half the widths (astropy's spherical offsets)."""
    import astropy.units as u  # type: ignore[import-untyped, unused-ignore]
    from astropy.coordinates import SkyCoord  # type: ignore[import-untyped, unused-ignore]

    if not (0.0 < width < 180.0 and 0.0 < height < 180.0):
        raise _invalid("footprint", "BOX widths must lie between 0 and 180 degrees", text)
    centre = SkyCoord(*_vertex(ra, dec, "footprint"), unit="deg", frame="icrs")
    dx, dy = width / 2.0, height / 2.0
    corners = [(dx, -dy), (dx, dy), (-dx, dy), (-dx, -dy)]  # RA grows east: CCW from outside
    moved = centre.spherical_offsets_by([c[0] for c in corners] * u.deg,
                                        [c[1] for c in corners] * u.deg)
    return [(float(a), float(b)) for a, b in zip(moved.ra.deg, moved.dec.deg, strict=True)]


def _to_icrs(pairs: list[Vertex], frame: str) -> list[Vertex]:
    if frame not in _FRAMES_CONVERTED:
        return [_vertex(ra, dec, "footprint") for ra, dec in pairs]
    from astropy.coordinates import SkyCoord  # type: ignore[import-untyped, unused-ignore]

    for ra, dec in pairs:
        _vertex(ra, dec, "footprint")
    lon, lat = zip(*pairs, strict=True)
    icrs = SkyCoord(list(lon), list(lat), unit="deg", frame=_FRAMES_CONVERTED[frame]).icrs
    return [(float(a), float(b)) for a, b in zip(icrs.ra.deg, icrs.dec.deg, strict=True)]


# --- WCS and pointing ----------------------------------------------------------------------------


def footprint_from_wcs(wcs: Any, shape: Sequence[int]) -> Footprint:
    """The footprint of an image: its four outer pixel corners through an astropy WCS.

    ``shape`` is the array shape (ny, nx). The WCS's celestial frame (FK5, Galactic, ...) is
    converted to ICRS. A ValueError when the corners do not land on the sky.
    """
    from astropy.wcs.utils import pixel_to_skycoord  # type: ignore[import-untyped, unused-ignore]

    if len(shape) < 2 or min(int(shape[-1]), int(shape[-2])) <= 0:
        raise _invalid("shape", "an image shape is (ny, nx) with both above 0", repr(shape))
    ny, nx = int(shape[-2]), int(shape[-1])
    celestial = wcs if plain_sky_wcs(wcs) else getattr(wcs, "celestial", wcs)
    xs, ys = [-0.5, nx - 0.5, nx - 0.5, -0.5], [-0.5, -0.5, ny - 0.5, ny - 0.5]
    try:
        if plain_sky_wcs(celestial) and str(celestial.wcs.radesys).upper() == "ICRS":
            # Already ICRS degrees: no SkyCoord or frame transform (a scan's costliest step).
            ra, dec = celestial.pixel_to_world_values(xs, ys)
            pairs = [(float(a) % 360.0, float(d)) for a, d in zip(ra, dec, strict=True)]
            if not all(math.isfinite(a) and math.isfinite(d) for a, d in pairs):
                raise ValueError("a corner is not a finite position")
        else:
            corners = pixel_to_skycoord(xs, ys, celestial, origin=0).icrs
            pairs = list(zip(corners.ra.deg.tolist(), corners.dec.deg.tolist(), strict=True))
    except Exception as exc:  # astropy raises several types for a broken WCS
        raise _invalid("wcs", f"its corners do not map onto the sky ({exc})") from None
    return Footprint((tuple(pairs),))


def plain_sky_wcs(wcs: Any) -> bool:
    """A 2-D WCS whose axes are longitude then latitude: already its own ``.celestial``
    (which would only copy it, and astropy's WCS copies are a scan's slow part)."""
    inner = getattr(wcs, "wcs", None)
    return (
        getattr(wcs, "naxis", None) == 2 and inner is not None
        and getattr(inner, "lng", -1) == 0 and getattr(inner, "lat", -1) == 1
    )


_POINTING_KEYS = (("TARG_RA", "TARG_DEC"), ("RA_REF", "DEC_REF"), ("RA_TARG", "DEC_TARG"))


def centre_from_pointing(header: Mapping[str, Any]) -> tuple[float, float] | None:
    """(ra, dec) from pointing keywords: TARG_RA/TARG_DEC, RA_REF/DEC_REF, RA_TARG/DEC_TARG,
    else CRVAL1/CRVAL2 of a celestial WCS (CTYPE RA---* / DEC--*, either order); else None."""
    for ra_key, dec_key in _POINTING_KEYS:
        found = _header_position(header.get(ra_key), header.get(dec_key))
        if found is not None:
            return found
    ctype1 = str(header.get("CTYPE1") or "").upper()
    ctype2 = str(header.get("CTYPE2") or "").upper()
    if ctype1.startswith("RA") and ctype2.startswith("DEC"):
        return _header_position(header.get("CRVAL1"), header.get("CRVAL2"))
    if ctype1.startswith("DEC") and ctype2.startswith("RA"):
        return _header_position(header.get("CRVAL2"), header.get("CRVAL1"))
    return None


def _header_position(ra: Any, dec: Any) -> tuple[float, float] | None:
    if isinstance(ra, bool) or isinstance(dec, bool):
        return None
    try:
        ra_deg, dec_deg = float(ra), float(dec)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(ra_deg) and math.isfinite(dec_deg) and -90.0 <= dec_deg <= 90.0):
        return None
    return _wrap_ra(ra_deg), dec_deg


# --- positions, radii, names --------------------------------------------------------------------


def parse_position(value: Any) -> tuple[float, float]:
    """(ra, dec) in ICRS degrees from an astropy SkyCoord (any frame), an (ra, dec) pair in
    degrees, or text astropy parses ("10.6847 41.2687", "00h42m44.3s +41d16m09s",
    "10.6847d 41.2687d"; colon-separated sexagesimal means hours for RA)."""
    from astropy.coordinates import SkyCoord  # type: ignore[import-untyped, unused-ignore]

    if isinstance(value, SkyCoord):
        if not value.isscalar:
            raise _invalid("position", "give one position, not an array of them", repr(value))
        icrs = value.icrs
        return _vertex(icrs.ra.deg, icrs.dec.deg, "position")
    if isinstance(value, str):
        return _parse_position_text(value)
    if isinstance(value, Mapping | bytes):
        raise _invalid("position", "a position is a SkyCoord, an (ra, dec) pair in degrees or "
                       "text such as '10.6847 41.2687'", repr(value))
    try:
        items = list(value)
    except TypeError:
        raise _invalid("position", "a position is a SkyCoord, an (ra, dec) pair in degrees "
                       "or text such as '10.6847 41.2687'", repr(value)) from None
    if len(items) != 2:
        raise _invalid("position", "an (ra, dec) pair has two numbers", repr(value))
    return _vertex(_degrees(items[0], "position"), _degrees(items[1], "position"), "position")


def _parse_position_text(text: str) -> tuple[float, float]:
    import astropy.units as u  # type: ignore[import-untyped, unused-ignore]
    from astropy.coordinates import SkyCoord  # type: ignore[import-untyped, unused-ignore]

    cleaned = text.replace(",", " ").strip()
    if not cleaned or len(cleaned) > 200:
        raise _invalid("position", "give coordinates such as '10.6847 41.2687'", text)
    unit = (u.hourangle, u.deg) if ":" in cleaned else (u.deg, u.deg)
    try:
        coord = SkyCoord(cleaned, unit=unit, frame="icrs")
    except Exception:  # astropy raises ValueError, UnitsError, IndexError...
        raise _invalid("position", "astropy cannot read these coordinates; try "
                       "'10.6847 41.2687' or '00h42m44.3s +41d16m09s'", text) from None
    if not coord.isscalar:
        raise _invalid("position", "give one position", text)
    return _vertex(coord.ra.deg, coord.dec.deg, "position")


def _degrees(value: Any, field_name: str) -> float:
    """A number in degrees, or an astropy angle/quantity converted to degrees."""
    unit = getattr(value, "unit", None)
    if unit is not None:
        import astropy.units as u  # type: ignore[import-untyped, unused-ignore]

        try:
            return _finite(value.to_value(u.deg), field_name)
        except (u.UnitsError, TypeError, ValueError):
            raise _invalid(field_name, f"must be an angle, not {unit}", repr(value)) from None
    return _finite(value, field_name)


def parse_radius(value: Any) -> float:
    """A cone radius in degrees: a number (degrees), an astropy Angle/Quantity, or text such
    as '5 arcsec'; 0 allowed, negative or above 180 refused."""
    if isinstance(value, str):
        from astropy.coordinates import Angle  # type: ignore[import-untyped, unused-ignore]

        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                value = Angle(text)
            except Exception:  # astropy raises several types for unreadable text
                raise _invalid("radius", "give degrees or an angle such as '5 arcsec'",
                               value) from None
    radius = _degrees(value, "radius")
    if not 0.0 <= radius <= 180.0:
        raise _invalid("radius", "a radius lies between 0 and 180 degrees", radius)
    return radius


class TargetSource(Protocol):
    """What :func:`resolve` asks first: a Session knows the targets already in the database."""

    def target_position(self, name: str) -> tuple[float, float] | None: ...


def resolve(name: str, session: TargetSource | None = None, timeout: float = 5.0) -> SkyCoord:
    """A target name -> ICRS SkyCoord: the database's own targets first (offline), then
    astropy's Sesame name resolver (``timeout`` seconds per mirror, so it never hangs);
    :class:`jwstnb.errors.NameNotResolved` when neither knows the name."""
    from astropy.coordinates import SkyCoord  # type: ignore[import-untyped, unused-ignore]

    from jwstnb.errors import NameNotResolved

    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise _invalid("target", "a target name is non-empty text", repr(name))
    if session is not None:
        known = session.target_position(name.strip())
        if known is not None:
            ra, dec = _vertex(known[0], known[1], "target")
            return SkyCoord(ra, dec, unit="deg", frame="icrs")
    from astropy.coordinates.name_resolve import NameResolveError  # type: ignore[import-untyped, unused-ignore]
    from astropy.utils.data import conf  # type: ignore[import-untyped, unused-ignore]

    try:
        with conf.set_temp("remote_timeout", timeout):
            return SkyCoord.from_name(name.strip(), frame="icrs")
    except (NameResolveError, OSError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0][:200]
    where = "the targets in this database nor " if session is not None else ""
    raise NameNotResolved(
        f"no position for target {name.strip()!r}: neither {where}astropy's name resolver "
        f"(Sesame) knows it ({reason}). Give coordinates instead, e.g. '151.757 -40.436'."
    )


# --- search regions and intersect modes (IVOA SIA 2.0 INTERSECT) ---------------------------------
#
# A search region R is a Footprint (polygons and circles, their union) or a cone. A record's
# shape F is its footprint (else its centre alone). The modes mean what SIA 2.0's INTERSECT
# means: OVERLAPS R and F share a point; COVERS F holds all of R; ENCLOSED F lies inside R;
# CENTER R holds the record's centre. Everything is decided exactly on great circles (edges)
# and small circles (caps) with vector algebra, piece by piece: a union holds a piece when one
# of its pieces holds it (exact when a union's pieces do not overlap one another, as MAST's
# multi-detector footprints do not; overlapping pieces that only together hold a shape are
# not counted as holding it).

#: The intersect modes, as IVOA SIA 2.0 names them (lowercase).
INTERSECT_MODES = ("overlaps", "covers", "enclosed", "center")
_MODE_ALIASES = {"centre": "center", "overlap": "overlaps", "cover": "covers",
                 "contains": "covers", "inside": "enclosed", "within": "enclosed"}


def parse_intersect(value: Any) -> str:
    """An intersect mode (any case; ``centre`` for ``center``), else a ValidationError
    naming ``intersect``."""
    if not isinstance(value, str):
        raise _invalid("intersect", f"must be one of {', '.join(INTERSECT_MODES)}", repr(value))
    mode = value.strip().lower()
    mode = _MODE_ALIASES.get(mode, mode)
    if mode not in INTERSECT_MODES:
        raise _invalid("intersect", f"must be one of {', '.join(INTERSECT_MODES)}", value)
    return mode


def parse_region(value: Any) -> Footprint:
    """A search region as a :class:`Footprint`, from:

    - STC-S text (``POLYGON``, ``CIRCLE``, ``BOX``, ``UNION``; as :func:`parse_stcs`);
    - an astropy ``regions`` sky region: ``PolygonSkyRegion``, ``RectangleSkyRegion`` (its
      ``angle`` turns the width axis from east towards north), ``CircleSkyRegion`` and their
      spherical twins (``PolygonSphericalSkyRegion``, ``CircleSphericalSkyRegion``); the
      sides of a polygon are taken as great circles;
    - a list of at least three vertices, each an (ra, dec) pair in degrees (or astropy
      angles) or a SkyCoord, or one SkyCoord array of vertices;
    - a :class:`Footprint`.

    Errors are ValidationErrors naming ``region``.
    """
    if isinstance(value, Footprint):
        return value
    try:
        if isinstance(value, str):
            return parse_stcs(value)
        from_regions = _from_regions(value)
        if from_regions is not None:
            return from_regions
        return Footprint((tuple(_region_vertices(value)),))
    except ValueError as exc:
        message = str(exc).replace("footprint", "region")
        raise _invalid("region", message.split(": ", 1)[-1] if message.startswith("region")
                       else message) from None


def _region_vertices(value: Any) -> list[Vertex]:
    from astropy.coordinates import SkyCoord  # type: ignore[import-untyped, unused-ignore]

    if isinstance(value, SkyCoord):
        icrs = value.icrs
        if icrs.isscalar:
            raise _invalid("region", "a polygon needs at least three vertices")
        return list(zip(icrs.ra.deg.tolist(), icrs.dec.deg.tolist(), strict=True))
    if isinstance(value, Mapping | bytes) or not isinstance(value, Sequence):
        raise _invalid("region", "a region is STC-S text, a regions sky region or a list of "
                       "(ra, dec) vertices", repr(value)[:200])
    if len(value) > 10_000:
        raise _invalid("region", "a polygon has at most 10000 vertices")
    vertices = []
    for vertex in value:
        if isinstance(vertex, SkyCoord):
            vertices.append(parse_position(vertex))
        else:
            ra, dec = _pair(vertex)
            vertices.append((_degrees(ra, "region"), _degrees(dec, "region")))
    return vertices


def _from_regions(value: Any) -> Footprint | None:
    """A ``regions`` sky region as a Footprint (None when ``value`` is not one)."""
    module = type(value).__module__ or ""
    if not module.startswith("regions"):
        return None
    import astropy.units as u  # type: ignore[import-untyped, unused-ignore]

    kind = type(value).__name__
    if kind in ("CircleSkyRegion", "CircleSphericalSkyRegion"):
        ra, dec = parse_position(value.center)
        return Footprint(circles=((ra, dec, parse_radius(value.radius)),))
    if kind in ("PolygonSkyRegion", "PolygonSphericalSkyRegion"):
        return Footprint((tuple(_region_vertices(value.vertices)),))
    if kind == "RectangleSkyRegion":
        width = float(value.width.to_value(u.deg))
        height = float(value.height.to_value(u.deg))
        angle = math.radians(float(value.angle.to_value(u.deg)))
        if not (0.0 < width < 180.0 and 0.0 < height < 180.0):
            raise _invalid("region", "a rectangle's sides lie between 0 and 180 degrees")
        centre = value.center.icrs
        dx, dy = width / 2.0, height / 2.0
        corners = [(dx, -dy), (dx, dy), (-dx, dy), (-dx, -dy)]
        east = [x * math.cos(angle) - y * math.sin(angle) for x, y in corners]
        north = [x * math.sin(angle) + y * math.cos(angle) for x, y in corners]
        moved = centre.spherical_offsets_by(east * u.deg, north * u.deg)
        return Footprint((tuple(zip(moved.ra.deg.tolist(), moved.dec.deg.tolist(),
                                    strict=True)),))
    raise _invalid("region", f"a {kind} is not supported: use a polygon, rectangle or circle "
                   "sky region, or STC-S text")


# Pieces of a shape for the exact tests: ("poly", ccw unit vectors) or ("cap", centre, radius
# in radians); a point is a cap of radius 0.
_Piece = tuple[str, Any, float]


@functools.lru_cache(maxsize=256)
def _pieces(footprint: Footprint) -> tuple[_Piece, ...]:
    out: list[_Piece] = [("poly", xyz, 0.0) for xyz in footprint._oriented_rings]
    for ra, dec, radius in footprint.circles:
        out.append(("cap", _to_vectors([ra], [dec])[0], math.radians(radius)))
    return tuple(out)


def _inside_points(xyz: Vectors, points: Vectors) -> Any:
    """Which of ``points`` (N x 3) lie inside a counter-clockwise ring (vectorised)."""
    import numpy as np

    plane = _gnomonic(xyz)
    if plane is None:
        polygon = _spherical(xyz[::-1])
        return np.array([bool(polygon.contains_point(p)) for p in points], dtype=bool)
    from matplotlib.path import Path

    flat, (mean, east, north) = plane
    height = points @ mean
    ahead = height > 0.0
    result = np.zeros(len(points), dtype=bool)
    if ahead.any():
        projected = points[ahead] / height[ahead, None]
        xy = np.column_stack((projected @ east, projected @ north))
        result[ahead] = Path(flat).contains_points(xy)
    return result


def _edges_cross(p: Vectors, q: Vectors, strict: bool = False) -> bool:
    """Whether any edge of ring ``p`` meets any edge of ring ``q`` (great-circle arcs, each
    shorter than 180 degrees; all pairs at once). ``strict``: only crossings inside both
    edges count, not a touch at a vertex or along a shared edge."""
    import numpy as np

    a, b = p[:, None, :], np.roll(p, -1, axis=0)[:, None, :]
    c, d = q[None, :, :], np.roll(q, -1, axis=0)[None, :, :]
    n1, n2 = _cross(a, b), _cross(c, d)
    line = _cross(n1, n2)
    norm = np.linalg.norm(line, axis=-1)
    ok = norm > 1e-15
    line = line / np.where(ok, norm, 1.0)[..., None]
    # Side tests are sin(angle) * |normal|: a margin relative to each edge's length.
    margin1 = 1e-12 * np.linalg.norm(n1, axis=-1) if strict else 0.0
    margin2 = 1e-12 * np.linalg.norm(n2, axis=-1) if strict else 0.0
    for sign in (1.0, -1.0):
        x = sign * line

        def on(start: Any, end: Any, normal: Any, margin: Any, x: Any = x) -> Any:
            return ((np.einsum("...j,...j", _cross(start, x), normal) > margin)
                    & (np.einsum("...j,...j", _cross(x, end), normal) > margin)) if strict \
                else ((np.einsum("...j,...j", _cross(start, x), normal) >= 0)
                      & (np.einsum("...j,...j", _cross(x, end), normal) >= 0))

        if np.any(ok & on(a, b, n1, margin1) & on(c, d, n2, margin2)):
            return True
    return False


def _cap_angle(centre: Vectors, points: Vectors) -> Any:
    return _angle(points, centre)


def _piece_intersects(f: _Piece, r: _Piece) -> bool:
    """Whether two pieces share a point (boundaries included)."""
    kind_f, shape_f, rad_f = f
    kind_r, shape_r, rad_r = r
    if kind_f == "cap" and kind_r == "cap":
        return float(_angle(shape_f, shape_r)) <= rad_f + rad_r
    if kind_f == "cap" or kind_r == "cap":
        (_, ring, _), (_, centre, radius) = (r, f) if kind_f == "cap" else (f, r)
        if bool(_inside_points(ring, centre[None, :])[0]):
            return True
        return _boundary_distance(ring, centre) <= radius
    if bool(_inside_points(shape_r, shape_f).any()) or bool(
            _inside_points(shape_f, shape_r).any()):
        return True
    return _edges_cross(shape_f, shape_r)


def _piece_holds(outer: _Piece, inner: _Piece) -> bool:
    """Whether ``outer`` holds all of ``inner`` (boundaries touching count as holding)."""
    import numpy as np

    kind_o, shape_o, rad_o = outer
    kind_i, shape_i, rad_i = inner
    if kind_o == "cap" and kind_i == "cap":
        return float(_angle(shape_o, shape_i)) + rad_i <= rad_o
    if kind_o == "poly" and kind_i == "cap":
        if not bool(_inside_points(shape_o, shape_i[None, :])[0]):
            return False
        return rad_i == 0.0 or _boundary_distance(shape_o, shape_i) >= rad_i
    if kind_o == "cap":  # a cap holds a polygon when no point of it lies in the opposite cap
        if rad_o >= math.pi:
            return True
        if rad_o < math.pi / 2:  # a cap smaller than a hemisphere is convex: vertices decide
            return bool(np.all(_cap_angle(shape_o, shape_i) <= rad_o))
        opposite = ("cap", -shape_o, math.pi - rad_o)
        if bool(_inside_points(shape_i, -shape_o[None, :])[0]):
            return False
        return _boundary_distance(shape_i, -shape_o) >= opposite[2]
    inside = _inside_points(shape_o, shape_i)
    for k in np.flatnonzero(~inside):  # a vertex on outer's boundary is held too
        if _boundary_distance(shape_o, shape_i[k]) > 1e-11:
            return False
    return not _edges_cross(shape_o, shape_i, strict=True)


@dataclass(frozen=True)
class SkyQuery:
    """The sky part of a search: a region (a :class:`Footprint`) or a cone, and an intersect
    mode (:data:`INTERSECT_MODES`). :meth:`matches` is the exact rule, :attr:`cap` the
    bounding cap whose candidates the database indexes find."""

    region: Footprint | None = None
    cone: Circle | None = None
    intersect: str = "overlaps"

    def __post_init__(self) -> None:
        if (self.region is None) == (self.cone is None):
            raise _invalid("region", "a sky query is a region or a cone")
        object.__setattr__(self, "intersect", parse_intersect(self.intersect))

    @property
    def cap(self) -> Circle:
        """(ra, dec, radius) degrees holding the whole query shape."""
        if self.cone is not None:
            return self.cone
        assert self.region is not None
        ra, dec, radius = self.region.bounding_cap
        return ra, dec, min(180.0, radius)

    @functools.cached_property
    def _query_pieces(self) -> tuple[_Piece, ...]:
        if self.region is not None:
            return _pieces(self.region)
        assert self.cone is not None
        ra, dec, radius = self.cone
        return (("cap", _to_vectors([ra], [dec])[0], math.radians(radius)),)

    def matches(self, footprint: Footprint | None, centre: tuple[float, float] | None) -> bool:
        """Whether a record with this footprint (None: none) and centre (None: none) matches.

        A record with a centre alone matches ``overlaps``, ``enclosed`` and ``center`` when
        the centre lies in the query shape, and ``covers`` only when the query is a point
        (a cone of radius 0) at that centre. ``center`` uses the stored centre (the
        footprint's own centre when none is stored).
        """
        mode = self.intersect
        if mode == "overlaps" and self.cone is not None:
            return matches_cone(footprint, centre, *self.cone)
        query = self._query_pieces
        if mode == "center" or footprint is None:
            point = centre if centre is not None else (
                footprint.centre if footprint is not None else None)
            if point is None:
                return False
            dot = ("cap", _to_vectors([point[0]], [point[1]])[0], 0.0)
            if mode == "covers":
                return all(_piece_holds(dot, q) for q in query)
            return any(_piece_holds(q, dot) for q in query)
        shape = _pieces(footprint)
        if mode == "overlaps":
            return any(_piece_intersects(f, q) for f in shape for q in query)
        if mode == "covers":
            return all(any(_piece_holds(f, q) for f in shape) for q in query)
        return all(any(_piece_holds(q, f) for q in query) for f in shape)  # enclosed
