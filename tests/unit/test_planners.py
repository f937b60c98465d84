"""Pure tests of the query builder: scope, keywords, validation, and the shape of every plan."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwstnb import sky
from jwstnb.access import Scope, readers_for
from jwstnb.criteria import FACETS, MAX_TERMS, Criteria, tokenize, validate_criteria
from jwstnb.documents import (
    TRANSITIONS,
    derived_fields,
    keywords_for,
    session_validator,
    status_transition,
)
from jwstnb.errors import AccessDenied, ValidationError
from jwstnb.schema import ImageMetadata, JwstDataModel
from jwstnb.session.planners.indexes import INDEXES
from jwstnb.session.planners.pipelines import (
    SkyTest,
    _prefix_upper,
    count_pipeline,
    counts_pipeline,
    lineage_pipeline,
    match_plan,
    observations_pipeline,
    page_pipeline,
    sky_candidates_pipeline,
    statistics_pipeline,
)

INDEXED_FIELDS = {spec.keys[0][0] for spec in INDEXES if len(spec.keys) == 1}
SCOPES = [Scope("anonymous"), Scope("user", "alice"), Scope("admin")]
# Operators SecantusDB (and MongoDB) serve from a single-field index.
INDEXABLE_OPS = {"$gte", "$gt", "$lt", "$lte", "$in", "$eq"}


# --- scope -------------------------------------------------------------------------------------


def test_readers_encode_public_owner_and_shared() -> None:
    assert readers_for(None, True, []) == ["public"]
    assert readers_for("alice", False, ["bob", "carol", "bob"]) == [
        "user:alice",
        "user:bob",
        "user:carol",
    ]
    assert readers_for(None, False, []) == []  # an unowned private record: admin only


def test_scope_filters_follow_design_section_5() -> None:
    assert Scope("admin").read_filter() == {}
    assert Scope("anonymous").read_filter() == {"readers": {"$in": ["public"]}}
    assert Scope("user", "bob").read_filter() == {"readers": {"$in": ["public", "user:bob"]}}
    assert Scope("user", "bob").write_filter() == {"userId": "bob"}
    assert Scope("admin").write_filter() == {}
    with pytest.raises(AccessDenied):
        Scope("anonymous").write_filter()


def test_user_named_public_cannot_read_private_records_of_others() -> None:
    doc = {"readers": readers_for("alice", False, [])}
    assert not Scope("user", "public").can_read(doc)
    assert Scope("user", "alice").can_read(doc)


@pytest.mark.parametrize("user", ["", "   ", None, 3, {"$ne": 1}, "a\x00b", "x" * 201])
def test_bad_user_ids_are_rejected(user: Any) -> None:
    with pytest.raises(ValidationError):
        Scope("user", user)


# --- keywords ----------------------------------------------------------------------------------


def test_tokenize_lowercases_splits_and_normalises() -> None:
    assert tokenize("NGC 3132, Southern-Ring_nebula!") == [
        "ngc",
        "3132",
        "southern",
        "ring",
        "nebula",
    ]
    assert tokenize("ＮＧＣ") == ["ngc"]  # NFKC: full-width letters
    assert tokenize('$where {"$gt": ""} .* ^(a|b)+$') == ["where", "gt", "a", "b"]
    assert tokenize("\ud800 lone surrogate") == ["lone", "surrogate"]


def test_keywords_cover_names_target_tags_and_description() -> None:
    model = JwstDataModel(
        file_name="jw02733-o001_t001_nircam_clear-f090w_i2d.fits",
        data_type="image",
        description="Southern Ring",
        tags=["Planetary Nebula"],
        observation_base_id="jw02733-o001_t001_nircam",
        image_info=ImageMetadata(target_name="NGC 3132", instrument="NIRCAM", filter="F090W"),
    )
    words = keywords_for(model.to_document())
    for word in [
        "jw02733",
        "o001",
        "nircam",
        "f090w",
        "i2d",
        "ngc",
        "3132",
        "ngc3132",
        "southern",
        "planetary",
        "nebula",
    ]:
        assert word in words
    assert len(words) == len(set(words))
    assert all(w == w.lower() for w in words)


def test_derived_fields_pass_the_server_schema_types() -> None:
    doc = JwstDataModel(file_name="x" * 200, data_type="raw", tags=["y" * 100]).to_document()
    derived = derived_fields(doc)
    schema = session_validator()["$jsonSchema"]
    assert {"keywords", "readers"} <= set(schema["required"])
    assert all(
        1 <= len(w) <= schema["properties"]["keywords"]["items"]["maxLength"]
        for w in derived["keywords"]
    )


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": {"$where": "1"}},
        {"text": ["ngc"]},
        {"text": "x" * 10_000},
        {"text": " ".join(f"w{i}" for i in range(MAX_TERMS + 1))},
        {"data_type": {"$gt": ""}},
        {"data_type": "movie"},
        {"instrument": {"$ne": None}},
        {"instrument": [{"$gt": ""}]},
        {"filter": 3},
        {"target_name": ""},
        {"tags": [["nested"]]},
        {"tags": ["t"] * 51},
        {"status": "done"},
        {"is_public": "yes"},
        {"include_archived": 1},
        {"page": 0},
        {"page": True},
        {"page_size": 10_000},
        {"sort": "$natural"},
        {"sort": {"uploadDate": 1}},
        {"descending": "no"},
        {"date_from": "yesterday"},
        {"date_from": {"$gt": 0}},
        {"date_from": "2024-02-01", "date_to": "2024-01-01"},
        {"observation_base_id": {"$exists": True}},
    ],
)
def test_hostile_or_malformed_criteria_are_validation_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        validate_criteria(**kwargs)


def test_criteria_normalise_values() -> None:
    c = validate_criteria(
        text="NGC ngc 3132",
        data_type="IMAGE",
        processing_level="l3",
        status="Pending",
        date_from=date(2024, 1, 1),
        date_to="2024-02-01T00:00:00",
    )
    assert c.terms == ("ngc", "3132")
    assert c.data_type == ("image",) and c.processing_level == ("L3",) and c.status == ("pending",)
    assert c.date_from == datetime(2024, 1, 1, tzinfo=UTC)
    assert c.date_to == datetime(2024, 2, 1, tzinfo=UTC)


def test_validation_error_does_not_echo_huge_input() -> None:
    with pytest.raises(ValidationError) as info:
        validate_criteria(text="s" * 10_000)
    assert len(str(info.value)) < 1000


# --- plans ----------------------------------------------------------------------------------------


def _assert_index_shape(stages: tuple[dict[str, Any], ...], index_field: str) -> None:
    """The first stage is one indexable predicate on the plan's index field; no $where."""
    lead = stages[0]["$match"]
    assert list(lead) == [index_field]
    assert index_field in INDEXED_FIELDS
    value = lead[index_field]
    if isinstance(value, dict):
        assert set(value) <= INDEXABLE_OPS
    text = repr(stages)
    assert "$where" not in text and "$expr" not in text and "$function" not in text


