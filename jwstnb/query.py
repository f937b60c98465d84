"""Typed search criteria and access scope -> MongoDB pipelines whose index use is guaranteed.

Pure: no I/O. :mod:`jwstnb.session` sends what this module builds.

Access is a derived, indexed field ``readers`` kept on every record by the
session: ``"public"`` when ``isPublic``, ``"user:<id>"`` for the owner and every user in
``sharedWith``. A session's read scope is ``{"readers": {"$in": [...]}}`` (admin: none), so
the scope is one indexable predicate inside every filter, before skip/limit.

Text search uses the derived, indexed ``keywords`` array (lowercase tokens). User text is
data: it is tokenised into word characters only, each term matched as an anchored,
regex-escaped prefix; dicts, lists or operators where a string is expected are a
:class:`ValidationError`, and lengths and term counts are capped.

Every search shape is a pipeline that starts with ONE single-field ``$match`` on an indexed
field (the most selective predicate: a text term's prefix range, else a typed filter, else
the scope) followed by a ``$match`` with the rest of the filter. SecantusDB plans a
single-field equality / range / ``$in`` as an IXSCAN (and plans any multi-field or ``$and``
filter as a COLLSCAN), real MongoDB coalesces the two stages and can always use the
leading predicate's index. :class:`SearchPlan.hint` names that index (or the upload-date
index when no predicate is indexable) for servers where a hint is cheap.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from jwstnb.errors import AccessDenied
from jwstnb.schema import DataType, ProcessingLevel, ProcessingStatus, collection_validator

__all__ = [
    "FACETS",
    "INDEXES",
    "MAX_TERMS",
    "MAX_TEXT_LENGTH",
    "SORT_FIELDS",
    "TRANSITIONS",
    "Criteria",
    "IndexSpec",
    "Role",
    "Scope",
    "SearchPlan",
    "count_pipeline",
    "derived_fields",
    "invalid",
    "keywords_for",
    "lineage_pipeline",
    "match_plan",
    "observations_pipeline",
    "readers_for",
    "search_pipeline",
    "session_validator",
    "statistics_pipeline",
    "status_transition",
    "tokenize",
    "validate_criteria",
    "validate_user",
]

Role = Literal["anonymous", "user", "admin"]

MAX_TEXT_LENGTH = 512  # characters of search text
MAX_TERMS = 8  # distinct words of search text
MAX_TERM_LENGTH = 64  # a longer word is cut (keywords are cut the same way)
MAX_KEYWORDS = 256  # per record
MAX_VALUES = 50  # values of one list filter (tags, data types, ...)
MAX_VALUE_LENGTH = 256  # characters of one filter value
MAX_PAGE_SIZE = 500
MAX_PAGE = 100_000
MAX_USER_LENGTH = 200

PUBLIC = "public"
USER_PREFIX = "user:"


# --- errors -------------------------------------------------------------------------------------


def invalid(field_name: str, message: str, value: Any = None) -> Exception:
    """A pydantic ``ValidationError`` for one bad input (``jwstnb.errors.ValidationError``)."""
    from pydantic import ValidationError
    from pydantic_core import InitErrorDetails, PydanticCustomError

    shown = value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."
    detail = InitErrorDetails(
        type=PydanticCustomError("jwstnb_invalid", message),  # type: ignore[arg-type]
        loc=(field_name,),
        input=shown,
    )
    return ValidationError.from_exception_data("jwstnb", [detail])


# --- access scope ----------------------------------------------------------------------------


def validate_user(user: Any) -> str:
    """A user id: a non-empty string without control characters, at most 200 characters."""
    if not isinstance(user, str) or not user.strip():
        raise invalid("user", "a user id must be a non-empty string", user)
    if len(user) > MAX_USER_LENGTH or any(unicodedata.category(c)[0] == "C" for c in user):
        raise invalid("user", "a user id has at most 200 printable characters", user)
    return user


def readers_for(user_id: str | None, is_public: bool, shared_with: Iterable[str]) -> list[str]:
    """The ``readers`` entries of a record: who may read it, as one indexable array."""
    readers = [PUBLIC] if is_public else []
    if user_id:
        readers.append(USER_PREFIX + user_id)
    readers.extend(USER_PREFIX + u for u in shared_with if u)
    return list(dict.fromkeys(readers))


@dataclass(frozen=True)
class Scope:
    """Who is asking: ``anonymous``, ``user`` (with ``user``) or ``admin`` (the access model)."""

    role: Role
    user: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ("anonymous", "user", "admin"):
            raise invalid("role", "role must be 'anonymous', 'user' or 'admin'", self.role)
        if self.role == "user":
            validate_user(self.user)
        elif self.user is not None:
            raise invalid("user", f"a {self.role} scope has no user", self.user)

    @property
    def readers(self) -> list[str] | None:
        """The ``readers`` values this scope may read; ``None`` means everything (admin)."""
        if self.role == "admin":
            return None
        if self.role == "user":
            return [PUBLIC, USER_PREFIX + str(self.user)]
        return [PUBLIC]

    def read_filter(self) -> dict[str, Any]:
        """The filter clause every read carries (``{}`` for admin)."""
        readers = self.readers
        return {} if readers is None else {"readers": {"$in": readers}}

    def write_filter(self) -> dict[str, Any]:
        """The filter clause every write carries; anonymous sessions may not write."""
        if self.role == "admin":
            return {}
        if self.role == "user":
            return {"userId": self.user}
        raise AccessDenied(
            "an anonymous session is read-only; connect with user=... (or use .as_user(name))"
        )

    def can_read(self, doc: Mapping[str, Any]) -> bool:
        """Whether this scope may read the stored document (mirrors :meth:`read_filter`)."""
        readers = self.readers
        return readers is None or bool(set(readers) & set(doc.get("readers") or ()))

    def can_write(self, doc: Mapping[str, Any]) -> bool:
        """Whether this scope may change the stored document (mirrors :meth:`write_filter`)."""
        if self.role == "admin":
            return True
        return self.role == "user" and doc.get("userId") == self.user


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


def derived_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``keywords`` and ``readers`` for a stored (camelCase) document."""
    return {
        "keywords": keywords_for(doc),
        "readers": readers_for(
            doc.get("userId"), bool(doc.get("isPublic")), doc.get("sharedWith") or ()
        ),
    }


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
    schema["required"] = list(dict.fromkeys([*schema.get("required", []), "keywords", "readers"]))
    return validator


