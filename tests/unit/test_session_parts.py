"""Pure parts of the session: identity from a ``connectionStatus`` reply, and what each read
planner answers (no server: planners are pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jwstnb.access import Scope
from jwstnb.criteria import Criteria
from jwstnb.errors import AccessDenied
from jwstnb.session.connection import Account, _scope, server_account
from jwstnb.session.planners import MongoDBPlanner, SecantusPlanner, planner_for

ADMIN = Scope("admin")
ANON = Scope("anonymous")


def _status(user: str | None, *roles: tuple[str, str]) -> dict[str, object]:
    users = [{"user": user, "db": "admin"}] if user else []
    return {"authInfo": {"authenticatedUsers": users,
                         "authenticatedUserRoles": [{"role": r, "db": d} for r, d in roles]}}


def test_the_account_comes_from_the_server_reply() -> None:
    assert server_account(_status(None), "jw") == Account(None, admin=True)
    assert server_account(_status("alice", ("readWrite", "jw")), "jw") == Account("alice", False)
    assert server_account(_status("root1", ("root", "admin")), "jw") == Account("root1", True)
    assert server_account(_status("own", ("dbOwner", "jw")), "jw").admin
    assert not server_account(_status("own", ("dbOwner", "other")), "jw").admin


def test_only_an_admin_account_acts_as_someone_else() -> None:
    alice = Account("alice", admin=False)
    assert _scope(alice, None, None, False) == Scope("user", "alice")
    assert _scope(alice, "alice", None, False) == Scope("user", "alice")
    with pytest.raises(AccessDenied, match="cannot act as 'bob'"):
        _scope(alice, "bob", None, False)
    with pytest.raises(AccessDenied, match="not an admin"):
        _scope(alice, None, True, False)
    boss = Account("boss", admin=True)
    assert _scope(boss, "bob", None, False) == Scope("user", "bob")
    assert _scope(boss, None, None, False) == ADMIN
    # a server that authenticates no one: what was asked, else anonymous; local: the owner
    nobody = Account(None, admin=True)
    assert _scope(nobody, None, None, False) == ANON
    assert _scope(nobody, None, True, False) == ADMIN
    assert _scope(nobody, None, None, True) == ADMIN
    assert _scope(nobody, "bob", None, True) == Scope("user", "bob")


def test_each_engine_gets_its_planner() -> None:
    assert isinstance(planner_for({"version": "7.0.0"}), MongoDBPlanner)
    assert isinstance(planner_for({"secantusVersion": "0.7"}), SecantusPlanner)
    assert planner_for({}).name == "mongodb"


def test_mongodb_plans_one_hinted_read_per_page() -> None:
    planner = MongoDBPlanner()
    reads = list(planner.page(Criteria(), ANON, None))
    assert len(reads) == 1 and reads[0].final
    assert reads[0].hint == {"readers": 1, "uploadDate": -1, "_id": -1}
    word = next(iter(planner.page(Criteria(text="ngc3132"), ANON, None)))
    assert word.hint == {"keywords": 1} and word.expected_index == "keywords_1"
    assert planner.candidates(Criteria(position=(10, 20), radius=0.1), ANON).plan.index.name == (
        "skyRegion_2dsphere")
    assert planner.sky_test([1, 2], [3]).matches is None


def test_secantus_reads_windows_within_its_budget_then_the_lead() -> None:
    planner = SecantusPlanner()
    broad = list(planner.page(Criteria(), ANON, None))  # rate unknown: every window
    assert len(broad) == 10 and all(r.hint is None and r.teaches for r in broad)
    now = datetime.now(UTC)
    docs = [{"uploadDate": now - timedelta(seconds=i)} for i in range(20)]
    planner.learn(Criteria(), broad[-1], docs)
    assert planner.upload_rate == pytest.approx(1.0) and planner.newest_upload == docs[-1][
        "uploadDate"]
    reads = list(planner.page(Criteria(), ANON, None))
    windows = [r for r in reads if not r.final]
    # 1 upload/s, a page of 20, a budget of 5,000 records: the 64, 512 and 4096 s windows
    assert len(windows) == 3 and reads[-1].final
    assert all("uploadDate" in r.pipeline[0]["$match"] for r in windows)
    # a cone reads its few cells: no windows, and its matches lead by id
    cone = Criteria(position=(10, 20), radius=0.1)
    assert len(list(planner.page(cone, ANON, planner.sky_test([1], [])))) == 1
    assert planner.candidates(cone, ANON).plan.index.name == "skyCells_1"
    assert planner.sky_test([1, 2], [3]).matches == (1, 2)


def test_a_told_planner_reads_back_from_the_newest_upload_not_from_now() -> None:
    """A fresh kernel: told the newest noted upload, its first windows end there."""
    long_ago = datetime(2024, 3, 1, tzinfo=UTC)
    planner = SecantusPlanner()
    assert planner.wants_newest_upload and not MongoDBPlanner().wants_newest_upload
    planner.start_from(long_ago)
    assert not planner.wants_newest_upload and planner.newest_upload == long_ago
    first = next(iter(planner.page(Criteria(), ANON, None)))
    assert first.pipeline[0]["$match"]["uploadDate"] == {"$gte": long_ago - timedelta(seconds=1)}
    untold = SecantusPlanner()
    untold.start_from(None)  # nothing noted: from now, as before, and it does not ask again
    assert not untold.wants_newest_upload and untold.newest_upload is None
    later = next(iter(untold.page(Criteria(), ANON, None))).pipeline[0]["$match"]["uploadDate"]
    assert later["$gte"] > datetime.now(UTC) - timedelta(minutes=1)


def test_a_refused_hint_is_not_sent_again() -> None:
    planner = MongoDBPlanner()
    planner.hint_refused()
    assert next(iter(planner.page(Criteria(), ANON, None))).hint is None


@pytest.mark.parametrize("planner", [MongoDBPlanner(), SecantusPlanner()], ids=lambda p: p.name)
@pytest.mark.parametrize("role", ["anonymous", "user", "admin"])
def test_every_read_uses_an_index_its_engine_keeps(planner: object, role: str) -> None:
    """Each planner's index set holds every index its reads are built to use (SecantusDB keeps
    only those; a real MongoDB keeps the whole catalogue)."""
    from jwstnb.session.planners.indexes import INDEXES

    assert isinstance(planner, MongoDBPlanner | SecantusPlanner)
    scope = Scope(role, "alice" if role == "user" else None)
    kept = {spec.name for spec in planner.indexes} | {"_id_"}
    shapes: list[dict[str, object]] = [
        {}, {"text": "ngc 3132"}, {"text": "n"}, {"data_type": ["image"]},
        {"instrument": ["NIRCAM"]}, {"filter": ["F090W"]}, {"target_name": ["NGC 3132"]},
        {"status": ["pending"]}, {"tags": ["mine"]}, {"is_public": True},
        {"observation_base_id": "jw01234-o001_t001_nircam"}, {"program": ["01234"]},
        {"proposal_pi": ["Someone"]}, {"sort": "fileName"}, {"sort": "fileName", "text": "m16"},
        {"observed_from": datetime(2023, 1, 1, tzinfo=UTC)},
        {"date_from": datetime(2023, 1, 1, tzinfo=UTC)},
        {"position": (10.0, 20.0), "radius": 0.1},
    ]
    for shape in shapes:
        criteria = Criteria.model_validate(shape)
        sky = planner.sky_test(["a"], []) if criteria.position is not None else None
        reads = [*planner.page(criteria, scope, sky), planner.counts(criteria, scope, sky),
                 planner.count(criteria, scope, sky)]
        if criteria.position is not None:
            reads.append(planner.candidates(criteria, scope))
        for read in reads:
            assert read.expected_index in kept, (planner.name, shape, read.expected_index)
    for read in [planner.lineage("jw01234-o001_t001_nircam", scope), planner.statistics(scope),
                 *planner.neighbours(["a"], ["b"], scope)]:
        assert read.expected_index in kept, (planner.name, read.expected_index)
    if planner.name == "mongodb":
        assert {spec.name for spec in planner.indexes} == {spec.name for spec in INDEXES}
    else:
        assert "skyRegion_2dsphere" not in kept and len(kept) < len(INDEXES)
