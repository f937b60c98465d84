"""search(position=, radius=) on the real server equals brute-force great-circle geometry
(astropy separations) for every scope: random cones over records near RA 0/360, both poles
and elsewhere, with circle footprints, box footprints and centre-only records."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwstnb.schema import ImageMetadata, JwstDataModel
from jwstnb.session import Session

pytestmark = pytest.mark.integration

HOT_SPOTS = [(0.0, 0.0), (359.9, 10.0), (120.0, 89.5), (300.0, -89.6), (151.76, -40.44)]
SCOPES = {"anonymous": lambda s: s.anonymous(), "user": lambda s: s.as_user("alice"),
          "admin": lambda s: s}


def _offset(ra: float, dec: float, rng: random.Random, spread: float) -> tuple[float, float]:
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    moved = centre.directional_offset_by(rng.uniform(0, 360) * u.deg,
                                         rng.uniform(0, spread) * u.deg)
    return float(moved.ra.deg) % 360.0, float(moved.dec.deg)


@pytest.fixture(scope="module")
def sky_records(request: pytest.FixtureRequest) -> Iterator[tuple[Session, list[dict[str, Any]]]]:
    """~150 records around the hot spots: (id, centre, shape, readers) kept for brute force."""
    from jwstnb.session import connect

    uri = request.getfixturevalue("mongo_uri")
    session = connect(uri, admin=True, database=f"jwstnb_sky_{random.getrandbits(32):08x}")
    rng = random.Random(20261201)
    truth = []
    try:
        for i in range(150):
            spot = HOT_SPOTS[i % len(HOT_SPOTS)]
            ra, dec = _offset(*spot, rng, 3.0)
            kind = ("circle", "box", "centre")[i % 3]
            size = rng.choice([0.0005, 0.01, 0.1, 0.5])
            if kind == "circle":
                footprint = f"CIRCLE ICRS {ra!r} {dec!r} {size!r}"
            elif kind == "box" and abs(dec) < 80:
                footprint = f"BOX ICRS {ra!r} {dec!r} {size!r} {size!r}"
            else:
                kind, footprint = "centre", None
            owner = rng.choice([None, "alice", "bob"])
            public = owner is None or rng.random() < 0.3
            rid = session.insert(JwstDataModel(
                file_name=f"sky{i:03d}_i2d.fits", data_type="image", user_id=owner,
                is_public=public,
                image_info=ImageMetadata(ra=ra, dec=dec, footprint=footprint),
            ))
            truth.append({"id": rid, "ra": ra, "dec": dec, "kind": kind, "size": size,
                          "owner": owner, "public": public})
        yield session, truth
    finally:
        session.client.drop_database(session.database_name)
        session.close()


def _readable(row: dict[str, Any], scope: str) -> bool:
    return scope == "admin" or row["public"] or (scope == "user" and row["owner"] == "alice")


_BOUNDARIES: dict[str, SkyCoord] = {}


def _boundary(row: dict[str, Any]) -> SkyCoord:
    """Dense samples along a box footprint's great-circle edges (astropy, vectorised)."""
    from jwstnb import sky

    if row["id"] not in _BOUNDARIES:
        fp = sky.parse_stcs(
            f"BOX ICRS {row['ra']!r} {row['dec']!r} {row['size']!r} {row['size']!r}")
        ring = fp.polygons[0]
        parts = []
        steps = np.linspace(0, 1, 1000)
        for (a_ra, a_dec), (b_ra, b_dec) in zip(ring, [*ring[1:], ring[0]], strict=True):
            a, b = SkyCoord(a_ra * u.deg, a_dec * u.deg), SkyCoord(b_ra * u.deg, b_dec * u.deg)
            moved = a.directional_offset_by(a.position_angle(b), a.separation(b) * steps)
            parts.append(np.column_stack([moved.ra.deg, moved.dec.deg]))
        points = np.vstack(parts)
        _BOUNDARIES[row["id"]] = SkyCoord(points[:, 0] * u.deg, points[:, 1] * u.deg)
    return _BOUNDARIES[row["id"]]


def _box_overlaps(row: dict[str, Any], centre: SkyCoord, radius: float) -> bool:
    """A box footprint against a cone: a boundary point within the radius, or the cone's
    centre inside the box (closer to the box centre than the box's nearest edge is)."""
    nearest = float(np.min(_boundary(row).separation(centre).deg))
    if nearest <= radius:
        return True
    return bool(_polygon(row).contains_radec(float(centre.ra.deg), float(centre.dec.deg)))


_POLYGONS: dict[str, Any] = {}


