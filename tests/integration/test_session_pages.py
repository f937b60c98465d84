"""Pages before counts, the validator on storage keys, bad stored records, tables."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo.errors import WriteError

from jwstnb.criteria import FACETS, Criteria
from jwstnb.errors import QueryTimeout
from jwstnb.schema import ImageMetadata, JwstDataModel, utc_now
from jwstnb.session import Session
from jwstnb.session.planners.pipelines import page_pipeline

pytestmark = pytest.mark.integration


def _many(
    session: Session, n: int, *, start: datetime, step: timedelta, folder: str = "bulk"
) -> None:
    docs = []
    for i in range(n):
        model = JwstDataModel(
            file_name=f"jw0{1000 + i % 7}001001_02101_{i:05d}_nrca1_cal.fits",
            file_path=f"{folder}/{i:05d}_cal.fits",
            data_type="image" if i % 3 else "sensor",
            processing_level="L2b",
            is_public=bool(i % 2),
            user_id=None if i % 2 else "alice",
            upload_date=start - step * i,
            image_info=ImageMetadata(instrument="NIRCAM", target_name=f"T{i % 5}"),
        )
        docs.append(session.document(model))
    session.collection.insert_many(docs)
    session.recount()  # written around jwstnb: the counts summary counts again


@pytest.mark.parametrize("role", ["anonymous", "user", "admin"])
def test_windowed_pages_equal_the_full_sort(admin_session: Session, role: str) -> None:
    """Recent-first windows (SecantusDB) give exactly the unbounded query's pages."""
    now = utc_now()
    _many(admin_session, 300, start=now + timedelta(seconds=5), step=timedelta(seconds=0.7))
    _many(admin_session, 50, start=now - timedelta(days=400), step=timedelta(days=3), folder="old")
    s = {"anonymous": admin_session.anonymous(), "user": admin_session.as_user("alice"),
         "admin": admin_session}[role]
    for criteria in ({}, {"data_type": "image"}, {"page": 3, "page_size": 50},
                     {"page": 7, "page_size": 50}, {"instrument": "nircam", "page_size": 7}):
        got = [str(r.id) for r in s.items(**criteria)]
        pipeline, _plan = page_pipeline(Criteria(**criteria), s.scope)
        want = [str(d["_id"]) for d in admin_session.collection.aggregate(pipeline)]
        assert got == want, criteria
        page = s.search(**criteria)
        assert [str(r.id) for r in page.items] == want
        assert page.total == s.count(**{k: v for k, v in criteria.items() if "page" not in k})