# --- indexes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexSpec:
    """One index the toolkit relies on, and the query shape that needs it."""

    keys: tuple[tuple[str, int], ...]
    purpose: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """MongoDB's default name for these keys (``field_1``), so existing indexes match."""
        return "_".join(f"{k}_{d}" for k, d in self.keys)

    @property
    def key_pattern(self) -> dict[str, int]:
        return dict(self.keys)


def _ix(field_name: str, purpose: str, direction: int = 1) -> IndexSpec:
    return IndexSpec(((field_name, direction),), purpose)


INDEXES: tuple[IndexSpec, ...] = (
    _ix("keywords", "text search: anchored prefix of each word (multikey)"),
    _ix("readers", "access scope of every read: readers $in [public, user:<id>] (multikey)"),
    _ix("uploadDate", "date range filter; walk for searches with no other indexed predicate", -1),
    _ix("observationBaseId", "lineage(observation) and the observation_base_id filter"),
    _ix("dataType", "data_type filter"),
    _ix("processingLevel", "processing_level filter"),
    _ix("processingStatus", "status filter (work queues)"),
    _ix("imageInfo.instrument", "instrument filter"),
    _ix("imageInfo.filter", "filter (optical element) filter"),
    _ix("imageInfo.targetName", "target_name filter"),
    _ix("tags", "tags filter (multikey)"),
    _ix("isPublic", "is_public filter"),
    IndexSpec(
        (("userId", 1), ("filePath", 1)),
        "one record per owner and storage key (idempotent ingest upserts)",
        {"unique": True, "partialFilterExpression": {"filePath": {"$type": "string"}}},
    ),
)
_INDEX_BY_FIELD = {spec.keys[0][0]: spec for spec in INDEXES if len(spec.keys) == 1}
FALLBACK_INDEX = _INDEX_BY_FIELD["uploadDate"]


