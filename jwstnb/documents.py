"""The stored document (DESIGN §1, §3): what a record looks like in MongoDB.

The one owner of the fields the session derives on every write, never taken from input
(``keywords`` for text search, ``readers`` for access, ``program``, ``skyRegion`` and
``skyCells`` for the sky, ``emMin``/``emMax`` for wavelength), of the collection's
``$jsonSchema`` validator, and of :func:`stored_document`. Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jwstnb.access import readers_for
from jwstnb.criteria import MAX_KEYWORDS, MAX_TERM_LENGTH, tokenize
from jwstnb.errors import invalid
from jwstnb.schema import ProcessingStatus, collection_validator
from jwstnb.sky import record_shape

if TYPE_CHECKING:
    from jwstnb.schema import JwstDataModel

__all__ = [
    "DERIVED_FIELDS",
    "DERIVED_INPUTS",
    "TRANSITIONS",
    "Prepared",
    "band_of_record",
    "derived_fields",
    "derived_update",
    "keywords_for",
    "prepare",
    "program_of_record",
    "session_validator",
    "sky_cells",
    "status_transition",
    "stored_document",
    "stored_document_of",
    "with_derived",
]


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


def _sky_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``skyRegion`` (GeoJSON for the 2dsphere index) and ``skyCells`` (its HEALPix cells)
    from one read of the footprint, else the centre. A footprint whose text does not parse
    falls back to the centre, so the record is still found by position."""
    import copy

    footprint, ra, dec = _sky_source(doc.get("imageInfo"))
    plain = (str, int, float, type(None))
    if not (isinstance(footprint, plain) and isinstance(ra, plain) and isinstance(dec, plain)):
        return _sky_fields_of(doc.get("imageInfo"))
    # The products of one observation share its footprint: computed once for all of them.
    return copy.deepcopy(_sky_fields_cached(footprint, ra, dec))


@functools.lru_cache(maxsize=256)
def _sky_fields_cached(footprint: str | None, ra: Any, dec: Any) -> dict[str, Any]:
    return _sky_fields_of({"footprint": footprint, "ra": ra, "dec": dec})


def _sky_fields_of(info: Any) -> dict[str, Any]:
    footprint, centre = record_shape(info)
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
    footprint, centre = record_shape(doc.get("imageInfo"))
    if footprint is None and centre is None:
        return []
    from jwstnb import sky

    return sky.record_cells(footprint, centre)


def band_of_record(doc: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """``(emMin, emMax)`` in microns: the band of the record's optical elements (its filter,
    grating/filter pair...) as :mod:`jwstnb.naming` knows them (``naming.band``), else
    ``(None, None)``. The ``wavelength`` criterion tests these."""
    from jwstnb.naming import band

    optics = _get(doc, ("imageInfo", "filter"))
    instrument = _get(doc, ("imageInfo", "instrument"))
    if not isinstance(optics, str) or not optics.strip():
        return None, None
    try:
        found = band(optics, instrument if isinstance(instrument, str) else None)
    except (ValueError, TypeError, KeyError):
        return None, None
    if not found:
        return None, None
    low, high = (float(v) for v in found)
    return (low, high) if 0 <= low <= high else (None, None)


def derived_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the session derives for a stored (camelCase) document, never taken as given.

    ``keywords`` (text search), ``readers`` (access), ``program`` (five digits),
    ``skyRegion`` (GeoJSON for position search), ``skyCells`` (its HEALPix cells, the
    position index SecantusDB reads) and ``emMin``/``emMax`` (the band, microns). Restore
    and every write recompute them.
    """
    return {**_cheap_fields(doc), **_sky_fields(doc)}


def _cheap_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The derived fields that cost little (all but the sky's): always computed afresh."""
    return {
        "keywords": keywords_for(doc),
        "readers": readers_for(
            doc.get("userId"), bool(doc.get("isPublic")), doc.get("sharedWith") or ()
        ),
        "program": program_of_record(doc),
        **dict(zip(("emMin", "emMax"), band_of_record(doc), strict=True)),
    }


DERIVED_FIELDS = ("keywords", "readers", "program", "skyRegion", "skyCells", "emMin", "emMax")
# What each costly derived field is computed from (the rest are cheap and always computed).
_SKY_INPUTS = ("imageInfo",)


def derived_update(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The derived fields of ``after`` that differ from those stored in ``before`` (the same
    record before a change). The sky fields, the costly ones, are computed only when the
    ``imageInfo`` they come from changed."""
    fresh = _cheap_fields(after)
    if any(before.get(k) != after.get(k) for k in _SKY_INPUTS) or any(
        k not in before for k in ("skyRegion", "skyCells")
    ):
        fresh.update(_sky_fields(after))
    return {k: v for k, v in fresh.items() if before.get(k) != v}


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
    for name in ("emMin", "emMax"):
        schema["properties"][name] = {"bsonType": ["double", "int", "null"], "minimum": 0}
    schema["required"] = list(dict.fromkeys([*schema.get("required", []), "keywords", "readers"]))
    return validator


def stored_document(model: JwstDataModel) -> dict[str, Any]:
    """The document the session stores for ``model``: its fields plus the derived ones."""
    doc = model.to_document()
    doc.update(derived_fields(doc))
    return doc


def _sky_source(info: Any) -> tuple[Any, Any, Any]:
    """The stored ``imageInfo`` values the sky fields come from: footprint, ra, dec."""
    if not isinstance(info, Mapping):
        return None, None, None
    return info.get("footprint"), info.get("ra"), info.get("dec")


@dataclass(frozen=True)
class Prepared:
    """A record with its sky fields, computed where its file was read (a scan's worker).

    The sky fields (``skyRegion``, ``skyCells``) cost most of a record's derived fields and
    decide no access, so a scan computes them on the worker that read the file, in parallel.
    :func:`stored_document` takes them only while the record's footprint and centre are still
    the values they came from (``source``), and only when the session passes
    ``trusted_sky=True`` (admin ingest); ``keywords``, ``readers`` and ``program`` are always
    computed again by the session, never carried.
    """

    model: JwstDataModel
    sky: Mapping[str, Any]
    source: tuple[Any, Any, Any]


def prepare(model: JwstDataModel) -> Prepared:
    """``model`` with its sky fields (see :class:`Prepared`); run where the file was read."""
    doc = model.to_document()
    return Prepared(model, _sky_fields(doc), _sky_source(doc.get("imageInfo")))


def stored_document_of(
    record: JwstDataModel | Prepared, *, trusted_sky: bool = False
) -> dict[str, Any]:
    """:func:`stored_document` of a model, or of a :class:`Prepared` record: its carried sky
    fields are used only when ``trusted_sky`` and its footprint and centre are unchanged."""
    if not isinstance(record, Prepared):
        return stored_document(record)
    doc = record.model.to_document()
    info = doc.get("imageInfo")
    if not trusted_sky or _sky_source(info) != record.source:
        doc.update(derived_fields(doc))
        return doc
    doc.update(_cheap_fields(doc))
    doc.update({"skyRegion": record.sky["skyRegion"], "skyCells": list(record.sky["skyCells"])})
    return doc


def with_derived(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document with its derived fields recomputed in place (order kept, so a backup of
    an unchanged record restores byte for byte)."""
    derived = derived_fields(doc)
    return {**{k: derived.get(k, v) for k, v in doc.items()}, **derived}


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