def test_a_word_matching_many_recent_uploads_reads_windows_a_rare_one_its_index(
    admin_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SecantusDB: a selective lead (a word, a target) reads small windows of recent uploads
    first (once the session knows the upload rate) and its own index when they do not hold
    the page; either way the page is exactly the unbounded query's."""
    secantus = admin_session.planner.name == "secantus"
    now = utc_now()
    _many(admin_session, 300, start=now, step=timedelta(seconds=3))
    _many(admin_session, 40, start=now - timedelta(days=300), step=timedelta(days=1),
          folder="old")
    s = admin_session.anonymous()
    real = Session._run
    windows: list[object] = []

    def spy(self: Session, read, *, max_time_ms=None):  # type: ignore[no-untyped-def]
        if "uploadDate" in read.pipeline[0]["$match"]:
            windows.append(read.pipeline[0]["$match"]["uploadDate"])
        return real(self, read, max_time_ms=max_time_ms)

    monkeypatch.setattr(Session, "_run", spy)
    s.items()  # the unfiltered first page: where the uploads are, and how fast they come
    if secantus:
        # every other record is public: 1 readable upload per 6 s
        assert admin_session.planner.upload_rate == pytest.approx(1 / 6, rel=0.01)
    for criteria in ({"text": "nrca1"}, {"target_name": "T1"},
                     {"text": "nrca1", "page": 5, "page_size": 20}, {"text": "00007"},
                     {"text": "00291"}):
        windows.clear()
        got = [str(r.id) for r in s.items(**criteria)]
        pipeline, _plan = page_pipeline(Criteria(**criteria), s.scope)
        want = [str(d["_id"]) for d in admin_session.collection.aggregate(pipeline)]
        assert got == want and want, criteria
        if not secantus:  # a real MongoDB stops an index-sorted read at the limit
            assert windows == [], criteria
        else:  # a few small windows, then (rare words, deep pages) the lead's own index
            assert len(windows) <= 6, (criteria, windows)
            if criteria == {"text": "nrca1"}:  # every readable record: a small window holds it
                assert windows, criteria
    if secantus:  # a sparse broad page (a short word and a rare target) keeps the rate
        assert len(s.items(text="cal", target_name="T1")) == 20
        assert admin_session.planner.upload_rate == pytest.approx(1 / 6, rel=0.01)


def test_writes_note_the_newest_upload(admin_session: Session) -> None:
    """Every insert path raises the noted newest upload (a hint readers start from)."""
    from jwstnb.session.summary import newest_upload

    coll = admin_session.collection
    assert newest_upload(coll) is None
    when = datetime(2023, 5, 1, tzinfo=UTC)

    def model(i: int, at: datetime) -> JwstDataModel:
        return JwstDataModel(file_name=f"n{i}_cal.fits", file_path=f"noted/n{i}_cal.fits",
                             data_type="image", upload_date=at)

    admin_session.insert_new([model(1, when), model(2, when - timedelta(days=9))])
    assert newest_upload(coll) == when
    admin_session.insert(model(3, when + timedelta(hours=1)))
    assert newest_upload(coll) == when + timedelta(hours=1)
    admin_session.insert(model(4, when - timedelta(days=30)))  # older: the note stays
    assert newest_upload(coll) == when + timedelta(hours=1)
    admin_session.upsert(model(5, when + timedelta(hours=2)))
    assert newest_upload(coll) == when + timedelta(hours=2)
    stored = list(coll.find({}))
    coll.database.drop_collection("jwst_summary")
    admin_session.restore_documents(list(enumerate(stored, start=1)))
    assert newest_upload(coll) == when + timedelta(hours=2)


@pytest.mark.parametrize("role", ["anonymous", "user", "admin"])
def test_a_fresh_kernels_first_page_starts_from_the_newest_upload(
    admin_session: Session, mongo_uri: str, db_name: str, role: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records uploaded long ago: a new connection's first broad page reads small windows
    back from the newest noted upload (SecantusDB), never the whole collection, and equals
    the unbounded query's page; told nothing, it reads back from now as before."""
    from jwstnb.session import connect

    long_ago = utc_now() - timedelta(days=200)
    models = [
        JwstDataModel(
            file_name=f"jw01000001001_02101_{i:05d}_nrca1_cal.fits",
            file_path=f"old/{i:05d}_cal.fits", data_type="image", processing_level="L2b",
            is_public=bool(i % 2), user_id=None if i % 2 else "alice",
            upload_date=long_ago - timedelta(seconds=2 * i),
        )
        for i in range(400)
    ]
    admin_session.insert_new(models)
    real = Session._run
    reads: list[dict[str, object]] = []

    def spy(self: Session, read, *, max_time_ms=None):  # type: ignore[no-untyped-def]
        reads.append(read.pipeline[0]["$match"])
        return real(self, read, max_time_ms=max_time_ms)

    monkeypatch.setattr(Session, "_run", spy)
    for told in (True, False):
        fresh = connect(mongo_uri, admin=True, database=db_name, timeout=10)
        try:
            if not told:
                fresh.planner.start_from(None)
            s = {"anonymous": fresh.anonymous(), "user": fresh.as_user("alice"),
                 "admin": fresh}[role]
            reads.clear()
            got = [str(r.id) for r in s.items()]
            pipeline, _plan = page_pipeline(Criteria(), s.scope)
            want = [str(d["_id"]) for d in admin_session.collection.aggregate(pipeline)]
            assert got == want and len(want) == 20
            if fresh.planner.name != "secantus":
                assert len(reads) == 1  # a real MongoDB walks the sort index to the limit
                continue
            bounds = [m.get("uploadDate") for m in reads]
            if told:
                assert fresh.planner.newest_upload == long_ago
                # small windows back from the newest upload, none of them the whole table
                assert all(isinstance(b, dict) and "$gte" in b for b in bounds), bounds
                assert all(b["$gte"] >= long_ago - timedelta(hours=2) for b in bounds), bounds
            else:  # from now: windows until one holds the page, 200 days back
                assert bounds[-1] is None or bounds[-1]["$gte"] < long_ago - timedelta(days=1)
        finally:
            fresh.close()


def test_counts_are_separate_and_can_be_stopped(admin_session: Session) -> None:
    _many(admin_session, 120, start=utc_now(), step=timedelta(seconds=1))
    counts = admin_session.counts(data_type="image")
    assert counts.total == 80
    assert set(counts.facets) == set(FACETS)
    assert counts.facets["data_type"] == {"image": 80}
    assert sum(counts.facets["program"].values()) == 80
    assert set(counts.facets["program"]) == {f"0{1000 + i}" for i in range(7)}
    with pytest.raises(QueryTimeout):
        for _ in range(20):  # a 1 ms budget cannot count 120 records every time
            admin_session.counts(max_time_ms=1, processing_level=["L2b", "L3"])
    # A broad view's counts come from the summary: no count to stop.
    for _ in range(5):
        assert admin_session.counts(max_time_ms=1).total == 120


def test_the_server_refuses_bad_storage_keys_written_around_jwstnb(
    admin_session: Session,
) -> None:
    good = admin_session.document(JwstDataModel(file_name="a_cal.fits", data_type="image",
                                                file_path="mast/x/a_cal.fits"))
    admin_session.collection.insert_one(good)
    for key in ["../../etc/passwd", "/abs/path.fits", "s3://bucket/x.fits", "a//b.fits",
                "a/%2e%2e/b", "a\\b.fits", "x\u2024\u2024/y.fits", "a/\x00"]:
        bad = {**good, "_id": ObjectId(), "filePath": key}
        with pytest.raises(WriteError) as info:
            admin_session.collection.insert_one(bad)
        assert info.value.code == 121, key


def test_a_record_that_fails_validation_never_breaks_a_search(admin_session: Session) -> None:
    ok = admin_session.insert(JwstDataModel(file_name="ok_cal.fits", data_type="image",
                                            is_public=True))
    bad = admin_session.document(JwstDataModel(file_name="bad_cal.fits", data_type="image",
                                               is_public=True))
    bad["processingLevel"] = "L9"  # written by hand, around the validator
    bad_id = admin_session.collection.insert_one(bad, bypass_document_validation=True).inserted_id
    admin_session.recount()  # written around jwstnb: the counts summary counts again
    with pytest.warns(UserWarning, match=str(bad_id)):
        page = admin_session.anonymous().search()
    assert [str(r.id) for r in page.items] == [ok]
    assert page.skipped == [str(bad_id)]
    assert page.total == 2  # the count is the server's; the page says what it left out


def test_page_to_table_has_units_and_coordinates(admin_session: Session) -> None:
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    for i in range(3):
        admin_session.insert(JwstDataModel(
            file_name=f"f{i}_i2d.fits", data_type="image", file_size=1000 * (i + 1),
            image_info=ImageMetadata(ra=151.75 + i * 0.01, dec=-40.43, exposure_time=10.0,
                                     target_name="NGC 3132"),
            upload_date=datetime(2024, 1, 1 + i, tzinfo=UTC),
        ))
    page = admin_session.search(sort="fileName", descending=False)
    table = page.to_table()
    assert list(table["file_name"]) == ["f0_i2d.fits", "f1_i2d.fits", "f2_i2d.fits"]
    assert table["exposure_time"].unit == u.s and table["file_size"].unit == u.byte
    assert isinstance(table["coord"], SkyCoord)
    assert abs(table["coord"][1].ra.deg - 151.76) < 1e-9
    assert list(table["id"]) == [str(r.id) for r in page.items]
    frame = page.to_pandas()
    assert list(frame["file_name"]) == list(table["file_name"])
    assert len(admin_session.table(batch=2)) == 3
    assert len(admin_session.table(limit=2, batch=2)) == 2


@pytest.mark.parametrize("role", ["anonymous", "user", "admin"])
def test_no_page_plan_sorts_in_memory(admin_session: Session, role: str) -> None:
    """The page query never has a blocking SORT stage and never sits inside $facet."""
    _many(admin_session, 30, start=utc_now(), step=timedelta(seconds=1))
    s = {"anonymous": admin_session.anonymous(), "user": admin_session.as_user("alice"),
         "admin": admin_session}[role]
    for shape in ({}, {"data_type": "image"}, {"sort": "fileName", "descending": False},
                  {"sort": "fileSize"}, {"instrument": "nircam", "sort": "observationDate"}):
        plan = s.explain("search", **shape)
        assert "SORT" not in plan["stages"] and "COLLSCAN" not in plan["stages"], shape
        assert "$facet" not in repr(plan["pipeline"])


def test_the_embedded_size_warning_names_the_numbers(
    admin_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jwstnb.session import bulk as session_module

    _many(admin_session, 12, start=utc_now(), step=timedelta(seconds=1))
    monkeypatch.setattr(session_module, "EMBEDDED_INTERACTIVE_LIMIT", 10)
    monkeypatch.setattr(session_module, "_WARNED_SIZE", False)
    with pytest.warns(session_module.ScaleWarning, match="holds 12 records; past 10"):
        admin_session._warn_if_large()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        admin_session._warn_if_large()  # once per process