def _polygon(row: dict[str, Any]) -> Any:
    """The box as spherical-geometry's polygon (its inside test is independent of jwstnb)."""
    from spherical_geometry.polygon import SphericalPolygon

    from jwstnb import sky

    if row["id"] not in _POLYGONS:
        ring = sky.parse_stcs(
            f"BOX ICRS {row['ra']!r} {row['dec']!r} {row['size']!r} {row['size']!r}"
        ).polygons[0]
        _POLYGONS[row["id"]] = SphericalPolygon.from_radec(
            [v[0] for v in ring], [v[1] for v in ring], center=(row["ra"], row["dec"]),
            degrees=True)
    return _POLYGONS[row["id"]]


def _brute_force(truth: list[dict[str, Any]], ra: float, dec: float, radius: float,
                 scope: str) -> set[str]:
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    centres = SkyCoord([r["ra"] for r in truth] * u.deg, [r["dec"] for r in truth] * u.deg)
    seps = centres.separation(centre).deg
    out = set()
    for row, sep in zip(truth, seps, strict=True):
        if not _readable(row, scope):
            continue
        if row["kind"] == "centre":
            hit = sep <= radius
        elif row["kind"] == "circle":
            hit = sep <= radius + row["size"]
        else:
            hit = sep <= radius + row["size"] and _box_overlaps(row, centre, radius)
        if hit:
            out.add(row["id"])
    return out


cones = st.tuples(
    st.sampled_from(HOT_SPOTS),
    st.floats(0, 360), st.floats(0, 4),
    st.one_of(st.just(0.0), st.floats(-3.4, 1.5).map(lambda e: 10**e)),  # 0, 1.4" .. 30 deg
)


@settings(
    max_examples=12, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cone=cones)
def test_cone_search_equals_brute_force_for_every_scope(
    sky_records: tuple[Session, list[dict[str, Any]]], cone: tuple[Any, float, float, float]
) -> None:
    session, truth = sky_records
    spot, angle, distance, radius = cone
    centre = SkyCoord(spot[0] * u.deg, spot[1] * u.deg).directional_offset_by(
        angle * u.deg, distance * u.deg)
    ra, dec = float(centre.ra.deg) % 360.0, float(centre.dec.deg)
    for scope, view in SCOPES.items():
        s = view(session)
        want = _brute_force(truth, ra, dec, radius, scope)
        got = {str(r.id) for r in s.items(position=(ra, dec), radius=radius, page_size=500)}
        differ = [r for r in truth if r["id"] in got ^ want]
        assert got == want, (scope, ra, dec, radius, differ)
        counts = s.counts(position=(ra, dec), radius=radius)
        assert counts.total == len(want)
        assert sum(counts.facets["data_type"].values()) == len(want)


def test_position_forms_and_other_criteria_combine(
    sky_records: tuple[Session, list[dict[str, Any]]],
) -> None:
    session, truth = sky_records
    near = {r["id"] for r in truth if r["kind"] != "box"} & _brute_force(
        truth, 151.76, -40.44, 3.5, "admin")
    by_string = {str(r.id) for r in session.items(
        position="10h07m02.4s -40d26m24s", radius=3.5 * u.deg, page_size=500)}
    by_coord = {str(r.id) for r in session.items(
        position=SkyCoord(151.76, -40.44, unit="deg"), radius="3.5 deg", page_size=500)}
    assert by_string == by_coord
    assert near <= by_string
    mine = session.as_user("alice").items(position=(151.76, -40.44), radius=3.5, text="sky",
                                          page_size=500)
    assert {str(r.id) for r in mine} == _brute_force(truth, 151.76, -40.44, 3.5, "user")


@pytest.mark.parametrize("role", list(SCOPES))
def test_every_sky_search_shape_leads_with_the_geo_index(
    sky_records: tuple[Session, list[dict[str, Any]]], role: str
) -> None:
    """The position index leads every sky search: the 2dsphere index on MongoDB; on
    SecantusDB, whose 2dsphere lookups return a whole cube face, the HEALPix cells find the
    candidates, and the ids the exact test keeps lead the page and counts."""
    session, _truth = sky_records
    s = SCOPES[role](session)
    secantus = session.planner.name == "secantus"
    lead = "skyCells_1" if secantus else "skyRegion_2dsphere"
    for shape in ({"radius": 0.1}, {"radius": 0}, {"radius": 20}, {"radius": 0.1, "text": "sky"},
                  {"radius": 0.1, "data_type": "image", "processing_level": "L3"}):
        plan = s.explain("candidates", position=(151.76, -40.44), **shape)
        assert "COLLSCAN" not in plan["stages"], (shape, plan["stages"])
        assert plan["indexes"][0] == lead == plan["expected_index"], (shape, plan)
        first, *rest = (stage["$match"] for stage in plan["pipeline"] if "$match" in stage)
        if secantus:
            assert list(first) == ["skyCells"] and "$geoIntersects" in rest[0]["skyRegion"]
        else:
            assert "$geoIntersects" in first["skyRegion"]
        for operation in ("search", "count", "counts"):
            plan = s.explain(operation, position=(151.76, -40.44), **shape)
            assert "COLLSCAN" not in plan["stages"], (operation, shape, plan["stages"])
            expected = "_id_" if secantus else lead
            assert plan["indexes"][0] == expected == plan["expected_index"], (operation, plan)
            first = plan["pipeline"][0]["$match"]
            if secantus:
                assert list(first) == ["_id"] and list(first["_id"]) == ["$in"]
            else:
                assert "$geoIntersects" in first["skyRegion"]


