"""jwstnb.sky's GeoJSON against a real server (SecantusDB subprocess or JWSTNB_TEST_MONGO_URI).

What position search relies on: every footprint's GeoJSON (RA 0/360, poles, big circles,
unions) and centre Points are stored under a ``2dsphere`` index; ``$geoIntersects`` with
:func:`jwstnb.sky.cone_geojson` returns every record that :func:`jwstnb.sky.matches_cone`
accepts (a superset, so filtering the candidates gives the exact answer); and the 2dsphere
index leads the plan alone, beside other fields, and as an aggregation's first ``$match``.
SecantusDB reads GeoJSON edges as straight lines in longitude/latitude, MongoDB as great
circles: the GeoJSON is built to mean the same region under both.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient
from pymongo.collection import Collection

from jwstnb import sky

pytestmark = pytest.mark.integration

FIELD = "skyRegion"

REGIONS = [
    "POLYGON ICRS 151.77 -40.44 151.74 -40.42 151.72 -40.45 151.75 -40.47",
    "CIRCLE ICRS 10.68 41.27 0.05",
    "POLYGON 359.99 0.1 0.02 0.1 0.02 -0.1 359.99 -0.1",
    "POLYGON ICRS 179.99 0.1 180.02 0.1 180.02 -0.1 179.99 -0.1",
    "POLYGON ICRS 0 80 90 80 180 80 270 80",
    "POLYGON ICRS 0 -85 270 -85 180 -85 90 -85",
    "POLYGON ICRS 0 90 0 80 90 80",
    "CIRCLE ICRS 200 -30 100",
    "BOX GSC1 TOPOCENTER 45 30 0.2 0.1",
    "UNION ICRS ( POLYGON 1 1 2 1 2 2 CIRCLE 10 10 1 )",
    "POLYGON FK4 10 10 11 10 11 11",
    "POLYGON ICRS 10 10 14 10 12 11 14 12 10 12",  # concave: stored as its box
]


@pytest.fixture
def collection(mongo_uri: str, db_name: str) -> Iterator[Collection[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, serverSelectionTimeoutMS=10000)
    coll = client[db_name]["sky"]
    coll.create_index([(FIELD, "2dsphere")])
    coll.create_index([("processingLevel", 1)])
    try:
        yield coll
    finally:
        client.close()


def test_every_footprint_and_centre_is_stored_under_the_2dsphere_index(
    collection: Collection[dict[str, Any]],
) -> None:
    for i, text in enumerate(REGIONS):
        fp = sky.parse_stcs(text)
        collection.insert_one({"_id": i, FIELD: sky.stored_geojson(fp), "footprint": text})
    collection.insert_one({"_id": "point", FIELD: sky.point_geojson(359.9999, -90.0)})
    assert collection.count_documents({}) == len(REGIONS) + 1
    # Each region is found by a cone at the centre of its first shape, not by one far away.
    for i, text in enumerate(REGIONS):
        fp = sky.parse_stcs(text)
        first = sky.Footprint(fp.polygons[:1]) if fp.polygons else sky.Footprint(
            circles=fp.circles[:1])
        ra, dec = first.centre
        found = {d["_id"] for d in collection.find(
            {FIELD: {"$geoIntersects": {"$geometry": sky.cone_geojson(ra, dec, 0.0)}}})}
        assert i in found, text
    far = {d["_id"] for d in collection.find(
        {FIELD: {"$geoIntersects": {"$geometry": sky.cone_geojson(100.0, 45.0, 0.01)}}})}
    assert far == {REGIONS.index("CIRCLE ICRS 200 -30 100")}


def random_records(seed: int, n: int) -> list[dict[str, Any]]:
    """Footprints and centre-only records, crowded at the poles and at RA 0/360 and 180."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        ra = rng.choice([rng.uniform(0, 360), rng.uniform(-0.5, 0.5) % 360,
                         rng.uniform(179.5, 180.5)])
        dec = rng.choice([rng.uniform(-90, 90), rng.uniform(88.5, 90), rng.uniform(-90, -88.5)])
        size = rng.choice([1 / 3600, 0.02, 0.3, rng.uniform(0, 5)])
        kind = rng.choice(["polygon", "circle", "centre"])
        doc: dict[str, Any] = {"_id": i, "processingLevel": rng.choice(["L2b", "L3"])}
        if kind == "centre":
            doc.update(centre=[ra, dec], **{FIELD: sky.point_geojson(ra, dec)})
        else:
            if kind == "circle":
                text = f"CIRCLE ICRS {ra} {dec} {max(size, 1e-4)}"
            else:
                text = f"BOX ICRS {ra} {dec} {max(size, 1e-4)} {max(size / 2, 1e-4)}"
            fp = sky.parse_stcs(text)
            doc.update(footprint=text, **{FIELD: sky.stored_geojson(fp)})
        records.append(doc)
    return records