CASES: list[dict[str, Any]] = [
    {},
    {"text": "ngc"},
    {"text": "ngc 3132 nircam"},
    {"data_type": "image"},
    {"processing_level": ["L2b", "L3"]},
    {"instrument": "nircam"},
    {"filter": "F090W"},
    {"target_name": "NGC 3132"},
    {"status": "pending"},
    {"tags": ["a", "b"]},
    {"date_from": "2024-01-01"},
    {"date_to": "2024-01-01"},
    {"is_public": False},
    {"observation_base_id": "jw02733-o001_t001_nircam"},
    {"include_archived": True},
    {"text": "ngc", "data_type": "image", "processing_level": "L3"},
    {"text": "ngc", "instrument": "NIRCAM", "filter": "F090W", "include_archived": True},
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.role)
@pytest.mark.parametrize("kwargs", CASES, ids=repr)
def test_every_search_shape_leads_with_one_indexable_predicate(
    scope: Scope, kwargs: dict[str, Any]
) -> None:
    plan = match_plan(validate_criteria(**kwargs), scope)
    if plan.hint_required:
        assert plan.index.name == "uploadDate_-1"
        assert all("$match" in s for s in plan.stages)
        assert scope.role == "admin" and not {"text", "data_type"} & set(kwargs)
    else:
        _assert_index_shape(plan.stages, plan.index.keys[0][0])
    # The scope is inside the filter (before skip/limit) for every non-admin session.
    if scope.role != "admin":
        assert "'readers': {'$in'" in repr(plan.stages)
    # The page never sits inside $facet; counts are a separate pipeline with no items.
    page, _ = page_pipeline(validate_criteria(**kwargs), scope)
    assert [next(iter(s)) for s in page][-4:] == ["$sort", "$skip", "$limit", "$project"]
    assert "$facet" not in repr(page)
    counts, _ = counts_pipeline(validate_criteria(**kwargs), scope)
    facet = counts[-1]["$facet"]
    assert set(facet) == {"total", *FACETS}
    assert [next(iter(s)) for s in counts[:-1]] == ["$match"] * (len(counts) - 1)