@pytest.mark.parametrize("limit", [0, 200_000])
def test_records_between_the_cones_polygon_and_the_cone_are_left_out(
    mongo_uri: str, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """Centres just outside a 1 degree cone, inside the polygon sent for it, are candidates
    the exact test rejects; they stay out of the page, total and facets whether the matches
    lead by id or (past the id-lead limit) the position index leads again."""
    from jwstnb.criteria import Criteria
    from jwstnb.session import connect
    from jwstnb.session.planners import secantus

    monkeypatch.setattr(secantus, "ID_LEAD_LIMIT", limit)
    session = connect(mongo_uri, admin=True, database=f"jwstnb_rim_{random.getrandbits(32):08x}")
    centre = SkyCoord(151.76 * u.deg, -40.44 * u.deg)
    try:
        inside, rim = set(), set()
        for i, bearing in enumerate(range(0, 360, 5)):
            for distance, kept in ((0.99, inside), (1.004, rim)):
                at = centre.directional_offset_by(bearing * u.deg, distance * u.deg)
                kept.add(session.insert(JwstDataModel(
                    file_name=f"rim{i:02d}_{distance}_i2d.fits", data_type="image",
                    is_public=True,
                    image_info=ImageMetadata(ra=float(at.ra.deg), dec=float(at.dec.deg)))))
        cone = {"position": (151.76, -40.44), "radius": 1.0}
        test = session._sky_test(Criteria.model_validate(cone))
        assert test is not None and test.outside and set(map(str, test.outside)) <= rim
        page = session.search(**cone, page_size=500)
        assert {str(r.id) for r in page.items} == inside
        assert page.total == len(inside) == sum(page.facets["data_type"].values())
        assert session.count(**cone) == len(inside)
        plan = session.explain("search", **cone)
        assert "COLLSCAN" not in plan["stages"]
        lead = "skyCells_1" if limit == 0 else "_id_"
        assert plan["indexes"][0] == plan["expected_index"] == (
            lead if session.planner.name == "secantus" else "skyRegion_2dsphere")
    finally:
        session.client.drop_database(session.database_name)


def test_records_written_before_the_cell_index_get_their_cells(mongo_uri: str) -> None:
    """A database an earlier jwstnb wrote (no skyCells, no cell index): the first
    ensure_indexes gives every positioned record its cells, and position search finds them."""
    from jwstnb.session import connect

    session = connect(mongo_uri, admin=True, database=f"jwstnb_old_{random.getrandbits(32):08x}")
    try:
        ids = []
        for i, (ra, dec) in enumerate([(151.76, -40.44), (151.80, -40.40), (10.0, 10.0)]):
            ids.append(session.insert(JwstDataModel(
                file_name=f"old{i}_i2d.fits", data_type="image", is_public=True,
                image_info=ImageMetadata(ra=ra, dec=dec,
                                         footprint=f"CIRCLE ICRS {ra} {dec} 0.01"))))
        session.insert(JwstDataModel(file_name="nowhere_i2d.fits", data_type="image"))
        session.collection.drop_index("skyCells_1")
        session.collection.update_many({}, {"$unset": {"skyCells": ""}})
        assert session.ensure_indexes().count("skyCells_1") == 1
        stored = {str(d["_id"]): d.get("skyCells") for d in session.collection.find()}
        assert all(stored[i] for i in ids) and len(stored) == 4
        found = {str(r.id) for r in session.items(position=(151.76, -40.44), radius=0.1)}
        assert found == set(ids[:2])
        assert session._fill_sky_cells() == 0  # nothing left to fill
    finally:
        session.client.drop_database(session.database_name)
        session.close()