# --- criteria ----------------------------------------------------------------------------------

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
}
# Page.facets keys -> document paths.
FACETS: dict[str, str] = {
    "data_type": "dataType",
    "processing_level": "processingLevel",
    "instrument": "imageInfo.instrument",
    "filter": "imageInfo.filter",
    "target_name": "imageInfo.targetName",
    "status": "processingStatus",
}


@dataclass(frozen=True)
class Criteria:
    """Validated search criteria (see :func:`validate_criteria`)."""

    terms: tuple[str, ...] = ()
    data_type: tuple[str, ...] = ()
    processing_level: tuple[str, ...] = ()
    instrument: tuple[str, ...] = ()
    filter: tuple[str, ...] = ()
    target_name: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None
    is_public: bool | None = None
    include_archived: bool = False
    observation_base_id: str | None = None
    page: int = 1
    page_size: int = 20
    sort: str = "uploadDate"
    descending: bool = True


def _text(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, str):
        raise invalid("text", "search text must be a string", value)
    if len(value) > MAX_TEXT_LENGTH:
        raise invalid("text", f"search text is limited to {MAX_TEXT_LENGTH} characters", value)
    terms = tokenize(value)
    if len(terms) > MAX_TERMS:
        raise invalid("text", f"search text is limited to {MAX_TERMS} words", value)
    return tuple(terms)


def _encodable(name: str, value: str) -> str:
    """BSON strings are UTF-8: a lone surrogate (possible in a Python str) is refused here."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(
            name, f"{name} contains characters that are not valid unicode", value
        ) from None
    return value


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(name, f"{name} must be a non-empty string", value)
    if len(value) > MAX_VALUE_LENGTH:
        raise invalid(name, f"{name} is limited to {MAX_VALUE_LENGTH} characters", value)
    return _encodable(name, value)


def _strings(name: str, value: Any) -> tuple[str, ...]:
    """A string or a list of strings (e.g. several facet values): never a dict or operator."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (_string(name, value),)
    if isinstance(value, list | tuple | set | frozenset):
        if len(value) > MAX_VALUES:
            raise invalid(name, f"{name} takes at most {MAX_VALUES} values", list(value)[:5])
        items = sorted(value) if isinstance(value, set | frozenset) else list(value)
        return tuple(dict.fromkeys(_string(name, v) for v in items))
    raise invalid(name, f"{name} must be a string or a list of strings", value)


def _choices(name: str, value: Any, enum: type[Any]) -> tuple[str, ...]:
    values = _strings(name, value)
    allowed = {m.value for m in enum}
    lowered = {m.value.lower(): m.value for m in enum}
    out = []
    for v in values:
        if v in allowed:
            out.append(v)
        elif v.lower() in lowered:
            out.append(lowered[v.lower()])
        else:
            raise invalid(name, f"{name} must be one of {', '.join(sorted(allowed))}", v)
    return tuple(dict.fromkeys(out))


