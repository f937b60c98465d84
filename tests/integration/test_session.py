"""The session against a real server (SecantusDB subprocess or JWSTNB_TEST_MONGO_URI)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

import jwstnb
from jwstnb.config import DevCredentialsWarning
from jwstnb.errors import (
    AccessDenied,
    ConnectionFailed,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from jwstnb.schema import ImageMetadata, JwstDataModel, ProcessingResult
from jwstnb.session import Session
from jwstnb.session.planners.indexes import INDEXES

pytestmark = pytest.mark.integration

OBS = "jw02733-o001_t001_nircam"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def record(name: str, **fields: Any) -> JwstDataModel:
    info = fields.pop("info", {})
    defaults: dict[str, Any] = {
        "file_name": name,
        "file_path": f"mast/{OBS}/{name}",
        "data_type": "image",
        "processing_level": "L3",
        "observation_base_id": OBS,
        "image_info": ImageMetadata(
            target_name=info.get("target", "NGC 3132"),
            instrument=info.get("instrument", "NIRCAM"),
            filter=info.get("filter", "F090W"),
        ),
    }
    defaults.update(fields)
    return JwstDataModel(**defaults)


@pytest.fixture
def seeded(admin_session: Session) -> dict[str, str]:
    """A small varied collection: imports (public), alice's private and shared records."""
    s = admin_session
    ids = {}
    ids["i2d"] = s.insert(
        record("jw02733-o001_t001_nircam_clear-f090w_i2d.fits", is_public=True, upload_date=T0)
    )
    ids["cat"] = s.insert(
        record(
            "jw02733-o001_t001_nircam_clear-f090w_cat.ecsv",
            is_public=True,
            data_type="metadata",
            file_format="ecsv",
            is_viewable=False,
            upload_date=T0 + timedelta(days=1),
        )
    )
    ids["miri"] = s.insert(
        record(
            "jw01234-o002_t003_miri_f770w_i2d.fits",
            is_public=True,
            observation_base_id="jw01234-o002_t003_miri",
            info={"target": "M16", "instrument": "MIRI", "filter": "F770W"},
            upload_date=T0 + timedelta(days=2),
        )
    )
    alice = s.as_user("alice")
    ids["alice"] = alice.insert(
        record(
            "alice_notes_cal.fits",
            processing_level="L2b",
            tags=["mine", "draft"],
            description="Pillars of creation",
            info={"target": "M16"},
            upload_date=T0 + timedelta(days=3),
        )
    )
    ids["shared"] = alice.insert(
        record(
            "alice_shared_rate.fits",
            data_type="sensor",
            processing_level="L2a",
            shared_with=["bob"],
            upload_date=T0 + timedelta(days=4),
        )
    )
    return ids


# --- connect -----------------------------------------------------------------------------------


def test_connect_sets_up_validator_and_indexes(admin_session: Session, mongo_uri: str) -> None:
    db = admin_session.client[admin_session.database_name]
    options = db.list_collections(filter={"name": admin_session.collection_name}).next()["options"]
    required = options["validator"]["$jsonSchema"]["required"]
    assert {"fileName", "dataType", "keywords", "readers"} <= set(required)
    names = {ix["name"] for ix in admin_session.collection.list_indexes()}
    # The engine's own index set: on SecantusDB only what its plans use (every index costs
    # every write); a real MongoDB keeps the whole catalogue.
    wanted = {spec.name for spec in admin_session.planner.indexes}
    assert wanted <= names and not ({spec.name for spec in INDEXES} - wanted) & names
    if admin_session.planner.name == "mongodb":
        assert wanted == {spec.name for spec in INDEXES}
    else:
        assert "skyRegion_2dsphere" not in wanted and len(wanted) < len(INDEXES)
    unique = next(
        ix for ix in admin_session.collection.list_indexes() if ix["name"] == "userId_1_filePath_1"
    )
    assert unique["unique"] is True
    # Connecting again (another kernel) is idempotent.
    with jwstnb.connect(mongo_uri, admin=True, database=admin_session.database_name) as again:
        assert again.search().total == 0


