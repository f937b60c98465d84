"""The access-control matrix, cell by cell, against a real server.

Sessions: anonymous, owner (alice), other user (bob), shared user (carol), admin.
Records: public (alice's, isPublic), private (alice's), shared (alice's, shared with carol),
imported (userId null, isPublic: MAST/scan import).
Operations: get, search, count, facets, lineage (reads) and update, delete, set_status,
add_result (writes). Unreadable is NotFound, readable-but-not-writable is AccessDenied,
and totals/facets never count what the session may not read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId

from jwstnb.errors import AccessDenied, NotFound
from jwstnb.schema import ImageMetadata, JwstDataModel, ProcessingResult
from jwstnb.session import Session, connect

pytestmark = pytest.mark.integration

OBS = "jw02733-o001_t001_nircam"
SESSIONS = ["anonymous", "owner", "other", "shared", "admin"]
RECORDS = ["public", "private", "shared", "imported"]

# Who may read what (the access model), written out rather than computed.
READABLE = {
    "anonymous": {"public", "imported"},
    "owner": {"public", "private", "shared", "imported"},
    "other": {"public", "imported"},
    "shared": {"public", "shared", "imported"},
    "admin": {"public", "private", "shared", "imported"},
}
# Who may change what: everything else readable is AccessDenied, unreadable is NotFound.
# Anonymous sessions are read-only: every write is AccessDenied (no existence is revealed:
# it is the same answer for every id).
WRITABLE = {
    "anonymous": set(),
    "owner": {"public", "private", "shared"},
    "other": set(),
    "shared": set(),
    "admin": {"public", "private", "shared", "imported"},
}


def expected_write(session: str, rec: str) -> str:
    if session == "anonymous":
        return "denied"
    if rec in WRITABLE[session]:
        return "ok"
    return "denied" if rec in READABLE[session] else "notfound"


def _model(rec: str) -> JwstDataModel:
    fields: dict[str, Any] = {
        "public": {"user_id": "alice", "is_public": True},
        "private": {"user_id": "alice"},
        "shared": {"user_id": "alice", "shared_with": ["carol"]},
        "imported": {"user_id": None, "is_public": True},
    }[rec]
    return JwstDataModel(
        file_name=f"{rec}record_cal.fits",
        file_path=f"mast/{OBS}/{rec}record_cal.fits",
        data_type="image",
        processing_level="L2b",
        observation_base_id=OBS,
        image_info=ImageMetadata(target_name=f"Target{rec}", instrument="NIRCAM"),
        **fields,
    )


def _seed(admin: Session) -> dict[str, str]:
    return {rec: admin.insert(_model(rec)) for rec in RECORDS}


def _view(admin: Session, name: str) -> Session:
    return {
        "anonymous": admin.anonymous,
        "owner": lambda: admin.as_user("alice"),
        "other": lambda: admin.as_user("bob"),
        "shared": lambda: admin.as_user("carol"),
        "admin": admin.as_admin,
    }[name]()


@pytest.fixture(scope="module")
def read_world(mongo_uri: str) -> Iterator[tuple[Session, dict[str, str]]]:
    """One seeded database shared by the read-only cells (reads change nothing)."""
    name = f"jwstnb_access_{uuid.uuid4().hex[:10]}"
    admin = connect(mongo_uri, admin=True, database=name, timeout=10)
    try:
        yield admin, _seed(admin)
    finally:
        admin.client.drop_database(name)
        admin.close()


@pytest.mark.parametrize("rec", RECORDS)
@pytest.mark.parametrize("who", SESSIONS)
@pytest.mark.parametrize("operation", ["get", "search", "count", "facets", "lineage"])
def test_read_cell(
    read_world: tuple[Session, dict[str, str]], who: str, rec: str, operation: str
) -> None:
    admin, ids = read_world
    session = _view(admin, who)
    rid = ids[rec]
    readable = rec in READABLE[who]
    word = f"{rec}record"  # a keyword only this record has
    if operation == "get":
        if readable:
            assert str(session.get(rid).id) == rid
        else:
            with pytest.raises(NotFound) as info:
                session.get(rid)
            missing = str(ObjectId())
            with pytest.raises(NotFound) as nothing:
                session.get(missing)
            # Same answer as for an id that does not exist: no hint that it exists.
            assert str(info.value).replace(rid, "?") == str(nothing.value).replace(missing, "?")
    elif operation == "search":
        page = session.search(text=word)
        assert [str(r.id) for r in page.items] == ([rid] if readable else [])
        assert page.total == int(readable)
        everything = session.search(page_size=100)
        assert ({str(r.id) for r in everything.items} & set(ids.values())) == {
            ids[r] for r in READABLE[who]
        }
        assert everything.total == len(READABLE[who])
    elif operation == "count":
        assert session.count(text=word) == int(readable)
        assert session.count() == len(READABLE[who])
    elif operation == "facets":
        facets = session.search(page_size=1).facets
        assert (f"Target{rec}" in facets["target_name"]) == readable
        assert facets["target_name"] == {f"Target{r}": 1 for r in sorted(READABLE[who])}
        assert facets["data_type"] == {"image": len(READABLE[who])}
        stats = session.statistics()
        assert stats["total"] == len(READABLE[who])
    elif operation == "lineage":
        tree = session.lineage(OBS)
        assert (rid in tree) == readable
        assert len(tree) == len(READABLE[who])


def _write(session: Session, operation: str, rid: str) -> None:
    if operation == "update":
        session.update(rid, description="changed")
    elif operation == "delete":
        session.delete(rid)
    elif operation == "set_status":
        session.set_status(rid, "processing")
    elif operation == "add_result":
        session.add_result(rid, ProcessingResult(algorithm="photometry"))
    else:  # pragma: no cover - parametrization covers the names above
        raise AssertionError(operation)


@pytest.mark.parametrize("rec", RECORDS)
@pytest.mark.parametrize("who", SESSIONS)
@pytest.mark.parametrize("operation", ["update", "delete", "set_status", "add_result"])
def test_write_cell(admin_session: Session, who: str, rec: str, operation: str) -> None:
    ids = _seed(admin_session)
    rid = ids[rec]
    before = admin_session.collection.find_one({"_id": admin_session.get(rid).id})
    session = _view(admin_session, who)
    outcome = expected_write(who, rec)
    if outcome == "ok":
        _write(session, operation, rid)
        if operation == "delete":
            with pytest.raises(NotFound):
                admin_session.get(rid)
        else:
            after = admin_session.get(rid)
            assert {
                "update": after.description == "changed",
                "set_status": after.processing_status == "processing",
                "add_result": [r.algorithm for r in after.processing_results] == ["photometry"],
            }[operation]
        return
    error = AccessDenied if outcome == "denied" else NotFound
    with pytest.raises(error):
        _write(session, operation, rid)
    # A refused write changes nothing.
    assert admin_session.collection.find_one({"_id": before["_id"]}) == before
