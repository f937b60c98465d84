"""Region searches in every intersect mode, target lists, ranges, times and exclusions on
the real server, for the three scopes (anonymous, user, admin), against brute force over the
inserted records; and ``explain``: index scans only (no COLLSCAN) for a region, a target
list and each range.

Wavelength ranges are checked against the bands of :func:`jwstnb.naming.band`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from jwstnb import naming, sky
from jwstnb.schema import ImageMetadata, JwstDataModel
from jwstnb.session import Session

pytestmark = pytest.mark.integration

SCOPES = {"anonymous": lambda s: s.anonymous(), "user": lambda s: s.as_user("alice"),
          "admin": lambda s: s}
HOT_SPOTS = [(0.0, 0.0), (359.9, 30.0), (45.0, 89.7), (200.0, -89.6), (151.76, -40.44)]
# The tests' filters (their bands come from naming's table, with the instrument).
BANDS = ("F090W", "F200W", "F444W", "F770W", "CLEAR")
LEVELS = ["L1", "L2a", "L2b", "L3"]
INSTRUMENTS = ["NIRCAM", "MIRI", "NIRISS"]
EPOCH = datetime(2022, 7, 1, tzinfo=UTC)


def _offset(ra: float, dec: float, bearing: float, distance: float) -> tuple[float, float]:
    at = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(bearing * u.deg,
                                                                 distance * u.deg)
    return float(at.ra.deg) % 360.0, float(at.dec.deg)


def _footprint(kind: str, ra: float, dec: float, size: float, rng: random.Random) -> str | None:
    if kind == "circle":
        return f"CIRCLE ICRS {ra!r} {dec!r} {size!r}"
    if kind == "centre":
        return None
    spin = rng.uniform(0, 90)
    corners = [_offset(ra, dec, spin + b, size) for b in (45, 135, 225, 315)]
    ring = " ".join(f"{a!r} {d!r}" for a, d in corners)
    if kind == "union":
        far = _offset(ra, dec, spin, 3 * size)
        other = [_offset(*far, spin + b, size / 2) for b in (45, 135, 225, 315)]
        return (f"UNION ICRS ( POLYGON {ring} POLYGON "
                + " ".join(f"{a!r} {d!r}" for a, d in other) + " )")
    return f"POLYGON ICRS {ring}"


@pytest.fixture(scope="module")
def archive(request: pytest.FixtureRequest) -> Iterator[tuple[Session, list[dict[str, Any]]]]:
    """240 records around the hot spots with footprints of every kind, owners, levels,
    instruments, filters, exposure times and dates; the truth kept for brute force."""
    from jwstnb.session import connect

    uri = request.getfixturevalue("mongo_uri")
    session = connect(uri, admin=True, database=f"jwstnb_region_{random.getrandbits(32):08x}")
    rng = random.Random(20261205)
    truth = []
    try:
        for i in range(240):
            spot = HOT_SPOTS[i % len(HOT_SPOTS)]
            ra, dec = _offset(*spot, rng.uniform(0, 360), rng.uniform(0, 1.5))
            kind = ("polygon", "circle", "union", "centre")[i % 4]
            size = rng.choice([0.002, 0.05, 0.2, 0.6])
            text = _footprint(kind, ra, dec, size, rng)
            owner = rng.choice([None, "alice", "bob"])
            public = owner is None or rng.random() < 0.3
            row = {
                "ra": ra, "dec": dec, "footprint": text, "owner": owner, "public": public,
                "level": rng.choice(LEVELS), "instrument": rng.choice(INSTRUMENTS),
                "filter": rng.choice(list(BANDS)), "exposure": rng.choice([None, 10.0,
                                                                           150.5, 1200.0]),
                "date": EPOCH + timedelta(days=rng.randrange(0, 400)),
                "program": rng.choice(["02733", "01234"]), "target": f"field {i % 7}",
            }
            row["id"] = session.insert(JwstDataModel(
                file_name=f"jw{row['program']}001001_02101_{i:05d}_nrca1_cal.fits",
                data_type="image", user_id=owner, is_public=public,
                processing_level=row["level"],
                image_info=ImageMetadata(
                    ra=ra, dec=dec, footprint=text, instrument=row["instrument"],
                    filter=row["filter"], exposure_time=row["exposure"],
                    observation_date=row["date"], target_name=row["target"]),
            ))
            truth.append(row)
        yield session, truth
    finally:
        session.client.drop_database(session.database_name)
        session.close()


def _readable(row: dict[str, Any], scope: str) -> bool:
    return scope == "admin" or row["public"] or (scope == "user" and row["owner"] == "alice")


def _ids(items: Any) -> set[str]:
    return {str(r.id) for r in items}


REGIONS = {
    "polygon across RA 0": "POLYGON ICRS 359.2 -0.8 0.9 -0.6 0.6 0.9 359.5 0.7",
    "box on RA 0/360 at +30": "BOX ICRS 359.95 30.0 2.0 1.5",
    "polygon around the north pole": "POLYGON ICRS 0 89.0 90 89.0 180 89.0 270 89.0",
    "circle on the south pole": "CIRCLE ICRS 0 -90 1.0",
    "concave field": "POLYGON ICRS 151.0 -41.0 152.5 -41.0 152.5 -39.8 151.76 -40.6 151.0 -39.8",
}


@pytest.mark.parametrize("mode", sky.INTERSECT_MODES)
@pytest.mark.parametrize("name", list(REGIONS))
def test_region_search_equals_brute_force_in_every_scope(
    archive: tuple[Session, list[dict[str, Any]]], name: str, mode: str
) -> None:
    session, truth = archive
    region = REGIONS[name]
    query = sky.SkyQuery(region=sky.parse_region(region), intersect=mode)
    matched = {r["id"] for r in truth
               if query.matches(sky.read_footprint(r["footprint"]), (r["ra"], r["dec"]))}
    for scope, view in SCOPES.items():
        s = view(session)
        want = {r["id"] for r in truth if r["id"] in matched and _readable(r, scope)}
        page = s.search(region=region, intersect=mode, page_size=500)
        assert _ids(page.items) == want, (name, mode, scope)
        assert page.total == len(want) == sum(page.facets["instrument"].values())
    assert matched or mode in ("covers", "enclosed")  # every region meets the archive


def test_region_forms_agree_and_combine_with_criteria(
    archive: tuple[Session, list[dict[str, Any]]],
) -> None:
    from regions import PolygonSkyRegion, RectangleSkyRegion

    session, truth = archive
    vertices = [(151.0, -41.0), (152.5, -41.0), (152.5, -39.8), (151.0, -39.8)]
    text = "POLYGON ICRS " + " ".join(f"{a} {d}" for a, d in vertices)
    by_text = _ids(session.items(region=text, page_size=500))
    by_list = _ids(session.items(region=vertices, page_size=500))
    by_regions = _ids(session.items(region=PolygonSkyRegion(
        SkyCoord(*map(list, zip(*vertices, strict=True)), unit="deg")), page_size=500))
    assert by_text == by_list == by_regions and by_text
    box = RectangleSkyRegion(SkyCoord(151.76, -40.44, unit="deg"), 1 * u.deg, 1 * u.deg)
    inside = session.items(region=box, intersect="center", instrument="MIRI", page_size=500)
    query = sky.SkyQuery(region=sky.parse_region(box), intersect="center")
    assert _ids(inside) == {r["id"] for r in truth if r["instrument"] == "MIRI" and
                            query.matches(sky.read_footprint(r["footprint"]),
                                          (r["ra"], r["dec"]))}
    # A cone takes the modes too: radius 0 with covers is "footprints holding this point".
    point = _ids(session.items(position=(151.76, -40.44), radius=0, intersect="covers",
                               page_size=500))
    assert point == _ids(session.items(position=(151.76, -40.44), radius=0, page_size=500))


def test_ranges_times_and_exclusions_equal_brute_force(
    archive: tuple[Session, list[dict[str, Any]]],
) -> None:
    session, truth = archive

    def band_overlaps(row: dict[str, Any], low: float | None, high: float | None) -> bool:
        band = naming.band(row["filter"], row["instrument"])  # as the record's is derived
        return band is not None and (low is None or band[1] >= low) and (
            high is None or band[0] <= high)

    cases: list[tuple[dict[str, Any], Any]] = [
        ({"exposure_time": (100, None)},
         lambda r: r["exposure"] is not None and r["exposure"] >= 100),
        ({"exposure_time": (5 * u.s, 3 * u.min)},
         lambda r: r["exposure"] is not None and 5 <= r["exposure"] <= 180),
        ({"wavelength": (1.5 * u.um, 2500 * u.nm)}, lambda r: band_overlaps(r, 1.5, 2.5)),
        ({"wavelength": (5.0, None)}, lambda r: band_overlaps(r, 5.0, None)),
        ({"wavelength": (None, 1.0)}, lambda r: band_overlaps(r, None, 1.0)),
        ({"calib_level": [2, 3]}, lambda r: r["level"] in ("L2a", "L2b", "L3")),
        ({"calib_level": 1}, lambda r: r["level"] == "L1"),
        ({"observed_from": Time("2022-10-01"), "observed_to": 59900.0},
         lambda r: datetime(2022, 10, 1, tzinfo=UTC) <= r["date"]
         <= datetime(2022, 11, 17, tzinfo=UTC)),
        ({"observed_from": "2023-01-01", "observed_to": datetime(2023, 3, 1)},
         lambda r: datetime(2023, 1, 1, tzinfo=UTC) <= r["date"]
         <= datetime(2023, 3, 1, tzinfo=UTC)),
        ({"exclude_instrument": "miri"}, lambda r: r["instrument"] != "MIRI"),
        ({"exclude_processing_level": ["L1", "L2a"], "exclude_filter": "F444W"},
         lambda r: r["level"] not in ("L1", "L2a") and r["filter"] != "F444W"),
        ({"exclude_program": 2733, "instrument": "NIRCAM"},
         lambda r: r["program"] != "02733" and r["instrument"] == "NIRCAM"),
        ({"exclude_target_name": ["field 1", "field 2"], "calib_level": 3,
          "wavelength": (1.0, 5.0)},
         lambda r: r["level"] == "L3" and band_overlaps(r, 1.0, 5.0)
         and r["target"] not in ("field 1", "field 2")),
    ]
    for criteria, rule in cases:
        for scope, view in SCOPES.items():
            s = view(session)
            want = {r["id"] for r in truth if _readable(r, scope) and rule(r)}
            page = s.search(**criteria, page_size=500)
            assert _ids(page.items) == want, (criteria, scope)
            assert page.total == len(want)


@pytest.mark.parametrize("role", list(SCOPES))
def test_search_targets_equals_one_search_per_target(
    archive: tuple[Session, list[dict[str, Any]]], role: str
) -> None:
    session, _ = archive
    s = SCOPES[role](session)
    rng = random.Random(7)
    targets = [_offset(*HOT_SPOTS[k % len(HOT_SPOTS)], rng.uniform(0, 360), rng.uniform(0, 1.5))
               for k in range(200 if role == "admin" else 40)]
    coords = SkyCoord([t[0] for t in targets], [t[1] for t in targets], unit="deg")
    radius = 0.05 * u.deg
    table = s.search_targets(coords, radius=radius)
    assert table.colnames[0] == "target_index"
    found = 0
    for k, target in enumerate(targets):
        single = s.search(position=target, radius=radius, page_size=500)
        rows = table[table["target_index"] == k]
        assert list(rows["id"]) == [str(r.id) for r in single.items], k
        found += len(rows)
    assert found == len(table) > 0
    # The same from a Table of ra/dec, from text, and with other criteria.
    as_table = s.search_targets(Table({"ra": coords.ra.deg, "dec": coords.dec.deg}),
                                radius=0.05)
    assert list(as_table["id"]) == list(table["id"])
    text = "\n".join(f"{a} {d}" for a, d in targets[:5])
    assert len(s.search_targets(text, radius=0.05)) == int((table["target_index"] < 5).sum())
    miri = s.search_targets(coords[:20], radius=radius, instrument="MIRI")
    assert set(miri["instrument"]) <= {"MIRI"}


def test_search_targets_resolves_names_from_the_archive(
    archive: tuple[Session, list[dict[str, Any]]],
) -> None:
    session, _ = archive
    table = session.search_targets(Table({"name": ["field 3"]}), radius=0.01)
    assert len(table) >= 1 and set(table["target_index"]) == {0}


@pytest.mark.parametrize("role", list(SCOPES))
def test_region_targets_and_ranges_read_indexes_only(
    archive: tuple[Session, list[dict[str, Any]]], role: str
) -> None:
    """Explain: index scans only, and the index each plan is built for, leads."""
    session, _ = archive
    s = SCOPES[role](session)
    secantus = session.planner.name == "secantus"
    sky_lead = "skyCells_1" if secantus else "skyRegion_2dsphere"
    region = {"region": REGIONS["concave field"]}
    for mode in sky.INTERSECT_MODES:
        plan = s.explain("candidates", **region, intersect=mode)
        assert "COLLSCAN" not in plan["stages"] and "IXSCAN" in plan["stages"], plan["stages"]
        assert plan["indexes"][0] == sky_lead == plan["expected_index"]
        for operation in ("search", "counts"):
            plan = s.explain(operation, **region, intersect=mode)
            assert "COLLSCAN" not in plan["stages"], (operation, plan["stages"])
    targets = SkyCoord([0.1, 151.7, 45.0], [0.2, -40.4, 89.7], unit="deg")
    plan = s.explain("targets", targets=targets, radius=5 * u.arcsec)
    assert "COLLSCAN" not in plan["stages"] and "IXSCAN" in plan["stages"]
    assert plan["indexes"][0] == sky_lead == plan["expected_index"]
    ranges = [
        ({"exposure_time": (100, 200)}, "imageInfo.exposureTime_1"),
        ({"wavelength": (1.5, None)}, "emMax_1"),
        ({"wavelength": (None, 2.5)}, "emMin_1"),
        ({"wavelength": (1.5, 2.5)}, "emMax_1"),
        ({"calib_level": [2, 3]}, "processingLevel_1"),
        ({"observed_from": Time("2022-10-01"), "observed_to": 59900.0},
         "imageInfo.observationDate_1"),
    ]
    for criteria, index in ranges:
        for operation in ("search", "count", "counts"):
            plan = s.explain(operation, **criteria)
            assert "COLLSCAN" not in plan["stages"], (criteria, operation, plan["stages"])
            assert "IXSCAN" in plan["stages"]
            if secantus and operation != "search":
                assert plan["indexes"][0] == index == plan["expected_index"], (criteria, plan)
    plan = s.explain("search", exclude_instrument="MIRI")
    assert "COLLSCAN" not in plan["stages"]


def test_bad_criteria_name_the_argument(archive: tuple[Session, list[dict[str, Any]]]) -> None:
    from jwstnb.errors import ValidationError

    session, _ = archive
    for bad, word in ((dict(region="POLYGON ICRS 1 2"), "region"),
                      (dict(region="CIRCLE ICRS 1 2 1", intersect="touches"), "intersect"),
                      (dict(exposure_time=(10, 1)), "exposure_time"),
                      (dict(wavelength=(1 * u.s, None)), "wavelength"),
                      (dict(calib_level=9), "calib_level"),
                      (dict(observed_from="soon"), "observed_from"),
                      (dict(region="CIRCLE ICRS 1 2 1", position=(1, 2)), "region")):
        with pytest.raises(ValidationError, match=word):
            session.search(**bad)
    with pytest.raises(ValidationError, match="targets"):
        session.search_targets([], radius=1)
