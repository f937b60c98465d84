"""Criteria and an access scope -> MongoDB query language: the ``$match`` stages of a read
and the pipelines built on them, shared by every planner of an engine that speaks it.

Pure: no I/O. Every read is a pipeline that starts with ONE single-field ``$match`` on an
indexed field (the most selective predicate: a sky cone, a text term's prefix range, else a
typed filter, else the scope) followed by a ``$match`` with the rest of the filter. A real
MongoDB coalesces the two stages and can always use the leading predicate's index; an
engine that plans only single-field predicates on an index still gets one. The page of
items never sits inside ``$facet`` (MongoDB cannot use an index there): :func:`page_pipeline`
sorts with an index, :func:`counts_pipeline` counts total and facets separately. What an
engine does beyond this (hints, windows, leads) is its planner's (:mod:`.mongodb`,
:mod:`.secantus`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jwstnb.access import Scope
from jwstnb.criteria import FACETS, SORT_FIELDS, Criteria
from jwstnb.documents import DERIVED_FIELDS
from jwstnb.errors import invalid
from jwstnb.session.planners.indexes import FALLBACK_INDEX, IndexSpec, lead_index, sort_index


def _prefix_upper(term: str) -> str | None:
    """The smallest string greater than every string starting with ``term`` (None: no bound)."""
    chars = list(term)
    while chars:
        last = ord(chars[-1])
        # Skip the surrogate block: such code points cannot appear in a (UTF-8) BSON string.
        nxt = last + 1 if last + 1 != 0xD800 else 0xE000
        if nxt <= 0x10FFFF:
            chars[-1] = chr(nxt)
            return "".join(chars)
        chars.pop()
    return None


def prefix_range(term: str) -> dict[str, str]:
    """The string range holding exactly the strings that start with ``term``.

    An anchored prefix regex as a range: index-backed on every server, no regex to escape.
    """
    upper = _prefix_upper(term)
    return {"$gte": term, "$lt": upper} if upper is not None else {"$gte": term}


def program_filter(program: str) -> dict[str, Any]:
    """Records of JWST program ``program`` ("02733"): one equality on the derived field."""
    if not re.fullmatch(r"\d{5}", program):
        raise invalid("program", "must be five digits, e.g. '02733'", program)
    return {"program": program}


def _one_or_in(values: Sequence[Any]) -> Any:
    return values[0] if len(values) == 1 else {"$in": list(values)}


def _case_variants(values: Sequence[str]) -> tuple[str, ...]:
    """Instrument and filter names match whatever case is typed (NIRCAM, nircam, NirCam)."""
    out: list[str] = []
    for v in values:
        out.extend((v, v.upper(), v.lower()))
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class SearchPlan:
    """The ``$match`` stages of one query and the index they are built to use.

    ``stages[0]`` is a single-field ``$match`` on the ``index``'s field (absent when no
    predicate is indexable; then ``hint_required`` is True and ``index`` is the upload-date
    index, walked). ``hint`` is the index's key pattern, for pymongo's ``aggregate(hint=...)``.
    ``broad`` marks a lead that may yield a
    large part of the collection (the scope, a data type...): pages then read the most
    recent records first (see :func:`page_pipeline`).
    """

    stages: tuple[dict[str, Any], ...]
    index: IndexSpec
    hint_required: bool
    broad: bool = False

    @property
    def hint(self) -> dict[str, int | str]:
        return self.index.key_pattern

    @property
    def filter(self) -> dict[str, Any]:
        """All stages as one filter (for tests and for readers of explain output)."""
        clauses = [s["$match"] for s in self.stages]
        if not clauses:
            return {}
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass(frozen=True)
class SkyTest:
    """What the session's exact test of a cone's candidates found (great circles,
    :func:`jwstnb.sky.matches_cone`), for the page and counts of that search.

    ``matches``: the ids inside the cone; on SecantusDB they lead as ``_id $in`` (the
    ``skyCells`` index found the candidates; the server then reads just these records).
    ``outside``: candidates in the cone's bounding GeoJSON that are not in the cone; without
    ``matches`` (MongoDB) they are left out with ``$nin`` behind the ``2dsphere`` lead.
    """

    matches: tuple[Any, ...] | None = None
    outside: tuple[Any, ...] = ()
    cells: bool = False  # the candidates come from the cells: without matches, so do these


# Rank of each indexed field as the leading predicate: lower is (usually) more selective.
_RANK = (
    "_id",
    "skyCells",
    "skyRegion",
    "observationBaseId",
    "keywords",
    "imageInfo.targetName",
    "tags",
    "program",
    "calibration.calVer",
    "calibration.contextNumber",
    "imageInfo.proposalPi",
    "imageInfo.filter",
    "imageInfo.observationDate",
    "imageInfo.exposureTime",
    "emMax",
    "emMin",
    "uploadDate",
    "imageInfo.instrument",
    "processingStatus",
    "processingLevel",
    "dataType",
    "readers",
    "isPublic",
)
# Leads that may hold a large share of the collection.
_BROAD = frozenset(
    {"uploadDate", "imageInfo.instrument", "processingStatus", "processingLevel", "dataType",
     "readers", "isPublic", "imageInfo.exposureTime", "emMin", "emMax"}
)


# Text whose longest word is this short leads like a broad filter (read recent uploads first).
_SHORT_WORD = 3


#: ``exclude_<facet>`` criterion -> the document path it leaves out.
EXCLUSIONS: dict[str, str] = {
    "exclude_data_type": "dataType",
    "exclude_processing_level": "processingLevel",
    "exclude_instrument": "imageInfo.instrument",
    "exclude_filter": "imageInfo.filter",
    "exclude_target_name": "imageInfo.targetName",
    "exclude_status": "processingStatus",
    "exclude_program": "program",
}

#: ObsCore calib_level -> the processing levels that carry it (DESIGN §11: L1 1, L2a/L2b 2,
#: L3 3). Levels 0 (raw) and 4 (analysis products) have no JWST processing level here.
CALIB_LEVELS: dict[int, tuple[str, ...]] = {1: ("L1",), 2: ("L2a", "L2b"), 3: ("L3",)}


def calib_processing_levels(levels: Sequence[int]) -> list[str]:
    """The ``processingLevel`` values of ObsCore calibration ``levels``."""
    return [p for level in levels for p in CALIB_LEVELS.get(level, ())]


def _span(low: float | None, high: float | None) -> dict[str, float]:
    bounds: dict[str, float] = {}
    if low is not None:
        bounds["$gte"] = low
    if high is not None:
        bounds["$lte"] = high
    return bounds


def _range(start: datetime | None, end: datetime | None) -> dict[str, datetime]:
    bounds: dict[str, datetime] = {}
    if start:
        bounds["$gte"] = start
    if end:
        bounds["$lte"] = end
    return bounds


@functools.lru_cache(maxsize=64)
def _cone_cached(ra: float, dec: float, radius: float) -> str:
    from jwstnb import sky

    return json.dumps(sky.cone_geojson(ra, dec, radius))


def _cone(ra: float, dec: float, radius: float) -> dict[str, Any]:
    """The cone's bounding GeoJSON (built once per cone: a page, its counts and its exact
    check all send the same one)."""
    shape: dict[str, Any] = json.loads(_cone_cached(ra, dec, radius))
    return shape


@functools.lru_cache(maxsize=64)
def _cone_cells(ra: float, dec: float, radius: float) -> tuple[int, ...]:
    from jwstnb import sky

    return tuple(sky.cone_cells(ra, dec, radius))


def match_plan(criteria: Criteria, scope: Scope, *, sky: SkyTest | None = None) -> SearchPlan:
    """The ``$match`` stages for ``criteria`` under ``scope`` (no paging, no facets).

    A position is decided by ``sky``, the session's exact test of the cone's candidates
    (:class:`SkyTest`), so totals and facets stay exact. Without its ``matches``, the cone's
    candidates come from the ``2dsphere`` index (the GeoJSON that holds the cone), or with
    ``sky.cells`` from the ``skyCells`` index (bounded lookups, for SecantusDB, whose own
    2dsphere lookups return a whole cube face of the sky), the GeoJSON test right behind.
    """
    # Each entry: (field, leading predicate); residual holds every clause, lead included.
    candidates: list[tuple[str, Any]] = []
    residual: list[dict[str, Any]] = []

    def exact(field_name: str, condition: Any) -> None:
        candidates.append((field_name, condition))
        residual.append({field_name: condition})

    query = criteria.sky_query
    if query is not None:
        # A region's candidates are its bounding cap's: the same indexes as a cone's.
        ra, dec, radius = query.cap
        overlaps = {"$geoIntersects": {"$geometry": _cone(ra, dec, radius)}}
        if sky is not None and sky.matches is not None:
            exact("_id", {"$in": list(sky.matches)})
        elif sky is not None and sky.cells:
            exact("skyCells", {"$in": list(_cone_cells(ra, dec, radius))})
            residual.append({"skyRegion": overlaps})
        else:
            exact("skyRegion", overlaps)
        if sky is not None and sky.matches is None and sky.outside:
            residual.append({"_id": {"$nin": list(sky.outside)}})
    if criteria.observation_base_id is not None:
        exact("observationBaseId", criteria.observation_base_id)
    # Longest word first: its prefix range is the narrowest.
    for term in sorted(criteria.terms, key=lambda t: (-len(t), t)):
        prefix = {"$regex": "^" + re.escape(term)}
        # The range serves the index; the anchored regex is exact on an array (a bare range
        # on a multikey field may be met by two different elements).
        candidates.append(("keywords", prefix_range(term)))
        residual.append({"keywords": prefix})
    if criteria.target_name:
        exact("imageInfo.targetName", _one_or_in(criteria.target_name))
    if criteria.tags:
        candidates.append(("tags", criteria.tags[0]))
        residual.append(
            {"tags": criteria.tags[0] if len(criteria.tags) == 1 else {"$all": list(criteria.tags)}}
        )
    if criteria.program:
        exact("program", _one_or_in(criteria.program))
    if criteria.cal_ver:
        exact("calibration.calVer", _one_or_in(criteria.cal_ver))
    if criteria.crds_context:
        exact("calibration.contextNumber", _one_or_in(criteria.crds_context))
    if criteria.made_before_context is not None:
        exact("calibration.contextNumber", {"$lt": criteria.made_before_context})
    if criteria.proposal_pi:
        exact("imageInfo.proposalPi", _one_or_in(criteria.proposal_pi))
    if criteria.filter:
        exact("imageInfo.filter", _one_or_in(_case_variants(criteria.filter)))
    if criteria.observed_from or criteria.observed_to:
        exact("imageInfo.observationDate", _range(criteria.observed_from, criteria.observed_to))
    if criteria.date_from or criteria.date_to:
        exact("uploadDate", _range(criteria.date_from, criteria.date_to))
    if criteria.exposure_time is not None:
        exact("imageInfo.exposureTime", _span(*criteria.exposure_time))
    low, high = criteria.wavelength or (None, None)
    if low is not None:  # the record's band [emMin, emMax] overlaps [low, high] (microns)
        exact("emMax", {"$gte": low})
    if high is not None:
        exact("emMin", {"$lte": high})
    if criteria.instrument:
        exact("imageInfo.instrument", _one_or_in(_case_variants(criteria.instrument)))
    if criteria.status:
        exact("processingStatus", _one_or_in(criteria.status))
    if criteria.processing_level:
        exact("processingLevel", _one_or_in(criteria.processing_level))
    if criteria.calib_level:
        exact("processingLevel", {"$in": calib_processing_levels(criteria.calib_level)})
    if criteria.data_type:
        exact("dataType", _one_or_in(criteria.data_type))
    # Exclusions never lead (a negation selects most of an index); they ride in the rest.
    for field_name, path in EXCLUSIONS.items():
        values = getattr(criteria, field_name)
        if values:
            if field_name in ("exclude_instrument", "exclude_filter"):
                values = _case_variants(values)
            residual.append({path: {"$nin": list(values)}})
    readers = scope.readers
    if readers is not None:
        exact("readers", {"$in": readers})
    if criteria.is_public is not None:
        exact("isPublic", criteria.is_public)
    if not criteria.include_archived:
        residual.append({"archived": {"$ne": True}})

    if not candidates:
        only = ({"$match": _merge(residual)},) if residual else ()
        return SearchPlan(only, FALLBACK_INDEX, hint_required=True, broad=True)
    lead_field, lead = min(candidates, key=lambda c: _RANK.index(c[0]))
    rest = [c for c in residual if c != {lead_field: lead}]
    stages: list[dict[str, Any]] = [{"$match": {lead_field: lead}}]
    if rest:
        stages.append({"$match": _merge(rest)})
    # A short word prefix ("n", "ngc") can match a large part of an archive as well.
    short_word = lead_field == "keywords" and len(lead["$gte"]) <= _SHORT_WORD
    return SearchPlan(
        tuple(stages), lead_index(lead_field), hint_required=False,
        broad=lead_field in _BROAD or short_word,
    )


def _merge(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    """One filter from single-field clauses; repeated fields go under ``$and``."""
    merged: dict[str, Any] = {}
    extra: list[dict[str, Any]] = []
    for clause in clauses:
        ((key, value),) = clause.items()
        if key in merged:
            extra.append(clause)
        else:
            merged[key] = value
    if extra:
        merged["$and"] = extra
    return merged


def _sort_spec(criteria: Criteria) -> dict[str, int]:
    direction = -1 if criteria.descending else 1
    path = SORT_FIELDS[criteria.sort]
    return {path: direction, "_id": direction}


_HIDE = {"$project": {name: 0 for name in DERIVED_FIELDS}}


def windowed(criteria: Criteria) -> bool:
    """Whether a page may read windows of the most recent uploads (see page_pipeline): it is
    sorted newest upload first, so a window holding a full page holds exactly that page."""
    return criteria.sort in ("uploadDate", "upload_date") and criteria.descending


def page_pipeline(
    criteria: Criteria,
    scope: Scope,
    *,
    since: datetime | None = None,
    sky: SkyTest | None = None,
) -> tuple[list[dict[str, Any]], SearchPlan]:
    """The page of items: the filter, a sort an index can provide, skip and limit.

    ``since`` (only for :func:`windowed` criteria) leads with ``uploadDate >= since`` and keeps
    every other clause: if that window holds a full page, it is exactly the page the
    unbounded query gives, read from a bounded index range. The session widens the window
    until the page is full (SecantusDB answers in time proportional to the range it reads).
    """
    plan = match_plan(criteria, scope, sky=sky)
    stages = list(plan.stages)
    if since is not None:
        if not windowed(criteria):
            raise ValueError("a window applies to searches sorted newest upload first only")
        lower = max(since, criteria.date_from) if criteria.date_from else since
        window = {"uploadDate": _range(lower, criteria.date_to)}
        rest = [s["$match"] for s in plan.stages]
        stages = [{"$match": window}, *({"$match": r} for r in rest)]
        plan = SearchPlan(tuple(stages), FALLBACK_INDEX, hint_required=False, broad=False)
    skip = (criteria.page - 1) * criteria.page_size
    pipeline = [
        *stages,
        {"$sort": _sort_spec(criteria)},
        {"$skip": skip},
        {"$limit": criteria.page_size},
        _HIDE,
    ]
    return pipeline, plan


def page_hint(criteria: Criteria, scope: Scope, plan: SearchPlan) -> dict[str, int | str]:
    """The index a real MongoDB should use for a page: sort order for broad leads.

    A broad lead (the scope, a data type) walks the scope + sort-key index and stops at
    the limit; a selective lead (text, a cone, an observation) uses its own index and sorts
    its few matches.
    """
    if plan.broad or plan.hint_required:
        return sort_index(SORT_FIELDS[criteria.sort], scope.readers is not None).key_pattern
    return plan.hint


def counts_pipeline(
    criteria: Criteria, scope: Scope, *, sky: SkyTest | None = None
) -> tuple[list[dict[str, Any]], SearchPlan]:
    """Total and every facet of what :func:`page_pipeline` finds (no items inside)."""
    plan = match_plan(criteria, scope, sky=sky)
    facet: dict[str, list[dict[str, Any]]] = {"total": [{"$count": "n"}]}
    for name, path in FACETS.items():
        facet[name] = [{"$group": {"_id": f"${path}", "n": {"$sum": 1}}}]
    return [*plan.stages, {"$facet": facet}], plan


def facet_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """``[{_id: value, n: count}]`` -> ``{value: count}``, largest first, no missing values."""
    pairs = [(str(r["_id"]), int(r["n"])) for r in rows if r.get("_id") not in (None, "")]
    return dict(sorted(pairs, key=lambda p: (-p[1], p[0])))


def count_pipeline(
    criteria: Criteria, scope: Scope, *, sky: SkyTest | None = None
) -> tuple[list[dict[str, Any]], SearchPlan]:
    """The count of what :func:`page_pipeline` would find (same filter and scope)."""
    plan = match_plan(criteria, scope, sky=sky)
    return [*plan.stages, {"$count": "n"}], plan


def sky_candidates_pipeline(
    criteria: Criteria, scope: Scope, *, sky_cells: bool = False
) -> tuple[list[dict[str, Any]], SearchPlan]:
    """Ids, centres and footprints of the cone's candidates that meet every other criterion
    in ``scope``: the records in the cone's bounding GeoJSON, or in its cells
    (``sky_cells``, see :func:`match_plan`). The session tests each exactly (:class:`SkyTest`).
    """
    if criteria.sky_query is None:
        raise invalid("position", "a sky search's candidates need a position or a region")
    plan = match_plan(criteria, scope, sky=SkyTest(cells=sky_cells))
    project = {"_id": 1, "imageInfo.ra": 1, "imageInfo.dec": 1, "imageInfo.footprint": 1}
    return [*plan.stages, {"$project": project}], plan


def targets_candidates_pipeline(
    criteria: Criteria,
    scope: Scope,
    cones: Sequence[tuple[float, float, float]],
    *,
    cells: Sequence[int] | None = None,
) -> tuple[list[dict[str, Any]], SearchPlan]:
    """Every record near any of ``cones`` ((ra, dec, radius) degrees) that meets
    ``criteria`` in ``scope`` (derived fields left out): one read for a whole target list.

    It leads with one index lookup for all the cones: one GeoJSON MultiPolygon holding every
    cone (``skyRegion $geoIntersects``), or, given ``cells`` (:func:`target_cells`, or a
    batch of them), those HEALPix cells (``skyCells $in``). The session tests each candidate
    against each nearby target exactly (:meth:`jwstnb.sky.SkyQuery.matches`).
    """
    if criteria.sky_query is not None:
        raise invalid("position", "a target list brings its own positions: give no position "
                      "or region with it")
    if not cones:
        raise invalid("targets", "give at least one target")
    plan = match_plan(criteria, scope)
    if cells is not None:
        lead: dict[str, Any] = {"skyCells": {"$in": list(cells)}}
    else:
        polygons: list[Any] = []
        for ra, dec, radius in cones:
            shape = _cone(ra, dec, radius)
            polygons.extend(shape["coordinates"] if shape["type"] == "MultiPolygon"
                            else [shape["coordinates"]])
        geometry = {"type": "MultiPolygon", "coordinates": polygons}
        lead = {"skyRegion": {"$geoIntersects": {"$geometry": geometry}}}
    (field_name,) = lead
    stages = ({"$match": lead}, *plan.stages)
    # Whole records: a small cone's cells hold little more than its matches, so reading
    # them here saves a second read of the matches by id.
    return [*stages, _HIDE], SearchPlan(stages, lead_index(field_name), hint_required=False)


def target_cells(cones: Sequence[tuple[float, float, float]]) -> list[int]:
    """Every cell id that finds a record overlapping one of ``cones``, sorted, once each."""
    cells: set[int] = set()
    for ra, dec, radius in cones:
        cells.update(_cone_cells(ra, dec, radius))
    return sorted(cells)


def lineage_pipeline(
    observation_base_id: str, scope: Scope
) -> tuple[list[dict[str, Any]], SearchPlan]:
    """Every readable record of one observation (archived ones too: the tree needs them)."""
    criteria = Criteria(observation_base_id=observation_base_id, include_archived=True)
    plan = match_plan(criteria, scope)
    return [*plan.stages, _HIDE], plan


def neighbours_pipelines(
    ids: Sequence[str], parents: Sequence[str], scope: Scope
) -> list[tuple[list[dict[str, Any]], SearchPlan]]:
    """Records in other groups directly linked to a group: its files' children and parents.

    Two index-led reads: records whose ``derivedFrom`` names one of the group's ``ids``
    (children; ``parentId`` is always among ``derivedFrom``), and the ``parents`` by id.
    """
    from bson import ObjectId

    readers = scope.readers
    scoped = [{"$match": {"readers": {"$in": readers}}}] if readers is not None else []
    out: list[tuple[list[dict[str, Any]], SearchPlan]] = []
    leads: list[tuple[str, dict[str, Any]]] = [("derivedFrom", {"$in": list(ids)})]
    oids = [ObjectId(p) for p in parents if ObjectId.is_valid(p)]
    if oids:
        leads.append(("_id", {"$in": oids}))
    for name, condition in leads:
        stages: tuple[dict[str, Any], ...] = ({"$match": {name: condition}}, *scoped)
        index = lead_index(name)
        out.append(([*stages, _HIDE], SearchPlan(stages, index, hint_required=False)))
    return out


def observations_pipeline(scope: Scope) -> tuple[list[dict[str, Any]], SearchPlan]:
    """Distinct readable observation base ids, sorted (``$gt: ""`` keeps it on the index)."""
    plan = match_plan(Criteria(include_archived=True), scope)
    lead: list[dict[str, Any]] = [{"$match": {"observationBaseId": {"$gt": ""}}}]
    stages = lead + list(plan.stages)
    index = lead_index("observationBaseId")
    pipeline = [*stages, {"$group": {"_id": "$observationBaseId"}}, {"$sort": {"_id": 1}}]
    return pipeline, SearchPlan(tuple(stages), index, hint_required=False)


def statistics_pipeline(scope: Scope) -> tuple[list[dict[str, Any]], SearchPlan]:
    """Counts and sizes over everything the scope may read, in one aggregate."""
    plan = match_plan(Criteria(include_archived=True), scope)

    def by(path: str) -> list[dict[str, Any]]:
        return [{"$group": {"_id": f"${path}", "n": {"$sum": 1}}}]

    facet = {
        "totals": [
            {
                "$group": {
                    "_id": None,
                    "n": {"$sum": 1},
                    "size": {"$sum": {"$ifNull": ["$fileSize", 0]}},
                    "public": {"$sum": {"$cond": [{"$eq": ["$isPublic", True]}, 1, 0]}},
                    "archived": {"$sum": {"$cond": [{"$eq": ["$archived", True]}, 1, 0]}},
                    "first": {"$min": "$uploadDate"},
                    "last": {"$max": "$uploadDate"},
                }
            }
        ],
        "data_type": by("dataType"),
        "processing_level": by("processingLevel"),
        "status": by("processingStatus"),
        "instrument": by("imageInfo.instrument"),
        "observations": [
            {"$match": {"observationBaseId": {"$gt": ""}}},
            {"$group": {"_id": "$observationBaseId"}},
            {"$count": "n"},
        ],
    }
    return [*plan.stages, {"$facet": facet}], plan

