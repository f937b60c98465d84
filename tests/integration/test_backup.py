"""Export / restore round trips: ObjectIds, UTC dates, integers, doubles and binary exactly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import Int64, ObjectId
from bson.json_util import dumps
from bson.raw_bson import RawBSONDocument

from jwstnb import backup
from jwstnb.errors import AccessDenied, ValidationError
from jwstnb.schema import ImageMetadata, JwstDataModel, ProcessingResult
from jwstnb.session import Session, connect

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\x00binary\x00"


def _seed(s: Session) -> list[str]:
    parent = ObjectId()
    ids = [
        s.insert(
            JwstDataModel(
                id=parent,
                file_name="jw02733-o001_t001_nircam_clear-f090w_i2d.fits",
                file_path="mast/jw02733-o001_t001_nircam_clear-f090w/i2d.fits",
                data_type="image",
                file_size=2**40,
                is_public=True,
                thumbnail=PNG,
                upload_date=datetime(2022, 7, 12, 14, 30, 5, 123000, tzinfo=UTC),
                metadata={"mast_t_exptime": 1234.5, "mast_count": 3, "nested": {"a": [1, 2.0]}},
                image_info=ImageMetadata(
                    target_name="NGC 3132",
                    instrument="NIRCAM",
                    observation_date=datetime(2022, 6, 3, tzinfo=UTC),
                    exposure_time=0.1,
                ),
                processing_results=[ProcessingResult(algorithm="psf", results={"fwhm": 1.25})],
            )
        ),
        s.as_user("alice").insert(
            JwstDataModel(
                file_name="alice_cal.fits",
                data_type="sensor",
                shared_with=["bob"],
                parent_id=str(parent),
                derived_from=[str(parent)],
                tags=["ünïcode", "$where"],
            )
        ),
    ]
    # A field the toolkit does not model, written by someone else, must survive too.
    s.collection.update_one({"_id": ObjectId(ids[1])}, {"$set": {"extra": Int64(5)}})
    return ids


def _raw(s: Session) -> list[bytes]:
    coll = s.collection.with_options(
        codec_options=s.collection.codec_options.with_options(document_class=RawBSONDocument)
    )
    return [doc.raw for doc in coll.find().sort("_id", 1)]


@pytest.mark.parametrize("scheme", ["file", "memory", "gz"])
def test_round_trip_is_byte_exact(
    admin_session: Session, mongo_uri: str, tmp_path: Path, scheme: str
) -> None:
    _seed(admin_session)
    url = {
        "file": (tmp_path / "dump.jsonl").as_uri(),
        "memory": f"memory://jwstnb-backup-{uuid.uuid4().hex}/dump.jsonl",
        "gz": (tmp_path / "dump.jsonl.gz").as_uri(),
    }[scheme]
    assert backup.export(admin_session, url) == 2
    if scheme == "file":
        first = (tmp_path / "dump.jsonl").read_text().splitlines()[0]
        assert '"$oid"' in first and '"$date"' in first and '"$binary"' in first
        assert '"$numberLong": "1099511627776"' in first
    other = f"{admin_session.database_name}_restored"
    with connect(mongo_uri, admin=True, database=other) as target:
        try:
            assert backup.restore(target, url) == 2
            assert _raw(target) == _raw(admin_session)
            # Restored records behave: searchable, scoped, thumbnails intact.
            assert target.search(text="ngc").total == 1
            assert target.as_user("bob").search().total == 2
            assert target.anonymous().search().total == 1
            first_record = target.search(text="ngc").items[0]
            assert first_record.thumbnail == PNG
            # Restoring again replaces instead of duplicating.
            assert backup.restore(target, url) == 2
            assert target.collection.count_documents({}) == 2
        finally:
            target.client.drop_database(other)


def test_user_export_holds_only_readable_records(admin_session: Session, tmp_path: Path) -> None:
    _seed(admin_session)
    url = (tmp_path / "bob.jsonl").as_uri()
    assert backup.export(admin_session.as_user("bob"), url) == 2  # public + shared with bob
    assert backup.export(admin_session.as_user("carol"), url) == 1
    assert backup.export(admin_session.anonymous(), url) == 1
    with pytest.raises(AccessDenied):
        backup.restore(admin_session.as_user("carol"), url)


def test_old_dumps_get_derived_fields_and_bad_lines_are_named(
    admin_session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "old.jsonl"
    oid = ObjectId()
    old = {
        "_id": oid,
        "fileName": "old_i2d.fits",
        "dataType": "image",
        "isPublic": True,
        "imageInfo": {"targetName": "Carina"},
    }
    path.write_text(dumps(old) + "\n\n")  # no keywords/readers: written before they existed
    assert backup.restore(admin_session, path.as_uri()) == 1
    assert admin_session.anonymous().search(text="carina").total == 1
    path.write_text(dumps({"_id": oid, "fileName": 3, "dataType": "image"}) + "\n")
    with pytest.raises(ValidationError, match="line 1"):
        backup.restore(admin_session, path.as_uri())
    path.write_text("{not json\n")
    with pytest.raises(ValidationError, match="line 1"):
        backup.restore(admin_session, path.as_uri())
