"""The new criteria as values (times, angles, ranges, levels, exclusions, regions) and as the
reads each engine's planner makes of them: which index leads, what rides behind it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import astropy.units as u
import pytest
from astropy.coordinates import SkyCoord
from astropy.time import Time

from jwstnb.access import Scope
from jwstnb.criteria import Criteria
from jwstnb.documents import band_of_record, derived_fields, session_validator
from jwstnb.errors import ValidationError
from jwstnb.session.planners import secantus
from jwstnb.session.planners.mongodb import MongoDBPlanner
from jwstnb.session.planners.pipelines import (
    CALIB_LEVELS,
    EXCLUSIONS,
    match_plan,
    target_cells,
    targets_candidates_pipeline,
)
from jwstnb.session.planners.secantus import SecantusPlanner
from jwstnb.sky import CELL_ORDER

SCOPES = [Scope("anonymous"), Scope("user", "alice"), Scope("admin")]
AUG_9 = datetime(2022, 8, 9, tzinfo=UTC)


@pytest.mark.parametrize("value", [Time("2022-08-09"), Time(59800.0, format="mjd"),
                                   datetime(2022, 8, 9), date(2022, 8, 9), "2022-08-09",
                                   "2022-08-09T00:00:00Z", 59800.0, 59800, "59800"])
def test_every_time_form_means_the_same_moment(value: Any) -> None:
    assert Criteria(observed_from=value).observed_from == AUG_9
    assert Criteria(date_to=value).date_to == AUG_9


@pytest.mark.parametrize("value", [True, -5.0, "next week", Time(["2022-01-01", "2022-02-01"])])
def test_bad_times_name_the_argument(value: Any) -> None:
    with pytest.raises(ValidationError, match="observed_to"):
        Criteria(observed_to=value)


def test_angles_and_positions_take_quantities_and_skycoords() -> None:
    assert Criteria(position=SkyCoord(10, 20, unit="deg"), radius=5 * u.arcsec).radius == (
        pytest.approx(5 / 3600))
    assert Criteria(position=(10 * u.deg, 20 * u.deg), radius=0.5).position == (10.0, 20.0)
    vertices = [(1 * u.deg, 2 * u.deg), (2 * u.deg, 2 * u.deg), (2 * u.deg, 3 * u.deg)]
    assert Criteria(region=vertices).region == Criteria(
        region="POLYGON ICRS 1 2 2 2 2 3").region


def test_ranges_take_units_and_open_ends() -> None:
    c = Criteria(exposure_time=(2 * u.min, None), wavelength=(1500 * u.nm, 2.5),
                 calib_level=3)
    assert c.exposure_time == (120.0, None)
    assert c.wavelength == (pytest.approx(1.5), 2.5)
    assert c.calib_level == (3,)
    assert Criteria(exposure_time=(None, None)).exposure_time is None
    # Frequencies: the higher frequency is the shorter wavelength end.
    low, high = Criteria(wavelength=(100 * u.THz, 300 * u.THz)).wavelength  # type: ignore[misc]
    assert low == pytest.approx(0.99930819) and high == pytest.approx(2.99792458)
    for bad, word in (((5, 1), "above its maximum"), ((1,), "pair"), ("1-5", "pair"),
                      ((-1, 2), "negative"), ((1 * u.kg, 2), "micron")):
        with pytest.raises(ValidationError, match=word):
            Criteria(wavelength=bad)


def test_region_and_position_are_one_or_the_other_and_intersect_needs_one() -> None:
    with pytest.raises(ValidationError, match="not both"):
        Criteria(region="CIRCLE ICRS 1 2 0.1", position=(1, 2))
    with pytest.raises(ValidationError, match="intersect needs"):
        Criteria(intersect="covers")
    query = Criteria(region="CIRCLE ICRS 1 2 0.1", intersect="Center").sky_query
    assert query.intersect == "center" and query.cap[2] == pytest.approx(0.1, abs=1e-3)
    assert Criteria(position=(1, 2), radius=0.1).sky_query.cone == (1.0, 2.0, 0.1)


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.role)
def test_each_range_leads_with_its_own_index(scope: Scope) -> None:
    cases = [
        ({"exposure_time": (100, 200)}, "imageInfo.exposureTime",
         {"$gte": 100.0, "$lte": 200.0}),
        ({"wavelength": (1.5, None)}, "emMax", {"$gte": 1.5}),
        ({"wavelength": (None, 2.5)}, "emMin", {"$lte": 2.5}),
        ({"calib_level": [2, 3]}, "processingLevel", {"$in": ["L2a", "L2b", "L3"]}),
    ]
    for criteria, field, condition in cases:
        plan = match_plan(Criteria(**criteria), scope)
        assert plan.stages[0] == {"$match": {field: condition}}, criteria
        assert plan.index.keys == ((field, 1),) and not plan.hint_required
    both = match_plan(Criteria(wavelength=(1.5, 2.5)), scope)
    assert both.filter["$and"][1]["emMin"] == {"$lte": 2.5}


def test_exclusions_never_lead_and_ride_in_the_rest() -> None:
    every = {name: ["L1"] if "level" in name else ["image"] if "data_type" in name else
             ["pending"] if "status" in name else ["02733"] if "program" in name else ["MIRI"]
             for name in EXCLUSIONS}
    plan = match_plan(Criteria(**every, instrument="NIRCAM"), Scope("anonymous"))
    assert plan.stages[0] == {"$match": {"imageInfo.instrument": {"$in": [
        "NIRCAM", "nircam"]}}}
    rest = plan.stages[1]["$match"]
    assert rest["dataType"] == {"$nin": ["image"]}
    assert rest["imageInfo.instrument"] == {"$nin": ["MIRI", "miri"]}
    assert rest["program"] == {"$nin": ["02733"]}
    alone = match_plan(Criteria(exclude_instrument="MIRI"), Scope("admin"))
    assert alone.hint_required  # nothing indexable: the upload-date index is walked


def test_calib_levels_follow_the_obscore_mapping() -> None:
    assert CALIB_LEVELS == {1: ("L1",), 2: ("L2a", "L2b"), 3: ("L3",)}
    plan = match_plan(Criteria(calib_level=[0, 4]), Scope("admin"))
    assert plan.stages[0] == {"$match": {"processingLevel": {"$in": []}}}


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.role)
def test_a_region_leads_with_the_cone_indexes(scope: Scope) -> None:
    criteria = Criteria(region="POLYGON ICRS 359.9 -0.1 0.1 -0.1 0.1 0.1 359.9 0.1",
                        intersect="covers")
    mongo = MongoDBPlanner().candidates(criteria, scope)
    assert "$geoIntersects" in mongo.pipeline[0]["$match"]["skyRegion"]
    secantus = SecantusPlanner().candidates(criteria, scope)
    assert list(secantus.pipeline[0]["$match"]) == ["skyCells"]
    assert secantus.plan.index.name == "skyCells_1"


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.role)
def test_a_target_list_is_one_read_of_one_index(scope: Scope) -> None:
    cones = [(10.0, 20.0, 0.01), (359.99, 0.0, 0.01), (45.0, 89.99, 0.01)]
    criteria = Criteria(instrument="NIRCAM")
    (mongo,) = MongoDBPlanner().target_candidates(criteria, scope, cones)
    geometry = mongo.pipeline[0]["$match"]["skyRegion"]["$geoIntersects"]["$geometry"]
    assert geometry["type"] == "MultiPolygon" and len(geometry["coordinates"]) >= 3
    assert mongo.hint == {"skyRegion": "2dsphere"}
    assert {"$match": {"imageInfo.instrument": {"$in": ["NIRCAM", "nircam"]}}} in (
        mongo.pipeline)
    many = [(i * 1.7 % 360.0, (i * 0.37) % 80.0, 0.01) for i in range(200)]
    batches = SecantusPlanner().target_candidates(criteria, scope, many)
    assert len(batches) > 1
    looked_up = [read.pipeline[0]["$match"]["skyCells"]["$in"] for read in batches]
    cells = [c for batch in looked_up for c in batch]
    assert sorted(cells) == target_cells(many) and len(cells) == len(set(cells))
    assert all(read.hint is None for read in batches)
    finest = 4 * 4**CELL_ORDER  # finest-order cells hold most records: small batches
    for batch in looked_up:
        fine = all(c >= finest for c in batch)
        limit = secantus.CELL_BATCH if fine else secantus.COARSE_CELL_BATCH
        assert len(batch) <= limit and (fine or all(0 <= c < finest for c in batch))
    with pytest.raises(ValidationError, match="position"):
        targets_candidates_pipeline(Criteria(position=(1, 2)), scope, cones)


def test_session_search_and_criteria_agree_on_the_new_parameters() -> None:
    import inspect

    from jwstnb.session import Session

    params = inspect.signature(Session.search).parameters
    for name in ("region", "intersect", "exposure_time", "wavelength", "calib_level",
                 *EXCLUSIONS):
        assert name in params and name in Criteria.model_fields


def test_the_band_is_derived_from_naming() -> None:
    """emMin/emMax come from naming's filter and grating bands (microns)."""
    from jwstnb.naming import band

    doc = {"imageInfo": {"filter": "F200W", "instrument": "NIRCAM"}, "userId": None}
    derived = derived_fields(doc)
    assert (derived["emMin"], derived["emMax"]) == band("F200W", "NIRCAM")
    assert 1.7 < derived["emMin"] < 1.8 and 2.2 < derived["emMax"] < 2.3
    assert band_of_record({"imageInfo": {"filter": "F999X"}}) == (None, None)
    assert band_of_record({"imageInfo": {}}) == (None, None)
    props = session_validator()["$jsonSchema"]["properties"]
    assert "emMin" in props and "emMax" in props