def test_text_uses_prefix_range_on_the_index_and_anchored_regex_for_exactness() -> None:
    plan = match_plan(validate_criteria(text="ngc 3132"), Scope("user", "alice"))
    assert plan.stages[0] == {"$match": {"keywords": {"$gte": "3132", "$lt": "3133"}}} or (
        plan.stages[0] == {"$match": {"keywords": {"$gte": "ngc", "$lt": "ngd"}}}
    )
    rest = plan.stages[1]["$match"]
    regexes = [rest["keywords"]["$regex"], *(c["keywords"]["$regex"] for c in rest["$and"])]
    assert sorted(regexes) == ["^3132", "^ngc"]
    assert rest["readers"] == {"$in": ["public", "user:alice"]}
    assert rest["archived"] == {"$ne": True}


def test_most_selective_index_leads() -> None:
    plan = match_plan(validate_criteria(observation_base_id="o", text="ngc"), Scope("admin"))
    assert plan.index.name == "observationBaseId_1"
    plan = match_plan(validate_criteria(text="ngc", data_type="image"), Scope("anonymous"))
    assert plan.index.name == "keywords_1"
    plan = match_plan(validate_criteria(data_type="image"), Scope("anonymous"))
    assert plan.index.name == "dataType_1"
    plan = match_plan(validate_criteria(), Scope("anonymous"))
    assert plan.index.name == "readers_1"


@given(st.text(max_size=70))
@settings(max_examples=200, deadline=None)
def test_any_text_is_data(text: str) -> None:
    """Whatever the text, it becomes escaped prefixes of word characters, never operators."""
    try:
        criteria = validate_criteria(text=text)
    except ValidationError:
        return
    plan = match_plan(criteria, Scope("anonymous"))
    for term in criteria.terms:
        assert re.fullmatch(r"[^\W_]+", term)
    for stage in plan.stages:
        for key in stage["$match"]:
            assert key in {"keywords", "readers", "archived", "$and"}


@given(st.text(min_size=1, max_size=8))
def test_prefix_upper_bounds_exactly_the_prefix(term: str) -> None:
    upper = _prefix_upper(term)
    if upper is not None:
        assert term < upper
        assert not upper.startswith(term)
        assert term + "\U0010ffff" < upper


