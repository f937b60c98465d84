"""The counts summary (DESIGN §9) against a real server: every write path keeps it exact,
broad views read it, a recount finds and repairs what bypassed it, and concurrent writers,
shares, unshares, deletes and restores leave it equal to counting by query."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwstnb import backup
from jwstnb.errors import NotFound
from jwstnb.schema import ImageMetadata, JwstDataModel
from jwstnb.session import LineageChange, Session, connect, reads, summary
from jwstnb.session.results import Counts

pytestmark = pytest.mark.integration

OBS = "jw02733-o001_t001_nircam"


def record(name: str, *, public: bool = True, instrument: str = "NIRCAM",
           target: str = "NGC 3132", **fields: Any) -> JwstDataModel:
    return JwstDataModel(
        file_name=name,
        file_path=fields.pop("file_path", f"mast/{OBS}/{name}"),
        data_type="image",
        processing_level="L3",
        is_public=public,
        image_info=ImageMetadata(target_name=target, instrument=instrument, filter="F090W"),
        **fields,
    )


def by_query(view: Session, **criteria: Any) -> Counts:
    """The counts of ``view`` counted over the records (the summary set aside)."""
    saved = reads.summary_counts
    reads.summary_counts = lambda *a, **k: None  # type: ignore[assignment]
    try:
        return view.counts(**criteria)
    finally:
        reads.summary_counts = saved


VARIANTS: tuple[dict[str, Any], ...] = (
    {}, {"include_archived": True}, {"is_public": True}, {"is_public": False},
)


def assert_exact(admin: Session, users: tuple[str, ...] = ("alice", "bob", "carol")) -> None:
    """The summary is in use, and equals counting by query in every scope and variant."""
    assert admin.summary_state() == "exact"
    views = [admin, admin.anonymous(), *(admin.as_user(u) for u in users)]
    for view in views:
        for variant in VARIANTS:
            summed = summary.summary_counts(
                admin.collection, view.scope.readers,
                include_archived=variant.get("include_archived", False),
                is_public=variant.get("is_public"),
            )
            assert summed is not None
            counted = by_query(view, **variant)
            assert view.counts(**variant) == counted, (view.scope, variant)
            assert view.count(**variant) == counted.total
            assert view.search(**variant).total == counted.total


@pytest.fixture
def admin(admin_session: Session) -> Session:
    admin_session.add_to_group("lab", "bob")
    return admin_session


def test_every_write_path_keeps_the_summary_exact(admin: Session, tmp_path: Path) -> None:
    assert_exact(admin)
    i2d = admin.insert(record("jw02733-o001_t001_nircam_clear-f090w_i2d.fits"))
    miri = admin.insert(record("jw01234-o002_t003_miri_f770w_i2d.fits", instrument="MIRI",
                               target="M.16 $x%"))
    alice = admin.as_user("alice")
    mine = alice.insert(record("alice_a.fits", public=False, file_path="alice/a.fits"))
    assert_exact(admin)

    alice.share(mine, "carol")
    alice.share(mine, group="lab", role="editor")
    assert_exact(admin)
    alice.unshare(mine, "carol")
    assert_exact(admin)
    admin.as_user("bob").set_status(mine, "processing")  # an editor, through the group
    assert_exact(admin)

    admin.archive(miri)
    admin.archive(miri)  # already archived: nothing moves
    assert_exact(admin)
    admin.unarchive(miri)
    admin.set_status(i2d, "processing")
    admin.set_status(i2d, "failed")
    admin.set_status(i2d, "pending")
    assert_exact(admin)

    assert admin.claim(i2d, "w1", lease_seconds=0.01) is not None
    time.sleep(0.05)
    assert admin.release_expired() == 1
    assert admin.claim(i2d, "w2") is not None
    admin.finish(i2d, "w2", "completed")
    assert_exact(admin)

    admin.update(miri, image_info={"instrument": "NIRSPEC", "target_name": "Other"})
    admin.bulk_tags([i2d, miri], add=["deep"])
    assert_exact(admin)

    batch = [record(f"jw0{n}-o001_t001_nircam_clear-f090w_i2d.fits",
                    file_path=f"batch/{n}") for n in range(1000, 1006)]
    batch.append(record("again.fits", file_path=f"mast/{OBS}/jw02733-o001_t001_nircam_clear"
                        "-f090w_i2d.fits"))  # taken: that file is filed already
    done = admin.insert_new(batch)
    assert done.taken == [6]
    admin.upsert(record("jw02733-o001_t001_nircam_clear-f090w_i2d.fits", instrument="NIRISS"))
    admin.upsert(record("new_upsert.fits", file_path="upserts/new.fits"))
    assert_exact(admin)

    # Lineage that gives a record a program moves it between program facet values.
    loose = admin.insert(record("custom_product.fits", file_path="loose/custom.fits"))
    before = admin.collection.find_one({"_id": ObjectId(loose)})
    assert before is not None and before.get("program") is None
    assert admin.apply_lineage([LineageChange(before, {"observationBaseId": OBS})]) == 1
    assert admin.get(loose).model_dump()["observation_base_id"] == OBS
    assert admin.counts().facets["program"]["02733"] >= 2
    assert_exact(admin)

    held = backup.export(admin, str(tmp_path / "all.jsonl"))
    admin.delete(mine)
    admin.delete(miri)
    assert_exact(admin)
    assert backup.restore(admin, str(tmp_path / "all.jsonl")) > 0
    assert_exact(admin)
    assert admin.count(include_archived=True) == held


def test_finish_many_moves_exactly_the_records_it_finished(admin: Session) -> None:
    """A batch of results: records held by the worker end completed or failed with their
    result; one another worker holds, one never claimed and one whose claim was taken over
    are left as they are; the summary moves exactly the records that moved."""
    ids = [admin.insert(record(f"jw0{n}-o001_t001_nircam_clear-f090w_i2d.fits",
                               file_path=f"finish/{n}")) for n in range(2000, 2006)]
    for rid in ids[:3]:
        assert admin.claim(rid, "w1") is not None
    assert admin.claim(ids[4], "w2") is not None
    assert admin.claim(ids[3], "w1", lease_seconds=0.01) is not None
    time.sleep(0.05)
    assert admin.claim(ids[3], "w3") is not None  # w1's lease on it expired: taken over
    assert_exact(admin)

    def result(status: str) -> dict[str, Any]:
        return {"algorithm": "batched", "status": status, "results": {"n": 1}}

    finishes = [(ids[0], "completed", result("completed")),
                (ids[1], "failed", result("failed")),
                (ids[2], "completed", result("completed")),
                (ids[3], "completed", result("completed")),  # taken over by w3
                (ids[4], "completed", result("completed")),  # w2's
                (ids[5], "completed", result("completed"))]  # never claimed
    assert sorted(admin.finish_many("w1", finishes)) == sorted(ids[:3])
    statuses = [admin.get(rid).processing_status for rid in ids]
    assert [str(getattr(s, "value", s)) for s in statuses] == [
        "completed", "failed", "completed", "processing", "processing", "pending"]
    assert [len(admin.get(rid).processing_results) for rid in ids] == [1, 1, 1, 0, 0, 0]
    assert admin.get(ids[1]).processing_results[0].status == "failed"
    assert_exact(admin)
    # Finishing again finds nothing held: nothing moves, nothing is pushed twice.
    assert admin.finish_many("w1", finishes[:3]) == []
    assert [len(admin.get(rid).processing_results) for rid in ids[:3]] == [1, 1, 1]
    assert_exact(admin)


def test_a_recount_finds_what_bypassed_the_summary(admin: Session) -> None:
    """Broad views are read from the summary (a hand-made error shows in them); a recount
    lists the difference and repairs it; narrow views never used it."""
    for n in range(3):
        admin.insert(record(f"jw0{1000 + n}-o001_t001_nircam_clear-f090w_i2d.fits",
                            file_path=f"r/{n}"))
    assert admin.recount().differences == []
    # Raw pymongo writes bypass the session: the summary cannot know.
    admin.collection.delete_one({"filePath": "r/0"})
    assert admin.counts().total == 3  # the summary's (stale) answer: it is what broad views read
    assert admin.count(program="01001") == 1 and admin.count(instrument="NIRCAM") == 2
    found = admin.recount()
    assert found.total == 2 and found.was_exact
    assert any("total 3 -> 2" in line for line in found.differences)
    assert any("program '01000' 1 -> 0" in line for line in found.differences)
    assert admin.counts() == by_query(admin)
    assert admin.recount().differences == []


def test_a_write_under_way_or_cut_off_is_counted_by_query(
    admin: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin.insert(record("jw01000-o001_t001_nircam_clear-f090w_i2d.fits", file_path="a"))
    stale = summary.summary_counts  # a mark, as a writer leaves before its write lands
    with summary.keeping(admin.collection) as change:
        admin.collection.insert_one(admin.document(record("b.fits", file_path="b")))
        assert stale(admin.collection, None, include_archived=False, is_public=None) is None
        assert admin.counts().total == 2  # counted by query meanwhile
        assert admin.summary_state() == "1 write(s) under way"
        change.add(admin.collection.find_one({"filePath": "b"}) or {})
    assert admin.summary_state() == "exact" and admin.counts().total == 2
    # A writer cut off between its mark and its update: counted by query until a recount.
    admin.collection.database[summary.SUMMARY_COLLECTION].update_one(
        {"_id": f"records:{admin.collection_name}"},
        {"$set": {"pending.dead": summary._now() - timedelta(minutes=5)}},
    )
    admin.collection.delete_one({"filePath": "b"})
    assert "cut off" in admin.summary_state()
    assert admin.counts() == by_query(admin) and admin.counts().total == 1
    assert not admin.recount().was_exact
    assert admin.summary_state() == "exact" and admin.counts().total == 1


WRITER = textwrap.dedent("""
    import sys
    from jwstnb.schema import JwstDataModel
    from jwstnb.session import connect
    s = connect(sys.argv[1], admin=True, database=sys.argv[2], timeout=10)
    print("ready", flush=True)
    n = 0
    while True:
        rid = s.insert(JwstDataModel(file_name=f"k{n}.fits", file_path=f"kill/{n}",
                                     data_type="image", processing_level="L2b",
                                     is_public=n % 2 == 0))
        s.set_status(rid, "processing")
        n += 1
