"""The one list of search criteria (DESIGN §1): what a search can ask, validated and
normalised, and nothing about how a database answers it.

:class:`Criteria` is a pydantic model: ``Session.search``, ``items``, ``counts``, ``table``,
``explain``, the widgets and the command line all take its fields. User text is data: it is
tokenised into word characters only (:func:`tokenize`); dicts, lists or operators where a
string is expected are a :class:`~jwstnb.errors.ValidationError` naming the argument, and
lengths and term counts are capped. The read planners (:mod:`jwstnb.session.planners`) turn
criteria into the database's reads.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from jwstnb.schema import DataType, ProcessingLevel, ProcessingStatus

__all__ = [
    "FACETS",
    "MAX_TERMS",
    "MAX_TEXT_LENGTH",
    "SORT_FIELDS",
    "Criteria",
    "tokenize",
    "validate_criteria",
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



# --- sort keys and facets ----------------------------------------------------------------------

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
    "crds_context": "calibration.crdsContext",
}

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


def _contexts(value: Any, info: ValidationInfo) -> tuple[int, ...]:
    """CRDS pipeline contexts ("jwst_1200.pmap", "jwst_1200", 1200) -> their numbers."""
    from jwstnb.naming import context_number

    values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    if value is None:
        return ()
    if len(values) > MAX_VALUES:
        raise _fail(info, f"takes at most {MAX_VALUES} values")
    try:
        return tuple(dict.fromkeys(context_number(v, str(info.field_name)) for v in values))
    except ValueError:
        raise _fail(
            info, "must be CRDS pipeline contexts such as 'jwst_1200.pmap' or 1200"
        ) from None


def _context(value: Any, info: ValidationInfo) -> int | None:
    if value is None:
        return None
    numbers = _contexts(value, info)
    if len(numbers) != 1:
        raise _fail(info, "takes one CRDS pipeline context, e.g. 'jwst_1200.pmap'")
    return numbers[0]


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
    cal_ver: Strings = ()
    crds_context: Annotated[tuple[int, ...], BeforeValidator(_contexts)] = ()
    made_before_context: Annotated[int | None, BeforeValidator(_context)] = None
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
