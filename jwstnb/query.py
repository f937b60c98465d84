"""Typed search criteria and access scope -> MongoDB pipelines whose index use is guaranteed.

Pure: no I/O. :mod:`jwstnb.session` sends what this module builds.

:class:`Criteria` is the one list of search criteria: ``Session.search``, ``items``,
``counts``, ``table`` and ``explain`` all take its fields, and the widgets read its facets
and sort fields from here. Access comes from :mod:`jwstnb.access` (the ``readers`` field).

Text search uses the derived, indexed ``keywords`` array (lowercase tokens). User text is
data: it is tokenised into word characters only, each term matched as an anchored,
regex-escaped prefix; dicts, lists or operators where a string is expected are a
:class:`ValidationError`, and lengths and term counts are capped.

Every read is a pipeline that starts with ONE single-field ``$match`` on an indexed field
(the most selective predicate: a sky cone, a text term's prefix range, else a typed filter,
else the scope) followed by a ``$match`` with the rest of the filter. SecantusDB plans a
single-field equality / range / ``$in`` as an IXSCAN (and plans any multi-field or ``$and``
filter as a COLLSCAN); real MongoDB coalesces the two stages and can always use the
leading predicate's index. The page of items never sits inside ``$facet`` (MongoDB cannot
use an index there): :func:`page_pipeline` sorts with an index, :func:`counts_pipeline`
counts total and facets separately.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from jwstnb.access import PUBLIC, USER_PREFIX, Role, Scope, readers_for, validate_user
from jwstnb.errors import invalid
from jwstnb.schema import DataType, ProcessingLevel, ProcessingStatus, collection_validator

if TYPE_CHECKING:
    from jwstnb.sky import Footprint

__all__ = [
    "FACETS",
    "INDEXES",
    "MAX_TERMS",
    "MAX_TEXT_LENGTH",
    "PUBLIC",
    "SORT_FIELDS",
    "TRANSITIONS",
    "USER_PREFIX",
    "Criteria",
    "IndexSpec",
    "Role",
    "Scope",
    "SearchPlan",
    "count_pipeline",
    "counts_pipeline",
    "derived_fields",
    "invalid",
    "keywords_for",
    "lineage_pipeline",
    "match_plan",
    "observations_pipeline",
    "page_pipeline",
    "readers_for",
    "session_validator",
    "statistics_pipeline",
    "status_transition",
    "tokenize",
    "validate_criteria",
    "validate_user",
]

MAX_TEXT_LENGTH = 512  # characters of search text
MAX_TERMS = 8  # distinct words of search text
MAX_TERM_LENGTH = 64  # a longer word is cut (keywords are cut the same way)
MAX_KEYWORDS = 256  # per record
MAX_VALUES = 50  # values of one list filter (tags, data types, ...)
MAX_VALUE_LENGTH = 256  # characters of one filter value
MAX_PAGE_SIZE = 500
MAX_PAGE = 100_000


# --- keywords ----------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Lowercase words (letters and digits; NFKC-normalised), in order, without duplicates."""
    normal = unicodedata.normalize("NFKC", text).lower()
    words = (w[:MAX_TERM_LENGTH] for w in _WORD.findall(normal))
    return list(dict.fromkeys(words))


# Top-level fields that feed the derived fields (the session re-checks them on update).
DERIVED_INPUTS = (
    "fileName",
    "description",
    "tags",
    "observationBaseId",
    "exposureId",
    "imageInfo",
    "sensorInfo",
    "userId",
    "isPublic",
    "sharedWith",
)
_KEYWORD_SOURCES = (
    ("fileName",),
    ("description",),
    ("observationBaseId",),
    ("exposureId",),
    ("imageInfo", "targetName"),
    ("imageInfo", "instrument"),
    ("imageInfo", "filter"),
    ("imageInfo", "proposalId"),
    ("imageInfo", "proposalPi"),
    ("imageInfo", "observationTitle"),
    ("sensorInfo", "instrument"),
    ("sensorInfo", "detectorType"),
)


