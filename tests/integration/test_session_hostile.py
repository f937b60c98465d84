"""Hostile search input (hypothesis) against a real server: in-scope results or ValidationError.

Operators (``$where``, ``{"$gt": ""}``), regex metacharacters, 10k-character strings,
unicode (lone surrogates included), dicts and lists where strings are expected, wrong
types for every argument. Any other exception fails the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jwstnb.errors import NotFound, ValidationError
from jwstnb.schema import ImageMetadata, JwstDataModel
from jwstnb.session import Session, connect

pytestmark = pytest.mark.integration

SEARCH_ARGS = [
    "text",
    "data_type",
    "processing_level",
    "instrument",
    "filter",
    "target_name",
    "status",
    "tags",
    "date_from",
    "date_to",
    "is_public",
    "include_archived",
    "observation_base_id",
    "page",
    "page_size",
    "sort",
    "descending",
]
OPERATORS = ["$where", "$gt", "$ne", "$regex", "$expr", "$function", "$or", "$in", "$exists"]
META = ".*+?^$()[]{}|\\/"

operator_docs = st.builds(
    lambda op, v: {op: v},
    st.sampled_from(OPERATORS),
    st.one_of(st.just(""), st.just("sleep(100)"), st.just(".*"), st.integers(), st.none()),
)
regexy = st.text(alphabet=st.sampled_from([*META, "a", "n", "g", "c", " "]), max_size=40)
long_strings = st.builds(
    lambda c, n: c * n,
    st.sampled_from(["a", "ñ", "$", ".*", "ngc "]),
    st.integers(min_value=1000, max_value=12_000),
)
scalars = st.one_of(
    st.none(),
    st.text(max_size=60),  # any unicode
    st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=8),  # surrogates
    regexy,
    long_strings,
    st.sampled_from(
        [
            "ngc",
            "NIRCAM",
            "image",
            "L3",
            "pending",
            "$where",
            "this.x == 1",
            "F090W",
            "NGC 3132",
            "uploadDate",
            "fileName",
            "2024-01-01",
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.floats(allow_nan=True),
    st.datetimes(timezones=st.just(UTC)),
    operator_docs,
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(max_size=5), scalars, max_size=2),
)
# Plausible values per argument, so that many examples get past validation and really search.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "text": st.one_of(
        st.text(max_size=40),
        regexy,
        st.sampled_from(["ngc", "$where", "ñandú", "(a+)+$", '{"$gt": ""}']),
    ),
    "data_type": st.sampled_from(["image", "sensor", ["image", "raw"]]),
    "processing_level": st.sampled_from(["L3", "L2b", ["L1", "unknown"]]),
    "instrument": st.one_of(st.sampled_from(["NIRCAM", "miri"]), regexy.filter(bool)),
    "filter": st.one_of(st.sampled_from(["F090W", "f090w"]), regexy.filter(bool)),
    "target_name": st.one_of(st.just("NGC 3132"), st.text(min_size=1, max_size=20)),
    "status": st.sampled_from(["pending", "processing", ["completed", "failed"]]),
    "tags": st.lists(st.one_of(st.sampled_from(["$where", ".*"]), regexy.filter(bool)), max_size=3),
    "date_from": st.one_of(st.datetimes(timezones=st.just(UTC)), st.just("2024-01-01")),
    "date_to": st.one_of(st.datetimes(timezones=st.just(UTC)), st.just("2024-12-31")),
    "is_public": st.booleans(),
    "include_archived": st.booleans(),
    "observation_base_id": st.one_of(st.just("jw02733-o001_t001_nircam"), regexy.filter(bool)),
    "page": st.integers(min_value=1, max_value=5),
    "page_size": st.integers(min_value=1, max_value=50),
    "sort": st.sampled_from(["uploadDate", "file_name", "observation_date", "status"]),
    "descending": st.booleans(),
}
# Some plausible arguments, plus at most two hostile ones (each may also be absent).
criteria = st.builds(
    lambda plausible, hostile: {**plausible, **hostile},
    st.fixed_dictionaries({}, optional=PLAUSIBLE),
    st.dictionaries(st.sampled_from(SEARCH_ARGS), values, max_size=2),
)


def _model(name: str, **fields: Any) -> JwstDataModel:
    return JwstDataModel(
        file_name=name,
        file_path=f"mast/x/{name}",
        data_type=fields.pop("data_type", "image"),
        observation_base_id="jw02733-o001_t001_nircam",
        image_info=ImageMetadata(target_name="NGC 3132", instrument="NIRCAM", filter="F090W"),
        upload_date=datetime(2024, 1, 2, tzinfo=UTC),
        **fields,
    )


@pytest.fixture(scope="module")
def world(mongo_uri: str) -> Iterator[tuple[Session, dict[str, set[str]]]]:
    """Public, private, shared and imported records; the ids each role may read."""
    name = f"jwstnb_hostile_{uuid.uuid4().hex[:10]}"
    admin = connect(mongo_uri, admin=True, database=name, timeout=10)
    alice = admin.as_user("alice")
    ids = {
        "public": alice.insert(_model("ngc_public_i2d.fits", is_public=True)),
        "private": alice.insert(_model("ngc_private_cal.fits", tags=["$where", ".*"])),
        "shared": alice.insert(
            _model("ngc_shared_rate.fits", shared_with=["bob"], data_type="sensor")
        ),
        "imported": admin.insert(
            _model("ngc_import_i2d.fits", is_public=True, description='{"$gt": ""} (a+)+$ ñandú')
        ),
        "archived": admin.insert(_model("ngc_archived_i2d.fits", is_public=True, archived=True)),
    }
    visible = {
        "anonymous": {ids["public"], ids["imported"], ids["archived"]},
        "bob": {ids["public"], ids["imported"], ids["shared"], ids["archived"]},
        "alice": set(ids.values()),
        "admin": set(ids.values()),
    }
    try:
        yield admin, visible
    finally:
        admin.client.drop_database(name)
        admin.close()


def _session(admin: Session, who: str) -> Session:
    if who == "anonymous":
        return admin.anonymous()
    if who == "admin":
        return admin.as_admin()
    return admin.as_user(who)


@given(who=st.sampled_from(["anonymous", "bob", "alice", "admin"]), kwargs=criteria)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_search_is_in_scope_or_a_validation_error(
    world: tuple[Session, dict[str, set[str]]], who: str, kwargs: dict[str, Any]
) -> None:
    admin, visible = world
    with _session(admin, who) as session:
        try:
            page = session.search(**kwargs)
        except ValidationError:
            event("validation error")
            return
        event(f"searched, {'some' if page.total else 'no'} results")
        readable = visible[who]
        found = {str(r.id) for r in page.items}
        assert found <= readable
        assert page.total <= len(readable)
        for counts in page.facets.values():
            assert sum(counts.values()) <= len(readable)
        assert session.count(**kwargs) == page.total


@given(who=st.sampled_from(["anonymous", "bob"]), rid=st.one_of(scalars, st.lists(scalars)))
@settings(max_examples=100, deadline=None)
def test_hostile_ids_are_not_found(
    world: tuple[Session, dict[str, set[str]]], who: str, rid: Any
) -> None:
    admin, visible = world
    with _session(admin, who) as session:
        try:
            record = session.get(rid)
        except NotFound:
            return
        assert str(record.id) in visible[who]