def test_status_transitions() -> None:
    assert status_transition("processing") == ("processing", ["pending"])
    assert status_transition("completed") == ("completed", ["processing"])
    assert status_transition("FAILED") == ("failed", ["processing"])
    assert status_transition("pending") == ("pending", ["completed", "failed"])
    assert TRANSITIONS["pending"] == {"processing"}
    for bad in ["done", {"$ne": 1}, ["pending"], None]:
        with pytest.raises(ValidationError):
            status_transition(bad)


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.role)
def test_other_read_pipelines_lead_with_an_index(scope: Scope) -> None:
    builders = [
        count_pipeline(Criteria(text="ngc"), scope),
        lineage_pipeline("jw02733-o001_t001_nircam", scope),
        observations_pipeline(scope),
    ]
    for pipeline, plan in builders:
        _assert_index_shape(tuple(s for s in pipeline if "$match" in s), plan.index.keys[0][0])
    pipeline, plan = statistics_pipeline(scope)
    assert plan.hint_required == (scope.role == "admin")
    with pytest.raises(ValidationError):
        lineage_pipeline({"$gt": ""}, scope)  # type: ignore[arg-type]


def test_indexes_never_combine_two_array_fields() -> None:
    """MongoDB refuses a compound index over two array fields (multikey)."""
    arrays = {"keywords", "readers", "tags", "sharedWith", "derivedFrom"}
    for spec in INDEXES:
        assert len({k for k, _ in spec.keys} & arrays) <= 1
    names = [spec.name for spec in INDEXES]
    assert len(names) == len(set(names))
    assert any(
        spec.options.get("unique") and [k for k, _ in spec.keys] == ["userId", "filePath"]
        for spec in INDEXES
    )


def test_program_is_derived_from_names_groups_and_proposal_ids() -> None:
    from jwstnb.documents import program_of_record
    from jwstnb.session.planners.pipelines import program_filter

    assert program_filter("02733") == {"program": "02733"}
    assert program_of_record({"fileName": "JW02733001001_02101_00001_NRCA1_CAL.FITS"}) == "02733"
    assert program_of_record(
        {"fileName": "jw02733-o001_20220707t165838_image3_001_asn.json"}
    ) == "02733"
    assert program_of_record(
        {"fileName": "notes.txt", "observationBaseId": "jw02733-o001_t001_nircam"}
    ) == "02733"
    assert program_of_record({"fileName": "x.fits", "imageInfo": {"proposalId": "2733"}}) == (
        "02733"
    )
    assert program_of_record({"fileName": "notes.txt"}) is None
    with pytest.raises(ValidationError):
        program_filter("2733")
    assert validate_criteria(program=[2733, "jw01366"]).program == ("02733", "01366")
    with pytest.raises(ValidationError):
        validate_criteria(program="ngc")


def test_criteria_is_the_one_list_of_search_arguments() -> None:
    """Session.search spells out Criteria's fields, in the same order (one owner)."""
    import inspect

    from jwstnb.session import Session

    params = list(inspect.signature(Session.search).parameters)[1:]
    assert params == list(Criteria.model_fields)
    with pytest.raises(ValidationError, match="extra"):
        validate_criteria(colour="red")


def test_a_page_window_keeps_every_clause_and_leads_with_the_upload_date() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    criteria = validate_criteria(data_type="image", processing_level="L3")
    pipeline, _plan = page_pipeline(criteria, Scope("user", "alice"), since=when)
    assert pipeline[0] == {"$match": {"uploadDate": {"$gte": when}}}
    rest = repr(pipeline[1:])
    assert "'dataType': 'image'" in rest and "'processingLevel': 'L3'" in rest
    assert "'readers': {'$in': ['public', 'user:alice']}" in rest
    # A word (short, or one whose own range outlasted the session's probe) reads recent
    # uploads first too, every clause kept.
    for text in ("ngc", "ngc 3132"):
        short, _plan = page_pipeline(validate_criteria(text=text), Scope("admin"), since=when)
        assert short[0] == {"$match": {"uploadDate": {"$gte": when}}}
        assert "'keywords': {'$regex': '^ngc'}" in repr(short[1:])
    with pytest.raises(ValueError):  # a window holds the page only when sorted newest first
        page_pipeline(validate_criteria(text="ngc", sort="fileName"), Scope("admin"), since=when)
    assert match_plan(validate_criteria(text="ngc"), Scope("admin")).broad
    assert not match_plan(validate_criteria(text="ngc 3132"), Scope("admin")).broad