_PARSED: dict[str, sky.Footprint] = {}


def exact(doc: dict[str, Any], ra: float, dec: float, radius: float) -> bool:
    text = doc.get("footprint")
    fp = None
    if text:
        if text not in _PARSED:
            _PARSED[text] = sky.parse_stcs(text)
        fp = _PARSED[text]
    centre = tuple(doc["centre"]) if "centre" in doc else None
    return sky.matches_cone(fp, centre, ra, dec, radius)  # type: ignore[arg-type]


cone_ras = st.one_of(st.sampled_from([0.0, 359.99, 180.0, 0.2]), st.floats(0, 360,
                                                                             exclude_max=True))
cone_decs = st.one_of(st.sampled_from([90.0, -90.0, 89.5, -89.7, 0.0]), st.floats(-90, 90))
cone_radii = st.one_of(st.sampled_from([0.0, 1 / 3600, 0.1, 30.0]), st.floats(0, 30))


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ra=cone_ras, dec=cone_decs, radius=cone_radii)
def test_geo_intersects_returns_every_exact_match(
    collection: Collection[dict[str, Any]], ra: float, dec: float, radius: float
) -> None:
    if collection.estimated_document_count() == 0:
        collection.insert_many(random_records(7, 400))
    docs = {d["_id"]: d for d in collection.find({})}
    truth = {i for i, d in docs.items() if exact(d, ra, dec, radius)}
    cone = sky.cone_geojson(ra, dec, radius)
    candidates = {d["_id"] for d in collection.find({FIELD: {"$geoIntersects": {"$geometry":
                                                                                 cone}}})}
    assert truth <= candidates, sorted(truth - candidates)
    assert {i for i in candidates if exact(docs[i], ra, dec, radius)} == truth
    # Combined with another field in the same filter, the answer is the same subset.
    l3 = {d["_id"] for d in collection.find(
        {FIELD: {"$geoIntersects": {"$geometry": cone}}, "processingLevel": "L3"})}
    assert l3 == {i for i in candidates if docs[i]["processingLevel"] == "L3"}


def plan_stages(plan: Any) -> list[tuple[str, str | None]]:
    """Every (stage, indexName) in an explain output, however deeply nested."""
    found: list[tuple[str, str | None]] = []
    if isinstance(plan, dict):
        if "stage" in plan and isinstance(plan["stage"], str):
            found.append((plan["stage"], plan.get("indexName")))
        for key, value in plan.items():
            if key != "rejectedPlans":
                found += plan_stages(value)
    elif isinstance(plan, list):
        for value in plan:
            found += plan_stages(value)
    return found


def test_explain_shows_the_2dsphere_index_leading(
    collection: Collection[dict[str, Any]],
) -> None:
    collection.insert_many(random_records(11, 300))
    cone = {"$geoIntersects": {"$geometry": sky.cone_geojson(151.757, -40.436, 0.1)}}
    index = f"{FIELD}_2dsphere"
    shapes = {
        "alone": collection.find({FIELD: cone}).explain(),
        "beside another field": collection.find({FIELD: cone, "processingLevel": "L3"}).explain(),
        "first $match of a pipeline": collection.database.command(
            "explain",
            {"aggregate": collection.name, "cursor": {},
             "pipeline": [{"$match": {FIELD: cone}}, {"$match": {"processingLevel": "L3"}},
                          {"$sort": {"_id": 1}}, {"$limit": 20}]},
        ),
        "pole cone": collection.find(
            {FIELD: {"$geoIntersects": {"$geometry": sky.cone_geojson(0.0, 90.0, 1.0)}}}
        ).explain(),
        "cone across RA 0": collection.find(
            {FIELD: {"$geoIntersects": {"$geometry": sky.cone_geojson(0.0, 10.0, 0.5)}}}
        ).explain(),
    }
    for name, explained in shapes.items():
        stages = plan_stages(explained)
        assert ("IXSCAN", index) in stages, (name, stages)
        assert all(stage != "COLLSCAN" for stage, _ in stages), (name, stages)
