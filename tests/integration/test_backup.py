"""Export / restore round trips: ObjectIds, UTC dates, integers, doubles and binary exactly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import Int64, ObjectId
from bson.json_util import dumps
from bson.raw_bson import RawBSONDocument
from pymongo.errors import WriteError

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


# --- hostile and broken backup files: all or nothing -----------------------------------------


def _lines(*docs: dict) -> str:
    return "".join(dumps(d) + "\n" for d in docs)


def _record(oid: ObjectId, **fields: object) -> dict:
    base = {"_id": oid, "fileName": f"{oid}_cal.fits", "dataType": "image"}
    return {**base, **fields}


def test_crafted_readers_never_widen_access(admin_session: Session, tmp_path: Path) -> None:
    """readers/keywords/program/skyRegion in a file are ignored: recomputed from the record."""
    oid = ObjectId()
    crafted = _record(
        oid, userId="alice", isPublic=False, readers=["public", "user:mallory"],
        keywords=["secret"], program="99999",
    )
    path = tmp_path / "crafted.jsonl"
    path.write_text(_lines(crafted))
    assert backup.restore(admin_session, path.as_uri()) == 1
    stored = admin_session.collection.find_one({"_id": oid})
    assert stored["readers"] == ["user:alice"]
    assert "secret" not in stored["keywords"] and stored["program"] is None
    assert admin_session.anonymous().search().total == 0
    assert admin_session.as_user("mallory").search().total == 0
    assert admin_session.as_user("alice").search().total == 1


@pytest.mark.parametrize(
    "bad, problem",
    [
        ({"fileName": 3}, "line 3: fileName"),
        ({"filePath": "../../etc/passwd"}, "line 3: filePath"),
        ({"$where": "1"}, "line 3: \\$where"),
        ({"metadata": {"a": {"$gt": 1}}}, "line 3: metadata.a.\\$gt"),
    ],
)
def test_an_invalid_line_in_the_middle_writes_nothing(
    admin_session: Session, tmp_path: Path, bad: dict, problem: str
) -> None:
    keep = admin_session.insert(JwstDataModel(file_name="kept_cal.fits", data_type="image"))
    before = _raw(admin_session)
    ids = [ObjectId() for _ in range(5)]
    docs = [_record(i) for i in ids]
    docs[2] = {**docs[2], **bad}
    path = tmp_path / "broken.jsonl"
    path.write_text(_lines(*docs))
    with pytest.raises(ValidationError, match=problem):
        backup.restore(admin_session, path.as_uri())
    assert _raw(admin_session) == before  # lines 1-2 were not written either
    assert admin_session.get(keep).file_name == "kept_cal.fits"
    names = admin_session.client[admin_session.database_name].list_collection_names()
    # no staging collection left behind (the writers' summary may sit beside the records)
    assert sorted(set(names) - {"jwst_summary"}) == [admin_session.collection_name]


def test_duplicate_ids_are_refused_with_both_line_numbers(
    admin_session: Session, tmp_path: Path
) -> None:
    oid = ObjectId()
    path = tmp_path / "dup.jsonl"
    path.write_text(_lines(_record(oid), _record(ObjectId()), _record(oid, description="again")))
    with pytest.raises(ValidationError, match=r"line 3: _id: .* already on line 1"):
        backup.restore(admin_session, path.as_uri())
    assert admin_session.collection.count_documents({}) == 0


def test_a_valid_file_restores_exactly_and_keeps_other_records(
    admin_session: Session, tmp_path: Path
) -> None:
    other = admin_session.insert(JwstDataModel(file_name="other_cal.fits", data_type="image"))
    replaced = ObjectId()
    admin_session.insert(JwstDataModel(id=replaced, file_name="old_cal.fits", data_type="image"))
    path = tmp_path / "ok.jsonl"
    path.write_text(_lines(_record(replaced, description="new"), _record(ObjectId())))
    assert backup.restore(admin_session, path.as_uri()) == 2
    assert admin_session.collection.count_documents({}) == 3
    assert admin_session.get(str(replaced)).description == "new"
    assert admin_session.get(other).file_name == "other_cal.fits"
    # The swapped-in collection keeps the validator and every index.
    names = {ix["name"] for ix in admin_session.collection.list_indexes()}
    assert {s.name for s in admin_session.planner.indexes} <= names
    assert {"keywords_1", "readers_1", "userId_1_filePath_1"} <= names
    with pytest.raises(WriteError, match=r"(?i)validation"):
        admin_session.collection.insert_one({"fileName": 5})


def test_export_creates_no_folders(admin_session: Session, tmp_path: Path) -> None:
    from jwstnb.errors import StorageNotConfigured

    target = tmp_path / "missing" / "deeper" / "x.jsonl"
    with pytest.raises(StorageNotConfigured, match="does not exist"):
        backup.export(admin_session, target.as_uri())
    assert not (tmp_path / "missing").exists()