def test_position_leads_with_the_cells_on_secantusdb_and_the_geo_index_elsewhere() -> None:
    criteria = validate_criteria(position=(151.757, -40.436), radius=0.1, data_type="image")
    geo = match_plan(criteria, Scope("anonymous"))
    assert list(geo.stages[0]["$match"]) == ["skyRegion"] and geo.index.name == "skyRegion_2dsphere"
    # The exact test's misses are left out behind the GeoJSON lead (MongoDB).
    page, _ = page_pipeline(criteria, Scope("anonymous"), sky=SkyTest(outside=("x",)))
    assert page[0] == geo.stages[0] and page[1]["$match"]["_id"] == {"$nin": ["x"]}
    # SecantusDB: the candidates come from the cells, the GeoJSON test and every other
    # criterion behind them ...
    pipeline, cells = sky_candidates_pipeline(criteria, Scope("anonymous"), sky_cells=True)
    lead = cells.stages[0]["$match"]
    assert list(lead) == ["skyCells"] and cells.index.name == "skyCells_1"
    assert sorted(lead["skyCells"]["$in"]) == sorted(sky.cone_cells(151.757, -40.436, 0.1))
    rest = cells.stages[1]["$match"]
    assert rest["skyRegion"] == geo.stages[0]["$match"]["skyRegion"]
    assert rest["dataType"] == "image" and "readers" in rest
    assert pipeline[-1]["$project"]["imageInfo.footprint"] == 1
    # ... and the ids found inside lead the page, counts and count, every criterion kept.
    test = SkyTest(matches=("a", "b"))
    for build in (page_pipeline, counts_pipeline, count_pipeline):
        stages, plan = build(criteria, Scope("anonymous"), sky=test)
        assert stages[0] == {"$match": {"_id": {"$in": ["a", "b"]}}}, build
        assert plan.index.name == "_id_" and not plan.broad
        assert stages[1]["$match"]["dataType"] == "image" and "skyRegion" not in stages[1]["$match"]
    with pytest.raises(ValidationError, match="position"):
        sky_candidates_pipeline(validate_criteria(text="ngc"), Scope("admin"))


# --- records prepared where their file was read -----------------------------------------------


def test_prepared_sky_fields_are_kept_only_when_trusted_and_unchanged() -> None:
    """A scan's workers compute the sky fields; the session keeps them only on the trusted
    (admin ingest) path and while the footprint and centre are the ones they came from, and
    always computes keywords, readers and program itself."""
    from jwstnb.documents import Prepared, prepare, stored_document, stored_document_of

    model = JwstDataModel(
        file_name="jw01234001001_02101_00001_nrca1_cal.fits", data_type="image",
        is_public=True, image_info=ImageMetadata(ra=10.0, dec=20.0, target_name="NGC 3132"),
    )
    truth = stored_document(model)
    prepared = prepare(model)
    assert stored_document_of(prepared, trusted_sky=True) == truth
    forged = Prepared(model, {"skyRegion": None, "skyCells": [1, 2, 3]}, prepared.source)
    assert stored_document_of(forged) == truth  # untrusted: computed again
    assert stored_document_of(forged, trusted_sky=True)["skyCells"] == [1, 2, 3]
    # moved since its sky was computed: computed again, trusted or not
    moved = model.model_copy(update={"image_info": ImageMetadata(ra=11.0, dec=20.0)})
    stale = Prepared(moved, prepared.sky, prepared.source)
    assert stored_document_of(stale, trusted_sky=True) == stored_document(moved)
    # the access and text fields are never carried
    other = model.model_copy(update={"is_public": False, "user_id": "alice"})
    doc = stored_document_of(Prepared(other, prepared.sky, prepared.source), trusted_sky=True)
    assert doc["readers"] == stored_document(other)["readers"] != truth["readers"]
