"""The record schemas: pydantic models, their MongoDB mapping, and the collection validator.

Python attributes are snake_case; MongoDB field names are the seed's camelCase (pydantic
aliases). ``model.to_document()`` and ``JwstDataModel.from_document(doc)`` convert between
the two, with ``id`` <-> ``_id`` as an ObjectId and every datetime UTC-aware (truncated to
the millisecond, the precision BSON keeps). :func:`collection_validator` derives the
collection's ``$jsonSchema`` from the same models, so a write that bypasses jwstnb is checked
by the server against the same rules.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Annotated, Any, Self

from bson import ObjectId
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from jwstnb.keys import KEY_PATTERN, MAX_KEY_LENGTH, validate_key

__all__ = [
    "COLLECTION",
    "DATABASE",
    "Calibration",
    "DataType",
    "ImageMetadata",
    "JwstDataModel",
    "ProcessingLevel",
    "ProcessingResult",
    "ProcessingStatus",
    "SensorMetadata",
    "WavelengthRange",
    "collection_validator",
    "mjd_to_datetime",
    "to_object_id",
    "utc_now",
]

DATABASE = "jwst_data_analysis"
COLLECTION = "jwst_data"


class DataType(StrEnum):
    """What kind of data a file holds (the seed's ``dataType``)."""

    IMAGE = "image"
    SENSOR = "sensor"
    SPECTRAL = "spectral"
    METADATA = "metadata"
    CALIBRATION = "calibration"
    RAW = "raw"


class ProcessingStatus(StrEnum):
    """Where a record is in its processing workflow (the seed's ``processingStatus``)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ProcessingLevel(StrEnum):
    """The JWST pipeline stage a product comes from (the seed's ``processingLevel``)."""

    L1 = "L1"
    L2A = "L2a"
    L2B = "L2b"
    L3 = "L3"
    UNKNOWN = "unknown"


class WavelengthRange(StrEnum):
    """MAST's ``wavelength_region`` in the seed's words."""

    INFRARED = "INFRARED"
    OPTICAL = "OPTICAL"
    UV = "UV"


def utc_now() -> datetime:
    """The current time, UTC-aware, at BSON's millisecond precision."""
    return _to_utc(datetime.now(UTC))


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def to_object_id(value: Any) -> ObjectId:
    """An ObjectId from itself or its 24-hex-digit string; ValueError otherwise."""
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    raise ValueError(f"not a valid record id: {value!r} (expected a 24-hex-digit ObjectId)")


def _check_key(value: str | None) -> str | None:
    return None if value is None else validate_key(value)


# A UTC-aware datetime; BSON "date" in the collection validator.
UtcDatetime = Annotated[
    datetime,
    AfterValidator(_to_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "bsonType": "date"}),
]
# A MongoDB ObjectId (accepts its 24-hex-digit string form).
ObjectIdField = Annotated[
    ObjectId,
    BeforeValidator(to_object_id),
    PlainSerializer(lambda v: v, return_type=ObjectId, when_used="python"),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "bsonType": "objectId"}),
]
# A relative storage key (relative, no traversal), checked by jwstnb.keys.validate_key.
StorageKey = Annotated[
    str,
    AfterValidator(validate_key),
    Field(max_length=MAX_KEY_LENGTH),
    WithJsonSchema({"type": "string", "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN}),
]
# Raw bytes (BSON binData), e.g. a stored PNG thumbnail.
Binary = Annotated[bytes, WithJsonSchema({"type": "string", "bsonType": "binData"})]


class _Model(BaseModel):
    """Shared config: camelCase aliases, names or aliases accepted, assignments validated."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        validate_assignment=True,
        arbitrary_types_allowed=True,
        extra="ignore",
    )

    def to_document(self) -> dict[str, Any]:
        """This model as a MongoDB document: camelCase names, enums as strings."""
        doc: dict[str, Any] = _plain(self.model_dump(by_alias=True, exclude_none=False))
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Self:
        """Build the model from a MongoDB document (camelCase names; unknown fields ignored)."""
        return cls.model_validate(doc)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class ImageMetadata(_Model):
    """What an image-like file shows: target, instrument, filter, exposure, time, WCS, proposal."""

    target_name: str | None = None
    instrument: str | None = None
    filter: str | None = None
    exposure_time: float | None = Field(default=None, ge=0)
    observation_date: UtcDatetime | None = None
    coordinate_system: str | None = None
    wcs: dict[str, Any] | None = None
    wavelength_range: WavelengthRange | None = None
    calibration_level: int | None = Field(default=None, ge=0, le=4)
    proposal_id: str | None = None
    proposal_pi: str | None = None
    observation_title: str | None = None
    ra: float | None = Field(default=None, ge=0, lt=360)
    dec: float | None = Field(default=None, ge=-90, le=90)
    footprint: str | None = Field(default=None, max_length=20000)


class SensorMetadata(_Model):
    """What a detector-readout file holds: instrument, wavelength, samples, timing, detector."""

    instrument: str | None = None
    wavelength: float | None = None
    data_points: int | None = Field(default=None, ge=0)
    sampling_rate: float | None = Field(default=None, ge=0)
    integration_time: float | None = Field(default=None, ge=0)
    detector_type: str | None = None


class ProcessingResult(_Model):
    """One run of an algorithm over a record: parameters, results, and the output file's key."""

    algorithm: str = Field(min_length=1, max_length=200)
    processed_date: UtcDatetime = Field(default_factory=utc_now)
    status: str = "completed"
    parameters: dict[str, Any] = Field(default_factory=dict)
    results: dict[str, Any] = Field(default_factory=dict)
    output_file_path: StorageKey | None = None


# A reference type as a MongoDB field name: CRDS spells them in lower case, digits, ``-``/``_``.
ReferenceType = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Calibration(_Model):
    """How a calibrated file was made: pipeline version, CRDS version and context, and the
    reference file used for each reference type (``{"dark": "jwst_nircam_dark_0342.fits"}``).

    Read from the CAL_VER, CRDS_VER, CRDS_CTX and R_* keywords. ``context_number`` is the
    context's number (``jwst_1200.pmap`` -> 1200), always derived from ``crds_context`` so
    contexts can be compared by number ("made before context 1200") in a query.
    """

    cal_ver: str | None = Field(default=None, max_length=64)
    crds_ver: str | None = Field(default=None, max_length=64)
    crds_context: str | None = Field(default=None, max_length=64)
    context_number: int | None = Field(default=None, ge=0)
    reference_files: dict[ReferenceType, Annotated[str, Field(max_length=255)]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _derive_context_number(self) -> Self:
        number: int | None = None
        if self.crds_context:
            try:
                number = context_number(self.crds_context)
            except ValueError:  # an odd context string is kept as written, without a number
                number = None
        if self.context_number != number:
            # object.__setattr__: a plain assignment would validate (and call this) again
            object.__setattr__(self, "context_number", number)
        return self

    def is_empty(self) -> bool:
        """True when nothing is known (no versions, context or reference files)."""
        return not (self.cal_ver or self.crds_ver or self.crds_context or self.reference_files)


class JwstDataModel(_Model):
    """One file of JWST data and everything jwstnb knows about it (collection ``jwst_data``)."""

    id: ObjectIdField | None = Field(default=None, alias="_id")
    file_name: str = Field(min_length=1, max_length=255)
    file_path: StorageKey | None = None
    file_size: int = Field(default=0, ge=0)
    file_format: str = Field(default="fits", max_length=32)
    data_type: DataType
    processing_status: ProcessingStatus = ProcessingStatus.PENDING
    upload_date: UtcDatetime = Field(default_factory=utc_now)
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)
    description: str | None = Field(default=None, max_length=1000)
    # lineage
    processing_level: ProcessingLevel = ProcessingLevel.UNKNOWN
    observation_base_id: str | None = Field(default=None, max_length=200)
    exposure_id: str | None = Field(default=None, max_length=200)
    parent_id: str | None = None
    derived_from: list[str] = Field(default_factory=list)
    # {parent id: the parent's role in the association the edge comes from} ("science", "psf",
    # "background", ...); only edges made from an association file carry a role.
    derived_roles: dict[str, Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=dict
    )
    # access
    user_id: str | None = None
    is_public: bool = False
    shared_with: list[str] = Field(default_factory=list)
    #: Readers (of ``shared_with``) who may also change tags, description and status.
    editors: list[str] = Field(default_factory=list)
    archived: bool = False
    # content
    metadata: dict[str, Any] = Field(default_factory=dict)
    is_viewable: bool = True
    image_info: ImageMetadata | None = None
    sensor_info: SensorMetadata | None = None
    processing_results: list[ProcessingResult] = Field(default_factory=list)
    thumbnail: Binary | None = None
    # provenance: how a calibrated file was made (DESIGN §12)
    calibration: Calibration | None = None

    @field_validator("parent_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, ObjectId) else value

    @field_validator("derived_from", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) if isinstance(v, ObjectId) else v for v in value]
        return value

    def to_document(self) -> dict[str, Any]:
        """The MongoDB document; ``_id`` is left out until the record has one."""
        doc = super().to_document()
        if doc.get("_id") is None:
            doc.pop("_id", None)
        return doc


def mjd_to_datetime(mjd: float | None) -> datetime | None:
    """Convert a Modified Julian Date (UTC) to an aware datetime; 0, negative or NaN -> None.

    ``mjd_to_datetime(59800.0)`` is 2022-08-09T00:00:00Z. Uses astropy.time (imported here,
    not at ``import jwstnb``).
    """
    if mjd is None:
        return None
    try:
        value = float(mjd)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return _mjd_datetime(value)


@functools.lru_cache(maxsize=4096)
def _mjd_datetime(value: float) -> datetime:
    """astropy's conversion (leap seconds included), once per value: it costs about a
    millisecond, and an import's rows of one observation share their times."""
    from astropy.time import Time

    return _to_utc(Time(value, format="mjd", scale="utc").to_datetime(timezone=UTC))


# --- the collection validator, derived from the models' JSON schema -------------------------

_JSON_TO_BSON = {
    "string": "string",
    "boolean": "bool",
    "integer": ["int", "long"],
    "number": ["double", "int", "long", "decimal"],
    "object": "object",
    "array": "array",
    "null": "null",
}
# $jsonSchema keywords MongoDB accepts that we carry over from pydantic's schema.
_KEEP = ("enum", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "pattern")


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _convert(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in node:
        branches = [_convert(b, defs) for b in node["anyOf"]]
        types: list[str] = []
        merged: dict[str, Any] = {}
        for b in branches:
            bt = b.pop("bsonType", None)
            if bt is None:  # an unconstrained branch makes the whole field unconstrained
                return {}
            types.extend([bt] if isinstance(bt, str) else bt)
            merged.update(b)
        if "enum" in merged and "null" in types:
            merged["enum"] = [*merged["enum"], None]
        merged["bsonType"] = list(dict.fromkeys(types))
        return merged
    out: dict[str, Any] = {}
    if "bsonType" in node:
        out["bsonType"] = node["bsonType"]
    elif "type" in node:
        out["bsonType"] = _JSON_TO_BSON[node["type"]]
    elif "enum" in node:
        out["bsonType"] = "string"
    for key in _KEEP:
        if key in node:
            out[key] = node[key]
    if out.get("bsonType") == "object" and "properties" in node:
        out["properties"] = {k: _convert(v, defs) for k, v in node["properties"].items()}
        if node.get("required"):
            out["required"] = list(node["required"])
    if out.get("bsonType") == "array" and "items" in node:
        items = _convert(node["items"], defs)
        if items:
            out["items"] = items
    return out


def collection_validator(model: type[BaseModel] = JwstDataModel) -> dict[str, Any]:
    """The ``{"$jsonSchema": ...}`` validator for the collection, derived from ``model``.

    Generated from pydantic's JSON schema of the same model (types, enums, lengths, ranges,
    required fields, nested models), so the server checks writes that bypass jwstnb.
    """
    schema = model.model_json_schema(by_alias=True, mode="validation")
    defs = schema.get("$defs", {})
    root = _convert(schema, defs)
    root["bsonType"] = "object"
    # The server owns _id (an ObjectId it may generate); everything else is checked.
    root.get("properties", {}).pop("_id", None)
    root["required"] = [name for name in schema.get("required", []) if name != "_id"]
    return {"$jsonSchema": root}


# --- CRDS contexts --------------------------------------------------------------------------------

_PIPELINE_CONTEXT = re.compile(r"(?:jwst_)?(?P<number>\d{1,6})(?:\.pmap)?")


def context_number(context: str | int, field_name: str = "crds_context") -> int:
    """The number of a CRDS pipeline context: ``"jwst_1200.pmap"``, ``"jwst_1200"``,
    ``"1200"`` or ``1200`` -> 1200.

    Contexts are ordered by this number (a later context has a larger one), which is how
    "made before context N" is decided. Anything else (an instrument ``.imap``, a reference
    file, junk) is a :class:`jwstnb.errors.ValidationError` (a ValueError) naming
    ``field_name``.

    >>> context_number("JWST_1200.pmap")
    1200
    """
    from jwstnb.errors import invalid

    if isinstance(context, bool) or not isinstance(context, int | str):
        raise invalid(field_name, "must be a CRDS context such as 'jwst_1200.pmap'", context)
    if isinstance(context, int):
        if context < 0:
            raise invalid(field_name, "a CRDS context number is not negative", context)
        return context
    m = _PIPELINE_CONTEXT.fullmatch(context.strip().lower())
    if m is None:
        raise invalid(
            field_name, "must be a CRDS pipeline context such as 'jwst_1200.pmap' or 1200",
            context,
        )
    return int(m["number"])
