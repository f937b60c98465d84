"""The record schemas: validation messages, the MongoDB mapping and the derived validator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from bson import ObjectId
from pydantic import ValidationError

from jwstnb.schema import (
    DataType,
    ImageMetadata,
    JwstDataModel,
    ProcessingLevel,
    ProcessingResult,
    ProcessingStatus,
    SensorMetadata,
    collection_validator,
    mjd_to_datetime,
)


def make(**overrides: object) -> JwstDataModel:
    fields: dict[str, object] = {
        "file_name": "jw02733001001_02101_00001_nrca1_cal.fits",
        "file_path": "mast/jw02733-o001_t001_nircam_clear-f090w/"
        "jw02733001001_02101_00001_nrca1_cal.fits",
        "data_type": "image",
    }
    fields.update(overrides)
    return JwstDataModel(**fields)


def error_locations(exc: ValidationError) -> set[str]:
    return {".".join(str(part) for part in err["loc"]) for err in exc.errors()}


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"data_type": "picture"}, "data_type", "image"),
        ({"processing_status": "done"}, "processing_status", "pending"),
        ({"processing_level": "L4"}, "processing_level", "L2b"),
        ({"file_name": "x" * 256}, "file_name", "255"),
        ({"file_name": ""}, "file_name", "1"),
        ({"description": "d" * 1001}, "description", "1000"),
        ({"file_size": -1}, "file_size", "0"),
        ({"file_path": "../x"}, "file_path", "'..'"),
        ({"file_path": "/abs/file.fits"}, "file_path", "starts with '/'"),
        ({"file_path": "s3://bucket/key.fits"}, "file_path", "scheme"),
        ({"file_path": "mast/%2e%2e/etc"}, "file_path", "percent-decoded"),
    ],
)
def test_invalid_records_name_the_field(overrides: dict, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        make(**overrides)
    # the message names the field (in the user's snake_case or the stored camelCase)
    camel = "".join(p if i == 0 else p.title() for i, p in enumerate(field.split("_")))
    assert error_locations(info.value) & {field, camel}
    assert camel in str(info.value) or field in str(info.value)
    assert words in str(info.value)


def test_calibration_level_is_zero_to_four() -> None:
    assert ImageMetadata(calibration_level=4).calibration_level == 4
    with pytest.raises(ValidationError) as info:
        make(image_info={"calibration_level": 5})
    assert error_locations(info.value) == {"image_info.calibration_level"}
    assert "less than or equal to 4" in str(info.value)
    # stored documents use camelCase: the message follows the names it was given
    with pytest.raises(ValidationError) as info:
        JwstDataModel.from_document(
            {"fileName": "a.fits", "dataType": "image", "imageInfo": {"calibrationLevel": 5}}
        )
    assert error_locations(info.value) == {"imageInfo.calibrationLevel"}


def test_assignment_is_validated_too() -> None:
    record = make()
    with pytest.raises(ValidationError):
        record.file_path = "../../etc/passwd"
    assert record.file_path.startswith("mast/")


def test_document_round_trip_uses_camel_case_and_object_ids() -> None:
    oid = ObjectId()
    record = make(
        id=str(oid),
        tags=["ngc3132"],
        processing_level="L2b",
        parent_id=ObjectId(),
        derived_from=[ObjectId(), str(ObjectId())],
        image_info=ImageMetadata(target_name="NGC-3132", observation_date="2022-06-12T12:36:47Z"),
        sensor_info=SensorMetadata(instrument="NIRCAM", data_points=4096),
        processing_results=[ProcessingResult(algorithm="sigma_clip", results={"median": 1.5})],
        thumbnail=b"\x89PNG\r\n",
    )
    doc = record.to_document()
    assert doc["_id"] == oid and isinstance(doc["_id"], ObjectId)
    assert doc["fileName"] == record.file_name
    assert doc["processingLevel"] == "L2b" and type(doc["processingLevel"]) is str
    assert doc["imageInfo"]["targetName"] == "NGC-3132"
    assert doc["sensorInfo"]["dataPoints"] == 4096
    assert doc["processingResults"][0]["algorithm"] == "sigma_clip"
    assert isinstance(doc["parentId"], str) and len(doc["parentId"]) == 24
    assert all(isinstance(v, str) for v in doc["derivedFrom"])
    again = JwstDataModel.from_document(doc)
    assert again == record
    assert again.processing_level is ProcessingLevel.L2B
    assert again.data_type is DataType.IMAGE


def test_new_record_has_no_id_in_its_document() -> None:
    doc = make().to_document()
    assert "_id" not in doc
    assert doc["processingStatus"] == ProcessingStatus.PENDING.value
    assert doc["isPublic"] is False


def test_datetimes_are_utc_aware_at_millisecond_precision() -> None:
    naive = datetime(2022, 8, 9, 1, 2, 3, 456789)
    record = make(upload_date=naive)
    assert record.upload_date.tzinfo is UTC
    assert record.upload_date.microsecond == 456000
    plus_two = datetime(2022, 8, 9, 3, 0, tzinfo=timezone(timedelta(hours=2)))
    assert make(upload_date=plus_two).upload_date == datetime(2022, 8, 9, 1, 0, tzinfo=UTC)
    # documents read by pymongo without tz_aware come back naive: still UTC
    doc = make(upload_date=naive).to_document()
    doc["uploadDate"] = doc["uploadDate"].replace(tzinfo=None)
    assert JwstDataModel.from_document(doc).upload_date.tzinfo is UTC


def test_bad_object_id_is_named() -> None:
    with pytest.raises(ValidationError) as info:
        make(id="not-an-id")
    assert error_locations(info.value) == {"id"}
    assert "24-hex-digit" in str(info.value)


@pytest.mark.parametrize(
    ("mjd", "expected"),
    [
        (59800.0, datetime(2022, 8, 9, 0, 0, 0, tzinfo=UTC)),
        (59742.52554607639, datetime(2022, 6, 12, 12, 36, 47, tzinfo=UTC)),
    ],
)
def test_mjd_to_datetime(mjd: float, expected: datetime) -> None:
    value = mjd_to_datetime(mjd)
    assert value is not None and value.tzinfo is UTC
    assert value.replace(microsecond=0) == expected


@pytest.mark.parametrize("mjd", [0, 0.0, -1.5, None, float("nan"), "not a number"])
def test_mjd_without_a_date_is_none(mjd: object) -> None:
    assert mjd_to_datetime(mjd) is None  # type: ignore[arg-type]


def test_collection_validator_is_derived_from_the_model() -> None:
    schema = collection_validator()["$jsonSchema"]
    props = schema["properties"]
    assert schema["bsonType"] == "object"
    assert set(schema["required"]) == {"fileName", "dataType"}
    assert "_id" not in props
    # every stored field of the model is described, under its camelCase name
    stored = {f.alias for f in JwstDataModel.model_fields.values()} - {"_id"}
    assert set(props) == stored
    assert props["fileName"] == {"bsonType": "string", "minLength": 1, "maxLength": 255}
    assert props["dataType"]["enum"] == [d.value for d in DataType]
    assert props["processingLevel"]["enum"] == [lv.value for lv in ProcessingLevel]
    assert props["uploadDate"]["bsonType"] == "date"
    assert props["thumbnail"]["bsonType"] == ["binData", "null"]
    assert props["description"]["maxLength"] == 1000
    image = props["imageInfo"]
    assert set(image["bsonType"]) == {"object", "null"}
    assert image["properties"]["calibrationLevel"]["maximum"] == 4
    assert image["properties"]["observationDate"]["bsonType"] == ["date", "null"]
    results = props["processingResults"]
    assert results["items"]["required"] == ["algorithm"]


def test_validator_has_only_keywords_mongodb_accepts() -> None:
    allowed = {
        "bsonType", "properties", "required", "items", "enum", "minLength", "maxLength",
        "minimum", "maximum", "minItems", "maxItems", "pattern",
    }

    def walk(node: dict) -> None:
        assert set(node) <= allowed, set(node) - allowed
        for sub in node.get("properties", {}).values():
            walk(sub)
        if "items" in node:
            walk(node["items"])

    walk(collection_validator()["$jsonSchema"])


def test_calibration_round_trips_with_camel_case_names_and_a_derived_context_number() -> None:
    from jwstnb.schema import Calibration

    record = JwstDataModel(
        file_name="jw02733001001_02101_00001_nrca1_cal.fits", data_type="image",
        calibration={"calVer": "1.14.0", "crdsVer": "11.17.19",
                     "crdsContext": "jwst_1225.pmap", "contextNumber": 7,
                     "referenceFiles": {"dark": "jwst_nircam_dark_0342.fits"}},
        derived_roles={"65a1b2c3d4e5f60718293a4b": "psf"},
    )
    doc = record.to_document()
    # the number always follows the context, whatever the input said
    assert doc["calibration"]["contextNumber"] == 1225
    assert doc["derivedRoles"] == {"65a1b2c3d4e5f60718293a4b": "psf"}
    again = JwstDataModel.from_document(doc)
    assert again.calibration == record.calibration and again.derived_roles == record.derived_roles
    assert isinstance(again.calibration, Calibration)
    assert again.calibration.reference_files == {"dark": "jwst_nircam_dark_0342.fits"}
    # an odd context is kept as written, without a number; the number follows a new context
    odd = Calibration(crds_context="operational")
    assert odd.context_number is None
    odd.crds_context = "jwst_1300.pmap"
    assert odd.context_number == 1300
    # defaults: no calibration, no roles
    bare = JwstDataModel(file_name="x.fits", data_type="image").to_document()
    assert bare["calibration"] is None and bare["derivedRoles"] == {}


def test_calibration_refuses_reference_types_that_are_not_field_names() -> None:
    from jwstnb.schema import Calibration

    with pytest.raises(ValidationError):
        Calibration(reference_files={"a.b": "x.fits"})
    with pytest.raises(ValidationError):
        Calibration(reference_files={"$dark": "x.fits"})


def test_the_collection_validator_checks_calibration_and_roles() -> None:
    properties = collection_validator()["$jsonSchema"]["properties"]
    calibration = properties["calibration"]
    assert calibration["bsonType"] == ["object", "null"]
    assert calibration["properties"]["contextNumber"]["bsonType"] == ["int", "long", "null"]
    assert set(calibration["properties"]) == {"calVer", "crdsVer", "crdsContext",
                                              "contextNumber", "referenceFiles"}
    assert properties["derivedRoles"]["bsonType"] == "object"
