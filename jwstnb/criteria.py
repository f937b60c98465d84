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

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from jwstnb.schema import DataType, ProcessingLevel, ProcessingStatus

if TYPE_CHECKING:
    from jwstnb.sky import SkyQuery

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
# Fields that choose a page or flag scope-wide classes, never narrow the records counted.
_NOT_FILTERS = frozenset(
    {"page", "page_size", "sort", "descending", "include_archived", "is_public", "intersect"}
)
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
    """A moment in UTC from an astropy ``Time``, a datetime or date, ISO 8601 text, or a
    Modified Julian Date (a number, or text holding one): ``59800.0`` is 2022-08-09T00:00Z."""
    if value is None:
        return None
    if type(value).__module__.startswith("astropy") and hasattr(value, "to_datetime"):
        if not getattr(value, "isscalar", True):
            raise _fail(info, "takes one time, not an array of them")
        try:
            value = value.utc.to_datetime(timezone=UTC)
        except Exception:  # astropy raises several types for out-of-range times
            raise _fail(info, "is a Time that does not convert to a UTC datetime") from None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise _fail(info, "must be an astropy Time, a date, a datetime, ISO 8601 "
                            "text or an MJD") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        from jwstnb.schema import mjd_to_datetime

        moment = mjd_to_datetime(value) if 0 < value < 1_000_000 else None
        if moment is None:
            raise _fail(info, "as a number is an MJD from 1 to 999999")
        value = moment
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, datetime):
        raise _fail(info, "must be an astropy Time, a date, a datetime, ISO 8601 text or an MJD")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _region(value: Any, info: ValidationInfo) -> str | None:
    """A search region, kept as its exact STC-S (ICRS) so criteria stay plain values."""
    if value is None:
        return None
    from jwstnb import sky

    try:
        return sky.parse_region(value).to_stcs()
    except (ValueError, TypeError) as exc:
        raise _fail(info, f"is not a region ({str(exc).removeprefix('region ')})") from None


def _intersect(value: Any, info: ValidationInfo) -> str:
    from jwstnb import sky

    try:
        return sky.parse_intersect("overlaps" if value is None else value)
    except ValueError:
        raise _fail(info, f"must be one of {', '.join(sky.INTERSECT_MODES)}") from None


def _bound(value: Any, info: ValidationInfo, unit: str) -> float | None:
    """One end of a range: None (open), a number in ``unit``, or an astropy Quantity."""
    if value is None:
        return None
    if getattr(value, "unit", None) is not None:
        import astropy.units as u

        try:
            value = value.to_value(u.Unit(unit), equivalencies=u.spectral())
        except (u.UnitsError, TypeError, ValueError):
            raise _fail(info, f"takes {unit} or an astropy quantity convertible to {unit}, "
                        f"not {value.unit}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            import numpy as np

            if isinstance(value, np.integer | np.floating):
                value = float(value)
        except ImportError:  # pragma: no cover
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(info, f"takes numbers ({unit}) or astropy quantities, e.g. (100, None)")
    if value < 0:
        raise _fail(info, "cannot be negative")
    return float(value)


def _span(unit: str) -> Any:
    """A ``(min, max)`` range (either end None: open) in ``unit``, validated and ordered."""

    def check(value: Any, info: ValidationInfo) -> tuple[float | None, float | None] | None:
        if value is None:
            return None
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
            raise _fail(info, f"is a (min, max) pair in {unit}; None leaves an end open")
        if len(value) != 2:
            raise _fail(info, f"is a (min, max) pair in {unit}; None leaves an end open")
        low, high = _bound(value[0], info, unit), _bound(value[1], info, unit)
        if low is None and high is None:
            return None
        inverse = any(getattr(getattr(v, "unit", None), "physical_type", "length") != "length"
                      for v in value if unit == "micron")
        if inverse:  # frequencies or energies: the higher one is the shorter wavelength
            if low is None or high is None:
                low, high = high, low
            else:
                low, high = min(low, high), max(low, high)
        if low is not None and high is not None and low > high:
            raise _fail(info, f"minimum {low:g} is above its maximum {high:g}")
        return (low, high)

    return BeforeValidator(check)


def _levels(value: Any, info: ValidationInfo) -> tuple[int, ...]:
    """ObsCore calibration levels 0-4 (one or a list)."""
    if value is None:
        return ()
    values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    if len(values) > 5:
        raise _fail(info, "takes at most the five levels 0 to 4")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 4:
            raise _fail(info, "takes whole numbers from 0 to 4 (ObsCore calib_level)")
        out.append(v)
    return tuple(sorted(set(out)))


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
    region: Annotated[str | None, BeforeValidator(_region)] = None
    intersect: Annotated[str, BeforeValidator(_intersect)] = "overlaps"
    exposure_time: Annotated[tuple[float | None, float | None] | None, _span("s")] = None
    wavelength: Annotated[tuple[float | None, float | None] | None, _span("micron")] = None
    calib_level: Annotated[tuple[int, ...], BeforeValidator(_levels)] = ()
    exclude_data_type: Annotated[tuple[str, ...], _choices(DataType)] = ()
    exclude_processing_level: Annotated[tuple[str, ...], _choices(ProcessingLevel)] = ()
    exclude_instrument: Strings = ()
    exclude_filter: Strings = ()
    exclude_target_name: Strings = ()
    exclude_status: Annotated[tuple[str, ...], _choices(ProcessingStatus)] = ()
    exclude_program: Annotated[tuple[str, ...], BeforeValidator(_programs)] = ()
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
        if self.region is not None and self.position is not None:
            raise PydanticCustomError(
                "jwstnb_invalid", "give region or position (with radius), not both")
        if self.intersect != "overlaps" and self.region is None and self.position is None:
            raise PydanticCustomError("jwstnb_invalid", "intersect needs a region or position")
        return self

    @property
    def sky_query(self) -> SkyQuery | None:
        """The sky part of the search as a :class:`jwstnb.sky.SkyQuery` (a region or a cone
        with the intersect mode), or None without one."""
        if self.region is None and self.position is None:
            return None
        from jwstnb import sky

        if self.region is not None:
            return sky.SkyQuery(region=sky.read_footprint(self.region) or
                                sky.parse_region(self.region), intersect=self.intersect)
        assert self.position is not None
        return sky.SkyQuery(cone=(*self.position, self.radius), intersect=self.intersect)

    @property
    def unfiltered(self) -> bool:
        """Whether only the scope and the archived/public flags decide what matches: a broad
        view, whose total and facets the counts summary holds."""
        return all(
            getattr(self, name) == info.default
            for name, info in type(self).model_fields.items()
            if name not in _NOT_FILTERS
        )

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