def _get(doc: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = doc
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def keywords_for(doc: Mapping[str, Any]) -> list[str]:
    """The ``keywords`` of a stored document: lowercase words of its names, target, ids, tags.

    A target name also gives its words run together (``NGC 3132`` -> ``ngc``, ``3132``,
    ``ngc3132``) so both spellings find it.
    """
    words: list[str] = []
    for path in _KEYWORD_SOURCES:
        value = _get(doc, path)
        if isinstance(value, str):
            words.extend(tokenize(value))
    target = _get(doc, ("imageInfo", "targetName"))
    if isinstance(target, str):
        joined = "".join(tokenize(target))[:MAX_TERM_LENGTH]
        if joined:
            words.append(joined)
    for tag in doc.get("tags") or ():
        if isinstance(tag, str):
            words.extend(tokenize(tag))
    return list(dict.fromkeys(words))[:MAX_KEYWORDS]


def program_of_record(doc: Mapping[str, Any]) -> str | None:
    """The five-digit JWST program of a stored document: its file name, group, or proposal id."""
    from jwstnb.naming import classify, parse_group_key

    name = doc.get("fileName")
    if isinstance(name, str) and (program := classify(name).program):
        return program
    group = parse_group_key(doc.get("observationBaseId"))
    if group is not None:
        return group.program
    proposal = _get(doc, ("imageInfo", "proposalId"))
    if isinstance(proposal, str | int) and str(proposal).strip().isdigit():
        number = int(str(proposal).strip())
        return f"{number:05d}" if 0 < number < 100_000 else None
    return None


def _sky_shape(doc: Mapping[str, Any]) -> tuple[Footprint | None, tuple[float, float] | None]:
    """A record's footprint (None when absent or unreadable) and centre (None when absent)."""
    text = _get(doc, ("imageInfo", "footprint"))
    ra, dec = _get(doc, ("imageInfo", "ra")), _get(doc, ("imageInfo", "dec"))
    centre = (float(ra), float(dec)) if (
        isinstance(ra, int | float) and isinstance(dec, int | float)
    ) else None
    footprint = None
    if isinstance(text, str) and text.strip():
        from jwstnb import sky

        with contextlib.suppress(ValueError, TypeError, ArithmeticError):
            footprint = sky.parse_stcs(text)
    return footprint, centre


def _sky_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``skyRegion`` (GeoJSON for the 2dsphere index) and ``skyCells`` (its HEALPix cells)
    from one read of the footprint, else the centre. A footprint whose text does not parse
    falls back to the centre, so the record is still found by position."""
    footprint, centre = _sky_shape(doc)
    if footprint is None and centre is None:
        return {"skyRegion": None, "skyCells": []}
    from jwstnb import sky

    return {
        "skyRegion": sky.sky_geojson(footprint, centre),
        "skyCells": sky.record_cells(footprint, centre),
    }


def sky_cells(doc: Mapping[str, Any]) -> list[int]:
    """The HEALPix cell ids ``skyCells`` holds (:func:`jwstnb.sky.record_cells`), from the
    same footprint-else-centre as ``skyRegion``."""
    footprint, centre = _sky_shape(doc)
    if footprint is None and centre is None:
        return []
    from jwstnb import sky

    return sky.record_cells(footprint, centre)


def derived_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the session derives for a stored (camelCase) document, never taken as given.

    ``keywords`` (text search), ``readers`` (access), ``program`` (five digits),
    ``skyRegion`` (GeoJSON for position search) and ``skyCells`` (its HEALPix cells, the
    position index SecantusDB reads). Restore and every write recompute them.
    """
    return {
        "keywords": keywords_for(doc),
        "readers": readers_for(
            doc.get("userId"), bool(doc.get("isPublic")), doc.get("sharedWith") or ()
        ),
        "program": program_of_record(doc),
        **_sky_fields(doc),
    }


DERIVED_FIELDS = ("keywords", "readers", "program", "skyRegion", "skyCells")


def session_validator() -> dict[str, Any]:
    """The collection's ``$jsonSchema``: schema.py's, plus the session's derived fields."""
    validator = collection_validator()
    schema = validator["$jsonSchema"]
    schema.setdefault("properties", {})
    schema["properties"]["keywords"] = {
        "bsonType": "array",
        "maxItems": MAX_KEYWORDS,
        "items": {"bsonType": "string", "minLength": 1, "maxLength": MAX_TERM_LENGTH},
    }
    schema["properties"]["readers"] = {"bsonType": "array", "items": {"bsonType": "string"}}
    schema["properties"]["program"] = {"bsonType": ["string", "null"], "pattern": r"^\d{5}$"}
    schema["properties"]["skyRegion"] = {"bsonType": ["object", "null"]}
    schema["properties"]["skyCells"] = {"bsonType": "array", "items": {"bsonType": ["int", "long"]}}
    schema["required"] = list(dict.fromkeys([*schema.get("required", []), "keywords", "readers"]))
    return validator


# --- indexes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexSpec:
    """One index the toolkit relies on, and the query shape that needs it."""

    keys: tuple[tuple[str, int | str], ...]
    purpose: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """MongoDB's default name for these keys (``field_1``), so existing indexes match."""
        if self.keys == (("_id", 1),):
            return "_id_"
        return "_".join(f"{k}_{d}" for k, d in self.keys)

    @property
    def key_pattern(self) -> dict[str, int | str]:
        return dict(self.keys)


def _ix(field_name: str, purpose: str, direction: int | str = 1) -> IndexSpec:
    return IndexSpec(((field_name, direction),), purpose)


SORT_FIELDS: dict[str, str] = {
    "uploadDate": "uploadDate",
    "upload_date": "uploadDate",
    "fileName": "fileName",
    "file_name": "fileName",
    "fileSize": "fileSize",
    "file_size": "fileSize",
    "dataType": "dataType",
    "data_type": "dataType",
    "processingLevel": "processingLevel",
    "processing_level": "processingLevel",
    "processingStatus": "processingStatus",
    "processing_status": "processingStatus",
    "status": "processingStatus",
    "observationDate": "imageInfo.observationDate",
    "observation_date": "imageInfo.observationDate",
    "targetName": "imageInfo.targetName",
    "target_name": "imageInfo.targetName",
    "instrument": "imageInfo.instrument",
    "ra": "imageInfo.ra",
    "dec": "imageInfo.dec",
}
# Page.facets keys -> document paths.
FACETS: dict[str, str] = {
    "data_type": "dataType",
    "processing_level": "processingLevel",
    "instrument": "imageInfo.instrument",
    "filter": "imageInfo.filter",
    "target_name": "imageInfo.targetName",
    "status": "processingStatus",
    "program": "program",
}
_SORT_PATHS = tuple(dict.fromkeys(SORT_FIELDS.values()))


def _sort_indexes() -> tuple[IndexSpec, ...]:
    """For each sort key: scope + key + _id (user/anonymous pages) and key + _id (admin).

    A page then walks an index in sort order and stops at its limit on a real MongoDB:
    no blocking in-memory sort over the matches at any collection size.
    """
    out = []
    for path in _SORT_PATHS:
        direction = -1 if path == "uploadDate" else 1
        out.append(IndexSpec((("readers", 1), (path, direction), ("_id", direction)),
                             f"page of a user/anonymous scope sorted by {path}"))
        out.append(IndexSpec(((path, direction), ("_id", direction)),
                             f"page of the admin scope sorted by {path}"))
    return tuple(out)


INDEXES: tuple[IndexSpec, ...] = (
    _ix("keywords", "text search: anchored prefix of each word (multikey)"),
    _ix("readers", "access scope of every read: readers $in [public, user:<id>] (multikey)"),
    _ix("uploadDate", "date range filter; the window of recent records of unfiltered pages", -1),
    _ix("observationBaseId", "lineage(observation), observation list, the group filter"),
    _ix("dataType", "data_type filter"),
    _ix("processingLevel", "processing_level filter"),
    _ix("processingStatus", "status filter (work queues)"),
    _ix("imageInfo.instrument", "instrument filter"),
    _ix("imageInfo.filter", "filter (optical element) filter"),
    _ix("imageInfo.targetName", "target_name filter; offline target positions"),
    _ix("imageInfo.proposalPi", "proposal_pi filter"),
    _ix("imageInfo.observationDate", "observed_from / observed_to range"),
    _ix("program", "program filter and facet"),
    _ix("tags", "tags filter (multikey)"),
    _ix("isPublic", "is_public filter"),
    _ix("parentId", "lineage: children of a group's files in other groups"),
    _ix("derivedFrom", "lineage: products of a group's files in other groups (multikey)"),
    _ix("skyRegion", "position search: footprint or centre overlaps a cone", "2dsphere"),
    _ix("skyCells", "position search on SecantusDB: HEALPix cells of the footprint (multikey)"),
    IndexSpec(
        (("userId", 1), ("filePath", 1)),
        "one record per owner and storage key (idempotent ingest upserts)",
        {"unique": True, "partialFilterExpression": {"filePath": {"$type": "string"}}},
    ),
    IndexSpec((("filePath", 1),), "a storage key's records whatever their owner (scans)"),
    *_sort_indexes(),
)
_INDEX_BY_FIELD = {spec.keys[0][0]: spec for spec in INDEXES if len(spec.keys) == 1}
# Every collection has it; not built by ensure_indexes.
_ID_INDEX = IndexSpec((("_id", 1),), "record ids")
_LEAD_INDEX = {**_INDEX_BY_FIELD, "_id": _ID_INDEX}
FALLBACK_INDEX = _INDEX_BY_FIELD["uploadDate"]


def sort_index(path: str, scoped: bool) -> IndexSpec:
    """The index that gives pages sorted by ``path`` (with the scope first when ``scoped``)."""
    lead = ("readers", 1) if scoped else None
    for spec in INDEXES:
        keys = spec.keys[1:] if scoped else spec.keys
        if (spec.keys[0] == lead or not scoped) and len(keys) == 2 and keys[0][0] == path and (
            keys[1][0] == "_id"
        ):
            return spec
    raise KeyError(path)


# --- criteria ----------------------------------------------------------------------------------


def _fail(info: ValidationInfo, message: str) -> PydanticCustomError:
    return PydanticCustomError("jwstnb_invalid", f"{info.field_name} {message}")


def _encodable(value: str, info: ValidationInfo) -> str:
    """BSON strings are UTF-8: a lone surrogate (possible in a Python str) is refused here."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(info, "contains characters that are not valid unicode") from None
    return value


def _one_string(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(info, "must be a non-empty string")
    if len(value) > MAX_VALUE_LENGTH:
        raise _fail(info, f"is limited to {MAX_VALUE_LENGTH} characters")
    return _encodable(value, info)


def _strings(value: Any, info: ValidationInfo) -> tuple[str, ...]:
    """A string or a list of strings (e.g. several facet values): never a dict or operator."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (_one_string(value, info),)
    if isinstance(value, list | tuple | set | frozenset):
        if len(value) > MAX_VALUES:
            raise _fail(info, f"takes at most {MAX_VALUES} values")
        items = sorted(value) if isinstance(value, set | frozenset) else list(value)
        return tuple(dict.fromkeys(_one_string(v, info) for v in items))
    raise _fail(info, "must be a string or a list of strings")


def _choices(enum: type[Any]) -> Any:
    allowed = {m.value for m in enum}
    lowered = {m.value.lower(): m.value for m in enum}

    def check(value: Any, info: ValidationInfo) -> tuple[str, ...]:
        out = []
        for v in _strings(value, info):
            if v.lower() not in lowered:
                raise _fail(info, f"must be one of {', '.join(sorted(allowed))}")
            out.append(lowered[v.lower()])
        return tuple(dict.fromkeys(out))

    return BeforeValidator(check)


def _text(value: Any, info: ValidationInfo) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        value = " ".join(value)  # already tokenised terms (Criteria copied)
    if not isinstance(value, str):
        raise _fail(info, "must be a string")
    if len(value) > MAX_TEXT_LENGTH:
        raise _fail(info, f"is limited to {MAX_TEXT_LENGTH} characters")
    terms = tokenize(_encodable(value, info))
    if len(terms) > MAX_TERMS:
        raise _fail(info, f"is limited to {MAX_TERMS} words")
    return tuple(terms)


def _date(value: Any, info: ValidationInfo) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _fail(info, "must be a date, datetime or ISO 8601 string") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, datetime):
        raise _fail(info, "must be a date, datetime or ISO 8601 string")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _int_in(low: int, high: int) -> Any:
    def check(value: Any, info: ValidationInfo) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _fail(info, f"must be a whole number from {low} to {high}")
        return value

    return BeforeValidator(check)