""")


def settled(admin: Session, timeout: float = 10.0) -> None:
    """Wait until the server has applied what a killed writer had already sent: a server
    finishes the requests in a dead client's socket after it dies (SecantusDB, measured: a
    status update and, rarely, its mark land tens of milliseconds after ``kill -9``), so
    counts compared before then would compare two different moments."""
    def snapshot() -> tuple[Any, ...]:
        marks = admin.collection.database[summary.SUMMARY_COLLECTION].find_one(
            {"_id": f"records:{admin.collection_name}"}, {"newest": 0})
        rows = sorted((str(d["_id"]), d.get("processingStatus"))
                      for d in admin.collection.find({}, {"processingStatus": 1}))
        return repr(marks), tuple(rows)

    deadline = time.monotonic() + timeout
    last = snapshot()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = snapshot()
        if now == last:
            return
        last = now
    raise AssertionError("the killed writer's last writes kept landing")


def test_a_writer_killed_mid_write_never_makes_counts_wrong(
    admin: Session, mongo_uri: str, db_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, mongo_uri, db_name],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.5 + 0.37 * attempt)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        settled(admin)
        # Whatever the kill cut: broad counts equal counting by query, in every scope.
        for view in (admin, admin.anonymous()):
            assert view.counts() == by_query(view)
    monkeypatch.setattr(summary, "STALE_AFTER", timedelta(0))  # the dead writers' marks
    admin.recount()
    assert_exact(admin, users=())


# --- the property: concurrent writers ----------------------------------------------------

USERS = ("alice", "bob", "carol")
Op = tuple[str, int, str]
ops = st.tuples(
    st.sampled_from(["insert", "insert_public", "share", "share_group", "unshare",
                     "unshare_group", "delete", "archive", "unarchive", "status", "retarget",
                     "claim", "finish_many"]),
    st.integers(0, 7),
    st.sampled_from(USERS),
)


def run(admin: Session, owner: str, plan: list[Op], pool: list[str],
        lock: threading.Lock) -> None:
    """One writer: ``owner``'s own session doing ``plan`` on the shared pool of record ids
    (an id another writer deleted or owns is a refusal, which is fine)."""
    from jwstnb.errors import AccessDenied, InvalidTransition, NotFound

    me = admin.as_user(owner) if owner != "admin" else admin
    for n, (op, pick, who) in enumerate(plan):
        with lock:
            rid = pool[pick % len(pool)] if pool else None
        try:
            if op.startswith("insert"):
                new = me.insert(record(f"{owner}-{n}-{pick}.fits", public=op == "insert_public",
                                       instrument=("NIRCAM", "MIRI")[pick % 2],
                                       file_path=f"p/{owner}/{n}/{pick}/{time.time_ns()}"))
                with lock:
                    pool.append(new)
            elif rid is None:
                continue
            elif op == "share":
                me.share(rid, who)
            elif op == "share_group":
                me.share(rid, group="lab")
            elif op == "unshare":
                me.unshare(rid, who)
            elif op == "unshare_group":
                me.unshare(rid, group="lab")
            elif op == "delete":
                me.delete(rid)
            elif op == "archive":
                me.archive(rid)
            elif op == "unarchive":
                me.unarchive(rid)
            elif op == "status":
                me.set_status(rid, ("processing", "completed", "pending")[pick % 3])
            elif op == "retarget":
                me.update(rid, image_info={"instrument": "NIRISS", "target_name": f"T{pick}"})
            elif op == "claim":
                me.claim(rid, owner)
            elif op == "finish_many":  # a batch of results, some held, racing the others
                with lock:
                    some = list(dict.fromkeys(pool[(pick + k) % len(pool)] for k in range(3)))
                status = ("completed", "failed")[pick % 2]
                me.finish_many(owner, [(r, status, {"algorithm": "prop", "status": status})
                                       for r in some])
        except (AccessDenied, NotFound, InvalidTransition):
            pass


@pytest.fixture
def fresh(mongo_uri: str, db_name: str) -> Iterator[Callable[[], Session]]:
    made: list[Session] = []

    def make() -> Session:
        session = connect(mongo_uri, admin=True, database=db_name, timeout=10,
                          collection=f"prop_{len(made)}_{time.time_ns()}")
        made.append(session)
        session.add_to_group("lab", "bob")
        return session

    yield make
    for session in made:
        session.collection.drop()
        session.close()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plans=st.lists(st.lists(ops, min_size=4, max_size=14), min_size=3, max_size=3),
       restored=st.integers(0, 5))
def test_concurrent_writers_keep_the_summary_equal_to_a_recount(
    fresh: Callable[[], Session], tmp_path_factory: pytest.TempPathFactory,
    plans: list[list[Op]], restored: int,
) -> None:
    admin = fresh()
    pool: list[str] = [admin.insert(record(f"seed{i}.fits", file_path=f"seed/{i}",
                                           public=i % 2 == 0)) for i in range(3)]
    lock = threading.Lock()
    writers = [threading.Thread(target=run, args=(admin, owner, plan, pool, lock))
               for owner, plan in zip(("admin", "alice", "bob"), plans, strict=True)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert_exact(admin)
    # A restore (of a backup taken now) after deletes brings records back, counted again.
    path = str(tmp_path_factory.mktemp("summary") / "b.jsonl")
    backup.export(admin, path)
    for rid in pool[:restored]:
        with contextlib.suppress(NotFound):  # deleted by a writer already
            admin.delete(rid)
    assert_exact(admin)
    backup.restore(admin, path)
    assert_exact(admin)
    assert admin.recount().differences == []