def _date(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise invalid(
                name, f"{name} must be a date, datetime or ISO 8601 string", value
            ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, datetime):
        raise invalid(name, f"{name} must be a date, datetime or ISO 8601 string", value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(name, f"{name} must be a whole number from {low} to {high}", value)
    return value


def _bool(name: str, value: Any, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise invalid(name, f"{name} must be True or False", value)
    return value


def validate_criteria(
    text: Any = None,
    data_type: Any = None,
    processing_level: Any = None,
    instrument: Any = None,
    filter: Any = None,
    target_name: Any = None,
    status: Any = None,
    tags: Any = None,
    date_from: Any = None,
    date_to: Any = None,
    is_public: Any = None,
    include_archived: Any = False,
    observation_base_id: Any = None,
    page: Any = 1,
    page_size: Any = 20,
    sort: Any = "uploadDate",
    descending: Any = True,
) -> Criteria:
    """Check every search argument (types, enums, lengths) and return :class:`Criteria`.

    Raises ``ValidationError`` naming the argument; nothing the user passes becomes a query
    operator.
    """
    if not isinstance(sort, str) or sort not in SORT_FIELDS:
        raise invalid("sort", f"sort must be one of {', '.join(sorted(SORT_FIELDS))}", sort)
    obs = (
        None if observation_base_id is None else _string("observation_base_id", observation_base_id)
    )
    criteria = Criteria(
        terms=_text(text),
        data_type=_choices("data_type", data_type, DataType),
        processing_level=_choices("processing_level", processing_level, ProcessingLevel),
        instrument=_strings("instrument", instrument),
        filter=_strings("filter", filter),
        target_name=_strings("target_name", target_name),
        status=_choices("status", status, ProcessingStatus),
        tags=_strings("tags", tags),
        date_from=_date("date_from", date_from),
        date_to=_date("date_to", date_to),
        is_public=_bool("is_public", is_public, optional=True),
        include_archived=_bool("include_archived", include_archived),
        observation_base_id=obs,
        page=_int("page", page, 1, MAX_PAGE),
        page_size=_int("page_size", page_size, 1, MAX_PAGE_SIZE),
        sort=sort,
        descending=_bool("descending", descending),
    )
    if criteria.date_from and criteria.date_to and criteria.date_from > criteria.date_to:
        raise invalid("date_to", "date_to is before date_from", date_to)
    return criteria


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
    """Records that belong to JWST program ``program`` ("02733"), by their file name or group.

    Both give a ``jw02733...`` keyword, so one range on the ``keywords`` index finds them.
    """
    if not re.fullmatch(r"\d{5}", program):
        raise invalid("program", "must be five digits, e.g. '02733'", program)
    return {"keywords": prefix_range(f"jw{program}")}


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
    index, walked). ``hint`` is the index's key pattern, for :meth:`aggregate options
    <pymongo.collection.Collection.aggregate>`.
    """

    stages: tuple[dict[str, Any], ...]
    index: IndexSpec
    hint_required: bool

    @property
    def hint(self) -> dict[str, int]:
        return self.index.key_pattern

    @property
    def filter(self) -> dict[str, Any]:
        """All stages as one filter (for tests and for readers of explain output)."""
        clauses = [s["$match"] for s in self.stages]
        if not clauses:
            return {}
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


# Rank of each indexed field as the leading predicate: lower is (usually) more selective.
_RANK = (
    "observationBaseId",
    "keywords",
    "imageInfo.targetName",
    "tags",
    "imageInfo.filter",
    "uploadDate",
    "imageInfo.instrument",
    "processingStatus",
    "processingLevel",
    "dataType",
    "readers",
    "isPublic",
)


def match_plan(criteria: Criteria, scope: Scope) -> SearchPlan:
    """The ``$match`` stages for ``criteria`` under ``scope`` (no paging, no facets)."""
    # Each entry: (field, leading predicate, residual clause or None if the leading one is exact)
    candidates: list[tuple[str, Any, dict[str, Any] | None]] = []
    residual: list[dict[str, Any]] = []

    def exact(field_name: str, condition: Any) -> None:
        candidates.append((field_name, condition, None))
        residual.append({field_name: condition})

    if criteria.observation_base_id is not None:
        exact("observationBaseId", criteria.observation_base_id)
    # Longest word first: its prefix range is the narrowest.
    for term in sorted(criteria.terms, key=lambda t: (-len(t), t)):
        prefix = {"$regex": "^" + re.escape(term)}
        # The range serves the index; the anchored regex is exact on an array (a bare range
        # on a multikey field may be met by two different elements).
        candidates.append(("keywords", prefix_range(term), {"keywords": prefix}))
        residual.append({"keywords": prefix})
    if criteria.target_name:
        exact("imageInfo.targetName", _one_or_in(criteria.target_name))
    if criteria.tags:
        candidates.append(("tags", criteria.tags[0], None))
        residual.append(
            {"tags": criteria.tags[0] if len(criteria.tags) == 1 else {"$all": list(criteria.tags)}}
        )
    if criteria.filter:
        exact("imageInfo.filter", _one_or_in(_case_variants(criteria.filter)))
    if criteria.date_from or criteria.date_to:
        bounds: dict[str, datetime] = {}
        if criteria.date_from:
            bounds["$gte"] = criteria.date_from
        if criteria.date_to:
            bounds["$lte"] = criteria.date_to
        exact("uploadDate", bounds)
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
        stages = ({"$match": _merge(residual)},) if residual else ()
        return SearchPlan(stages, FALLBACK_INDEX, hint_required=True)
    lead_field, lead, _ = min(candidates, key=lambda c: _RANK.index(c[0]))
    rest = [c for c in residual if c != {lead_field: lead}]
    stages = [{"$match": {lead_field: lead}}]
    if rest:
        stages.append({"$match": _merge(rest)})
    return SearchPlan(tuple(stages), _INDEX_BY_FIELD[lead_field], hint_required=False)


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


def search_pipeline(criteria: Criteria, scope: Scope) -> tuple[list[dict[str, Any]], SearchPlan]:
    """ONE aggregate for a page: items, total and every facet (``$facet``), scope inside."""
    plan = match_plan(criteria, scope)
    skip = (criteria.page - 1) * criteria.page_size
    facet: dict[str, list[dict[str, Any]]] = {
        "items": [
            {"$sort": _sort_spec(criteria)},
            {"$skip": skip},
            {"$limit": criteria.page_size},
            {"$project": {"keywords": 0, "readers": 0}},
        ],
        "total": [{"$count": "n"}],
    }
    for name, path in FACETS.items():
        facet[name] = [{"$group": {"_id": f"${path}", "n": {"$sum": 1}}}]
    return [*plan.stages, {"$facet": facet}], plan


def facet_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """``[{_id: value, n: count}]`` -> ``{value: count}``, largest first, no missing values."""
    pairs = [(str(r["_id"]), int(r["n"])) for r in rows if r.get("_id") not in (None, "")]
    return dict(sorted(pairs, key=lambda p: (-p[1], p[0])))


def count_pipeline(criteria: Criteria, scope: Scope) -> tuple[list[dict[str, Any]], SearchPlan]:
    """The count of what :func:`search_pipeline` would find (same filter and scope)."""
    plan = match_plan(criteria, scope)
    return [*plan.stages, {"$count": "n"}], plan


def lineage_pipeline(
    observation_base_id: str, scope: Scope
) -> tuple[list[dict[str, Any]], SearchPlan]:
    """Every readable record of one observation (archived ones too: the tree needs them)."""
    criteria = Criteria(
        observation_base_id=_string("observation_base_id", observation_base_id),
        include_archived=True,
    )
    plan = match_plan(criteria, scope)
    return [*plan.stages, {"$project": {"keywords": 0, "readers": 0}}], plan


def observations_pipeline(scope: Scope) -> tuple[list[dict[str, Any]], SearchPlan]:
    """Distinct readable observation base ids, sorted (``$gt: ""`` keeps it on the index)."""
    plan = match_plan(Criteria(include_archived=True), scope)
    lead: list[dict[str, Any]] = [{"$match": {"observationBaseId": {"$gt": ""}}}]
    stages = lead + [s for s in plan.stages]
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
    if not isinstance(new_status, str):
        raise invalid("new_status", "new_status must be a status name", new_status)
    (target,) = _choices("new_status", new_status, ProcessingStatus)
    return target, sorted(s for s, targets in TRANSITIONS.items() if target in targets)