def _flag(value: Any, info: ValidationInfo) -> bool | None:
    if value is None and info.field_name == "is_public":
        return None
    if not isinstance(value, bool):
        raise _fail(info, "must be True or False")
    return value


def _optional_string(value: Any, info: ValidationInfo) -> str | None:
    return None if value is None else _one_string(value, info)


def _sort(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str) or value not in SORT_FIELDS:
        raise _fail(info, f"must be one of {', '.join(sorted(SORT_FIELDS))}")
    return value


def _programs(value: Any, info: ValidationInfo) -> tuple[str, ...]:
    def text(v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    value = [text(v) for v in value] if isinstance(value, list | tuple) else text(value)
    out = []
    for v in _strings(value, info):
        digits = v.strip().lower().removeprefix("jw")
        if not digits.isdigit() or not 0 < int(digits) < 100_000:
            raise _fail(info, "must be a JWST program number, e.g. '02733' or 2733")
        out.append(f"{int(digits):05d}")
    return tuple(dict.fromkeys(out))


def _position(value: Any, info: ValidationInfo) -> tuple[float, float] | None:
    if value is None:
        return None
    from jwstnb import sky

    try:
        return sky.parse_position(value)
    except (ValueError, TypeError) as exc:
        raise _fail(info, f"is not a sky position astropy understands ({exc})") from None


def _radius(value: Any, info: ValidationInfo) -> float:
    from jwstnb import sky

    try:
        return sky.parse_radius(0 if value is None else value)
    except (ValueError, TypeError) as exc:
        raise _fail(info, f"must be degrees or an astropy angle from 0 to 180 ({exc})") from None


Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
When = Annotated[datetime | None, BeforeValidator(_date)]
Flag = Annotated[bool, BeforeValidator(_flag)]


class Criteria(BaseModel):
    """Validated search criteria: THE list of what a search can ask (one owner, DESIGN §1).

    Values are normalised (text -> lowercase words, enums -> their values, dates -> UTC,
    programs -> five digits, position -> ICRS degrees); anything else, or an unknown name,
    is a ``ValidationError`` naming the argument. Nothing here becomes a query operator.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: Annotated[tuple[str, ...], BeforeValidator(_text)] = ()
    data_type: Annotated[tuple[str, ...], _choices(DataType)] = ()
    processing_level: Annotated[tuple[str, ...], _choices(ProcessingLevel)] = ()
    instrument: Strings = ()
    filter: Strings = ()
    target_name: Strings = ()
    status: Annotated[tuple[str, ...], _choices(ProcessingStatus)] = ()
    tags: Strings = ()
    date_from: When = None
    date_to: When = None
    observed_from: When = None
    observed_to: When = None
    program: Annotated[tuple[str, ...], BeforeValidator(_programs)] = ()
    proposal_pi: Strings = ()
    position: Annotated[tuple[float, float] | None, BeforeValidator(_position)] = None
    radius: Annotated[float, BeforeValidator(_radius)] = 0.0
    is_public: Annotated[bool | None, BeforeValidator(_flag)] = None
    include_archived: Flag = False
    observation_base_id: Annotated[str | None, BeforeValidator(_optional_string)] = None
    page: Annotated[int, _int_in(1, MAX_PAGE)] = 1
    page_size: Annotated[int, _int_in(1, MAX_PAGE_SIZE)] = 20
    sort: Annotated[str, BeforeValidator(_sort)] = "uploadDate"
    descending: Flag = True

    @model_validator(mode="after")
    def _ranges(self) -> Criteria:
        for low, high in (("date_from", "date_to"), ("observed_from", "observed_to")):
            start, end = getattr(self, low), getattr(self, high)
            if start and end and start > end:
                raise PydanticCustomError("jwstnb_invalid", f"{high} is before {low}")
        if self.radius and self.position is None:
            raise PydanticCustomError("jwstnb_invalid", "radius needs a position")
        return self

    @property
    def terms(self) -> tuple[str, ...]:
        """The words of ``text`` (lowercase, NFKC, distinct)."""
        return self.text

    def with_page(self, **changes: Any) -> Criteria:
        """A copy with other paging/sort values (validated like the rest)."""
        return Criteria.model_validate({**self.model_dump(), **changes})


def validate_criteria(**criteria: Any) -> Criteria:
    """:class:`Criteria` from keyword arguments (``ValidationError`` names a bad one)."""
    return Criteria.model_validate(criteria)


# --- plans -------------------------------------------------------------------------------------


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
    "imageInfo.proposalPi",
    "imageInfo.filter",
    "imageInfo.observationDate",
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
     "readers", "isPublic"}
)


# Text whose longest word is this short leads like a broad filter (read recent uploads first).
_SHORT_WORD = 3


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

    if criteria.position is not None:
        ra, dec = criteria.position
        overlaps = {"$geoIntersects": {"$geometry": _cone(ra, dec, criteria.radius)}}
        if sky is not None and sky.matches is not None:
            exact("_id", {"$in": list(sky.matches)})
        elif sky is not None and sky.cells:
            exact("skyCells", {"$in": list(_cone_cells(ra, dec, criteria.radius))})
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
    if criteria.proposal_pi:
        exact("imageInfo.proposalPi", _one_or_in(criteria.proposal_pi))
    if criteria.filter:
        exact("imageInfo.filter", _one_or_in(_case_variants(criteria.filter)))
    if criteria.observed_from or criteria.observed_to:
        exact("imageInfo.observationDate", _range(criteria.observed_from, criteria.observed_to))
    if criteria.date_from or criteria.date_to:
        exact("uploadDate", _range(criteria.date_from, criteria.date_to))
    if criteria.instrument:
        exact("imageInfo.instrument", _one_or_in(_case_variants(criteria.instrument)))
    if criteria.status:
        exact("processingStatus", _one_or_in(criteria.status))
    if criteria.processing_level:
        exact("processingLevel", _one_or_in(criteria.processing_level))
    if criteria.data_type:
        exact("dataType", _one_or_in(criteria.data_type))
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
        tuple(stages), _LEAD_INDEX[lead_field], hint_required=False,
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
    if criteria.position is None:
        raise invalid("position", "a cone's candidates need a position to search around")
    plan = match_plan(criteria, scope, sky=SkyTest(cells=sky_cells))
    project = {"_id": 1, "imageInfo.ra": 1, "imageInfo.dec": 1, "imageInfo.footprint": 1}
    return [*plan.stages, {"$project": project}], plan


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
        index = _LEAD_INDEX[name]
        out.append(([*stages, _HIDE], SearchPlan(stages, index, hint_required=False)))
    return out


def observations_pipeline(scope: Scope) -> tuple[list[dict[str, Any]], SearchPlan]:
    """Distinct readable observation base ids, sorted (``$gt: ""`` keeps it on the index)."""
    plan = match_plan(Criteria(include_archived=True), scope)
    lead: list[dict[str, Any]] = [{"$match": {"observationBaseId": {"$gt": ""}}}]
    stages = lead + list(plan.stages)
    index = _INDEX_BY_FIELD["observationBaseId"]
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


# --- processing status -------------------------------------------------------------------------

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"processing"}),
    "processing": frozenset({"completed", "failed"}),
    "failed": frozenset({"pending"}),
    "completed": frozenset({"pending"}),
}


def status_transition(new_status: Any) -> tuple[str, list[str]]:
    """``(target, sources)``: the normalised new status and the statuses it may come from.

    The session's compare-and-set filters on ``processingStatus $in sources``.
    """
    allowed = {m.value.lower(): m.value for m in ProcessingStatus}
    if not isinstance(new_status, str) or new_status.lower() not in allowed:
        raise invalid(
            "new_status", f"new_status must be one of {', '.join(sorted(allowed.values()))}",
            new_status,
        )
    target = allowed[new_status.lower()]
    return target, sorted(s for s, targets in TRANSITIONS.items() if target in targets)