def test_indexes_the_planner_does_not_declare_are_dropped(admin_session: Session) -> None:
    """A collection left with catalogue indexes this engine does not plan with (an earlier
    version built them all) sheds them on the next setup; an index made by hand stays."""
    from pymongo import IndexModel

    extra = [s for s in INDEXES if s not in admin_session.planner.indexes]
    coll = admin_session.collection
    coll.create_index([("description", 1)], name="by_hand")
    if extra:
        coll.create_indexes([IndexModel(list(s.keys), name=s.name) for s in extra])
    admin_session.ensure_indexes()
    names = {ix["name"] for ix in coll.list_indexes()}
    assert "by_hand" in names and not {s.name for s in extra} & names
    assert {s.name for s in admin_session.planner.indexes} <= names


def test_indexes_a_stored_collection_lacks_build_in_the_background(
    mongo_uri: str, db_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """connect() to a collection that holds records but lacks indexes (an upgrade, a restore
    by hand) builds the unique index before it returns and the rest on a thread: the session
    answers and takes writes meanwhile, and once the build ends every index is there and
    reads send hints again. A new collection gets every index before connect returns."""
    from jwstnb.session import bulk

    with jwstnb.connect(mongo_uri, admin=True, database=db_name) as s:
        ids = {s.insert(record(f"jw0273300100{i}_02101_00001_nrca1_cal.fits",
                               is_public=True)) for i in range(5)}
        declared = {spec.name for spec in s.planner.indexes}
        for name in declared:
            s.collection.drop_index(name)
    release = threading.Event()
    real = bulk.Bulk._build_indexes

    def held(self: bulk.Bulk, specs: Any) -> list[str]:
        if any(not spec.options.get("unique") for spec in specs):
            assert release.wait(60)  # the test decides when the background build may run
        return real(self, specs)

    monkeypatch.setattr(bulk.Bulk, "_build_indexes", held)
    with jwstnb.connect(mongo_uri, admin=True, database=db_name) as s:
        build = s.index_build
        assert build is not None and not build.done and "building" in repr(build)
        names = {ix["name"] for ix in s.collection.list_indexes()}
        unique = {spec.name for spec in s.planner.indexes if spec.options.get("unique")}
        assert unique <= names and not set(build.names) & names
        assert set(build.names) == declared - unique
        late = s.insert(record("jw02733001009_02101_00001_nrca1_cal.fits", is_public=True))
        ids.add(late)
        assert {str(r.id) for r in s.items()} == ids
        assert [str(r.id) for r in s.items(text="jw02733001009")] == [late]
        assert s.count(processing_level="L3") == 6
        release.set()
        assert build.wait(60) and build.done and build.error is None
        assert set(build.built) == set(build.names) and "built" in repr(build)
        assert declared <= {ix["name"] for ix in s.collection.list_indexes()}
        assert s.planner.hints_work
        assert {str(r.id) for r in s.items()} == ids

    monkeypatch.setattr(bulk.Bulk, "_build_indexes", real)
    with jwstnb.connect(mongo_uri, admin=True, database=f"{db_name}_new") as s:
        try:
            assert s.index_build is None
            assert declared <= {ix["name"] for ix in s.collection.list_indexes()}
        finally:
            s.client.drop_database(f"{db_name}_new")


def test_collmod_puts_the_validator_on_an_existing_collection(mongo_uri: str, db_name: str) -> None:
    from pymongo import MongoClient

    raw: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    raw[db_name].create_collection("legacy")
    raw[db_name]["legacy"].insert_one({"fileName": "old.fits", "dataType": "image"})
    with jwstnb.connect(mongo_uri, admin=True, database=db_name, collection="legacy") as s:
        with pytest.raises(Exception) as info:
            raw[db_name]["legacy"].insert_one({"fileName": 5})
        assert getattr(info.value, "code", None) == 121
        assert s.collection.count_documents({}) == 1
    raw.close()


def test_bypassing_write_with_invalid_document_is_rejected_by_the_server(
    admin_session: Session,
) -> None:
    from pymongo.errors import WriteError

    coll = admin_session.collection
    good = admin_session.document(record("ok.fits"))
    coll.insert_one(dict(good))
    bad_docs = [
        {**good, "_id": ObjectId(), "dataType": "movie"},
        {**good, "_id": ObjectId(), "fileName": 12},
        {**good, "_id": ObjectId(), "processingStatus": "done"},
        {**good, "_id": ObjectId(), "fileSize": -1},
        {k: v for k, v in good.items() if k != "readers"},
    ]
    for doc in bad_docs:
        with pytest.raises(WriteError) as info:
            coll.insert_one(doc)
        assert info.value.code == 121
    assert coll.count_documents({}) == 1


def test_unreachable_server_fails_fast_naming_the_host_not_the_password() -> None:
    start = time.monotonic()
    with pytest.raises(ConnectionFailed) as info:
        jwstnb.connect("mongodb://bob:Sup3rS3cret@127.0.0.1:9/?directConnection=true", timeout=1)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "127.0.0.1:9" in message
    assert "Sup3rS3cret" not in message and "Sup3rS3cret" not in repr(info.value)
    assert "running" in message  # says what to check
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_dev_credentials_warn(recwarn: pytest.WarningsRecorder) -> None:
    with pytest.warns(DevCredentialsWarning), pytest.raises(ConnectionFailed):
        jwstnb.connect("mongodb://admin:password@127.0.0.1:9/?directConnection=true", timeout=0.5)


def test_env_uri_is_used_and_anonymous_by_default(
    mongo_uri: str, db_name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("JWSTNB_MONGO_URI", mongo_uri)
    with jwstnb.connect(database=db_name) as s:
        assert s.role == "anonymous"
        assert s.database_name == db_name and s.collection_name == "jwst_data"
        with pytest.raises(AccessDenied):
            _ = s.collection
        with pytest.raises(AccessDenied):
            s.insert(record("x.fits"))
    with jwstnb.connect(database=db_name, user="carol") as s:
        assert (s.role, s.user) == ("user", "carol")
        assert s.get(s.insert(record("x.fits"))).user_id == "carol"


def test_uri_file_and_config_file_reach_the_server(
    mongo_uri: str, db_name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("JWSTNB_MONGO_URI", raising=False)
    secret = tmp_path / "uri"
    secret.write_text(mongo_uri + "\n")
    monkeypatch.setenv("JWSTNB_MONGO_URI_FILE", str(secret))
    with jwstnb.connect(database=db_name, admin=True) as s:
        s.insert(record("via_file.fits"))
    monkeypatch.delenv("JWSTNB_MONGO_URI_FILE")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[mongo]\nuri = "{mongo_uri}"\ndatabase = "{db_name}"\n')
    monkeypatch.setenv("JWSTNB_CONFIG", str(cfg))
    with jwstnb.connect() as s:
        assert s.role == "anonymous" and s.database_name == db_name
        assert s.as_admin().count() == 1


def test_views_share_the_client_and_close_with_the_last(admin_session: Session) -> None:
    alice = admin_session.as_user("alice")
    anon = alice.anonymous()
    assert alice.client is admin_session.client is anon.client
    assert alice.as_admin().role == "admin"
    alice.close()
    anon.close()
    assert admin_session.search().total == 0  # still open
    with pytest.raises(ValidationError):
        admin_session.as_user({"$ne": None})  # type: ignore[arg-type]


# --- CRUD --------------------------------------------------------------------------------------


def test_insert_get_update_delete(make_session: Callable[..., Session]) -> None:
    alice = make_session("alice")
    rid = alice.insert(record("a_cal.fits", tags=["x"]))
    got = alice.get(rid)
    assert got.user_id == "alice" and got.is_public is False and got.tags == ["x"]
    assert str(got.id) == rid
    updated = alice.update(rid, description="new words", tags=["y", "z"], isPublic=True)
    assert (updated.description, updated.tags, updated.is_public) == ("new words", ["y", "z"], True)
    assert alice.search(text="words").total == 1
    assert make_session("anonymous").get(rid).is_public
    with pytest.raises(ValidationError):
        alice.update(rid, processing_status="completed")
    with pytest.raises(ValidationError):
        alice.update(rid, no_such_field=1)
    with pytest.raises(ValidationError):
        alice.update(rid, file_size=-5)
    with pytest.raises(AccessDenied):
        alice.update(rid, user_id="mallory")
    with pytest.raises(AccessDenied):
        alice.insert(record("b.fits", user_id="bob"))
    alice.delete(rid)
    with pytest.raises(NotFound):
        alice.get(rid)
    with pytest.raises(NotFound):
        alice.delete(rid)
    for bad in ["nope", {"$gt": ""}, 12, None]:
        with pytest.raises(NotFound):
            alice.get(bad)  # type: ignore[arg-type]


def test_duplicate_owner_and_path_is_a_validation_error(admin_session: Session) -> None:
    admin_session.insert(record("dup.fits"))
    with pytest.raises(ValidationError, match="already exists"):
        admin_session.insert(record("dup.fits"))


def test_upsert_is_idempotent_and_keeps_what_people_manage(admin_session: Session) -> None:
    rid, created = admin_session.upsert(record("u_i2d.fits", file_size=1, is_public=True))
    assert created
    admin_session.update(rid, tags=["keep"], description="kept")
    admin_session.set_status(rid, "processing")
    again, created = admin_session.upsert(record("u_i2d.fits", file_size=2, tags=[]))
    assert (again, created) == (rid, False)
    got = admin_session.get(rid)
    assert got.file_size == 2 and got.tags == ["keep"] and got.description == "kept"
    assert got.processing_status == "processing" and got.is_public
    assert admin_session.count() == 1


def test_derived_fields_follow_every_write(admin_session: Session) -> None:
    coll = admin_session.collection
    alice = admin_session.as_user("alice")
    rid = alice.insert(record("d_cal.fits"))
    doc = coll.find_one({"_id": ObjectId(rid)})
    assert doc["readers"] == ["user:alice"]
    alice.share(rid, "bob", "carol")
    assert coll.find_one({"_id": ObjectId(rid)})["readers"] == [
        "user:alice",
        "user:bob",
        "user:carol",
    ]
    alice.update(rid, is_public=True, image_info={"target_name": "Carina Nebula"})
    doc = coll.find_one({"_id": ObjectId(rid)})
    assert doc["readers"][0] == "public"
    assert {"carina", "nebula", "carinanebula"} <= set(doc["keywords"])
    assert "ngc" not in doc["keywords"]
    alice.bulk_tags([rid], add=["Deep Field"])
    assert {"deep", "field"} <= set(coll.find_one({"_id": ObjectId(rid)})["keywords"])


# --- search ------------------------------------------------------------------------------------


def test_search_text_filters_facets_and_paging(
    seeded: dict[str, str], admin_session: Session
) -> None:
    alice = admin_session.as_user("alice")
    page = alice.search(text="NGC 313")
    assert page.total == 3  # two public imports + alice's shared record (target NGC 3132)
    assert page.facets["target_name"] == {"NGC 3132": 3}
    page = alice.search(text="ngc3132", data_type="image")
    assert {r.file_name for r in page.items} == {"jw02733-o001_t001_nircam_clear-f090w_i2d.fits"}
    page = alice.search(instrument="miri")
    assert [r.file_name for r in page.items] == ["jw01234-o002_t003_miri_f770w_i2d.fits"]
    page = alice.search(target_name="M16")
    assert page.total == 2 and page.facets["instrument"] == {"MIRI": 1, "NIRCAM": 1}
    page = alice.search(tags=["mine", "draft"])
    assert [str(r.id) for r in page.items] == [seeded["alice"]]
    assert alice.search(tags=["mine", "other"]).total == 0
    assert alice.search(processing_level=["L2a", "L2b"]).total == 2
    assert alice.search(status="pending").total == 5
    assert alice.search(is_public=False).total == 2
    assert alice.search(observation_base_id="jw01234-o002_t003_miri").total == 1
    assert alice.search(date_from=T0 + timedelta(days=1), date_to=T0 + timedelta(days=3)).total == 3
    assert alice.search(text="pillars creat").total == 1
    assert alice.search(text="%%% ???").total == 5  # no words: everything readable
    # Sort and page.
    page = alice.search(page=1, page_size=2, sort="uploadDate", descending=True)
    assert (page.total, page.pages, len(page.items)) == (5, 3, 2)
    assert [str(r.id) for r in page.items] == [seeded["shared"], seeded["alice"]]
    last = alice.search(page=3, page_size=2)
    assert [str(r.id) for r in last.items] == [seeded["i2d"]]
    names = [r.file_name for r in alice.search(sort="file_name", descending=False).items]
    assert names == sorted(names)
    assert alice.search(page=9).items == [] and alice.search(page=9).total == 5
    # Facets count the whole result, not the page.
    page = alice.search(page_size=1)
    assert sum(page.facets["data_type"].values()) == 5
    assert page.facets["data_type"] == {"image": 3, "metadata": 1, "sensor": 1}
    assert alice.count(data_type="image") == 3


def test_archived_records_are_hidden_from_search_by_default(
    seeded: dict[str, str], admin_session: Session
) -> None:
    alice = admin_session.as_user("alice")
    alice.archive(seeded["alice"])
    assert seeded["alice"] not in {str(r.id) for r in alice.search().items}
    assert alice.search().total == 4
    assert alice.search(include_archived=True).total == 5
    assert alice.get(seeded["alice"]).archived
    alice.unarchive(seeded["alice"])
    assert alice.search().total == 5
    with pytest.raises(AccessDenied):
        admin_session.as_user("bob").archive(seeded["shared"])


def test_statistics_observations_and_lineage(
    seeded: dict[str, str], admin_session: Session
) -> None:
    stats = admin_session.as_user("bob").statistics()
    assert stats["total"] == 4  # 3 public + shared with bob
    assert stats["public"] == 3 and stats["observations"] == 2
    assert stats["data_type"] == {"image": 2, "metadata": 1, "sensor": 1}
    assert stats["first_upload"] == T0
    assert admin_session.statistics()["total"] == 5
    assert admin_session.anonymous().observations() == ["jw01234-o002_t003_miri", OBS]
    tree = admin_session.as_user("bob").lineage(OBS)
    assert len(tree) == 3  # i2d, cat, shared rate; not alice's private cal
    assert seeded["alice"] not in tree
    assert len(admin_session.lineage(OBS)) == 4
    with pytest.raises(NotFound):
        admin_session.lineage("jw09999-o001_t001_nircam")


def test_statistics_of_an_empty_collection(admin_session: Session) -> None:
    stats = admin_session.statistics()
    assert stats["total"] == 0 and stats["data_type"] == {} and stats["observations"] == 0


# --- status, results, tags, sharing ------------------------------------------------------------


def test_status_transitions(admin_session: Session) -> None:
    rid = admin_session.insert(record("s.fits"))
    s = admin_session
    with pytest.raises(InvalidTransition):
        s.set_status(rid, "completed")  # pending -> completed skips processing
    assert s.set_status(rid, "processing").processing_status == "processing"
    with pytest.raises(InvalidTransition):
        s.set_status(rid, "processing")
    assert s.set_status(rid, "failed").processing_status == "failed"
    assert s.set_status(rid, "pending").processing_status == "pending"
    s.set_status(rid, "processing")
    assert s.set_status(rid, "completed").processing_status == "completed"
    with pytest.raises(InvalidTransition):
        s.set_status(rid, "failed")
    assert s.set_status(rid, "pending").processing_status == "pending"
    with pytest.raises(ValidationError):
        s.set_status(rid, "done")
    with pytest.raises(NotFound):
        s.set_status(str(ObjectId()), "processing")


def _race(session: Session, rid: str, workers: int) -> list[str]:
    """``workers`` threads claim the record at the same instant; returns their outcomes."""
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        barrier.wait()
        try:
            session.set_status(rid, "processing")
            result = "won"
        except InvalidTransition:
            result = "lost"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=claim) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_two_concurrent_claims_exactly_one_wins(admin_session: Session) -> None:
    for round_ in range(5):
        rid = admin_session.insert(record(f"race{round_}.fits"))
        assert sorted(_race(admin_session, rid, 8)) == ["lost"] * 7 + ["won"]
        assert admin_session.get(rid).processing_status == "processing"


def test_add_result_bulk_tags_and_share(seeded: dict[str, str], admin_session: Session) -> None:
    alice = admin_session.as_user("alice")
    result = ProcessingResult(
        algorithm="photometry", parameters={"aperture": 3}, results={"flux": 1.5}
    )
    rec = alice.add_result(seeded["alice"], result)
    assert [r.algorithm for r in rec.processing_results] == ["photometry"]
    assert (
        alice.add_result(seeded["alice"], {"algorithm": "psf"}).processing_results[1].algorithm
        == "psf"
    )
    with pytest.raises(ValidationError):
        alice.add_result(seeded["alice"], {"algorithm": ""})
    ids = list(seeded.values())
    changed = alice.bulk_tags(ids, add=["reviewed"], remove=["draft"])
    assert changed == 2  # only alice's own two records
    assert alice.get(seeded["alice"]).tags == ["mine", "reviewed"]
    assert "reviewed" not in admin_session.get(seeded["i2d"]).tags
    assert alice.bulk_tags(ids, add=["reviewed"]) == 0  # nothing left to change
    assert admin_session.bulk_tags(ids, add=["all"]) == 5
    with pytest.raises(ValidationError):
        alice.bulk_tags(["not-an-id"], add=["x"])
    with pytest.raises(AccessDenied):
        admin_session.anonymous().bulk_tags(ids, add=["x"])
    with pytest.raises(NotFound):
        admin_session.as_user("bob").get(seeded["alice"])
    alice.share(seeded["alice"], "bob")
    assert admin_session.as_user("bob").get(seeded["alice"]).shared_with == ["bob"]
    with pytest.raises(AccessDenied):
        admin_session.as_user("bob").share(seeded["alice"], "mallory")


# --- index use ---------------------------------------------------------------------------------

SHAPES: list[dict[str, Any]] = [
    {},
    {"include_archived": True},
    {"text": "ngc"},
    {"text": "ngc 3132 nircam"},
    {"data_type": "image"},
    {"processing_level": ["L2b", "L3"]},
    {"instrument": "NIRCAM"},
    {"filter": "F090W"},
    {"target_name": "NGC 3132"},
    {"status": "pending"},
    {"tags": ["mine", "draft"]},
    {"date_from": T0, "date_to": T0 + timedelta(days=2)},
    {"is_public": True},
    {"observation_base_id": OBS},
    {"text": "ngc", "data_type": "image", "processing_level": "L3"},
    {"text": "m16", "instrument": "MIRI", "filter": "F770W", "sort": "fileName"},
]


# Index-scan stage names: SecantusDB and classic mongod say IXSCAN; mongod may also answer a
# $group over the indexed field with DISTINCT_SCAN or a covered count with COUNT_SCAN.
INDEX_STAGES = {"IXSCAN", "DISTINCT_SCAN", "COUNT_SCAN", "EXPRESS_IXSCAN"}


def _assert_index_scan(plan: dict[str, Any], what: Any) -> None:
    assert INDEX_STAGES & set(plan["stages"]), (what, plan["stages"])
    assert "COLLSCAN" not in plan["stages"], (what, plan["stages"])
    assert plan["indexes"] == [plan["expected_index"]], (what, plan["indexes"])


@pytest.mark.parametrize("role", ["anonymous", "user", "admin"])
def test_every_search_shape_is_an_index_scan(
    seeded: dict[str, str], make_session: Callable[..., Session], role: str
) -> None:
    session = make_session(role, "alice") if role == "user" else make_session(role)
    for shape in SHAPES:
        for operation in ("search", "count"):
            _assert_index_scan(session.explain(operation, **shape), (operation, shape))
    for operation, arguments in [
        ("lineage", {"observation_base_id": OBS}),
        ("observations", {}),
        ("statistics", {}),
    ]:
        _assert_index_scan(session.explain(operation, **arguments), operation)


def test_searches_return_the_same_as_a_plain_scan(
    seeded: dict[str, str], admin_session: Session
) -> None:
    """The index-led plan finds exactly what a full scan with the same meaning finds."""
    coll = admin_session.collection
    alice = admin_session.as_user("alice")
    readable = {"$or": [{"isPublic": True}, {"userId": "alice"}, {"sharedWith": "alice"}]}
    expected = {
        str(d["_id"])
        for d in coll.find(
            {"$and": [readable, {"keywords": {"$regex": "^ngc"}}, {"dataType": "image"}]}
        )
    }
    got = {str(r.id) for r in alice.search(text="ngc", data_type="image").items}
    assert got == expected and got


# --- secrets ------------------------------------------------------------------------------------


def test_repr_and_logs_do_not_show_the_uri_password(
    admin_session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jwstnb")
    host, _port = admin_session.client.address
    with pytest.raises(ConnectionFailed) as info:
        jwstnb.connect(f"mongodb://u:Hidden-Pw@{host}:1/?directConnection=true", timeout=0.5)
    assert "Hidden-Pw" not in str(info.value)
    assert "Hidden-Pw" not in caplog.text
