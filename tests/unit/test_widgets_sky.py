"""SkyView's pure geometry (projection, shapes, grid, box -> cone) and its Python side, with
plain records as fakes (no browser, no database)."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace
from typing import Any

import astropy.units as u
import pytest
from astropy.coordinates import SkyCoord

from jwstnb.widgets._format import LEVEL_COLOURS
from jwstnb.widgets.sky import (
    GRID_STEPS,
    Projection,
    SkyView,
    box_to_cone,
    grid_lines,
    make_scene,
    mean_direction,
    nice_step,
    record_shape,
)

SQUARE = "POLYGON ICRS 151.74 -40.45 151.78 -40.45 151.78 -40.42 151.74 -40.42"


def record(i: int, ra: float | None, dec: float | None, footprint: str | None = None,
           level: str = "L3") -> Any:
    return SimpleNamespace(
        id=f"id{i}", file_name=f"file{i}_i2d.fits", processing_level=level,
        image_info=SimpleNamespace(ra=ra, dec=dec, footprint=footprint),
    )


def test_ra_increases_to_the_left_and_dec_up() -> None:
    projection = Projection(151.757, -40.436)
    x, y = projection.to_plane([151.757, 151.857, 151.657, 151.757], [-40.436, -40.436,
                                                                       -40.436, -40.336])
    assert abs(x[0]) < 1e-12 and abs(y[0]) < 1e-12
    assert x[1] < 0 < x[2]  # higher RA: left (smaller x)
    assert y[3] > 0


def test_plane_is_gnomonic() -> None:
    """Distance from the centre on the plane is tan(separation), in degrees of the plane."""
    projection = Projection(30.0, 20.0)
    target = SkyCoord(30.0, 20.0, unit="deg").directional_offset_by(60 * u.deg, 10 * u.deg)
    x, y = projection.to_plane([target.ra.deg], [target.dec.deg])
    assert math.hypot(x[0], y[0]) == pytest.approx(math.degrees(math.tan(math.radians(10))),
                                                     rel=1e-9)


@pytest.mark.parametrize("centre_ra", [0.0, 359.999, 0.001])
def test_ra_wrap_at_zero(centre_ra: float) -> None:
    projection = Projection(centre_ra, 10.0)
    x, y = projection.to_plane([359.99, 0.01], [10.0, 10.0])
    assert x[0] > x[1]  # 359.99 is WEST of 0.01: right of it on the map
    assert abs(x[0] - x[1]) == pytest.approx(0.02 * math.cos(math.radians(10)), rel=1e-3)
    ra, _ = projection.to_sky(x, y)
    assert ra.tolist() == pytest.approx([359.99, 0.01], abs=1e-9)
    assert mean_direction([(359.99, 10.0), (0.01, 10.0)])[0] in (
        pytest.approx(0.0, abs=1e-9), pytest.approx(360.0, abs=1e-9))


@pytest.mark.parametrize("pole", [90.0, -90.0])
def test_near_the_pole(pole: float) -> None:
    sign = math.copysign(1.0, pole)
    records = [record(i, ra, sign * 89.95) for i, ra in enumerate((0.0, 90.0, 180.0, 270.0))]
    scene = make_scene(records)
    assert scene["centre"][1] == pytest.approx(pole, abs=1e-6)
    points = [s["point"] for s in scene["shapes"]]
    radii = [math.hypot(*p) for p in points]
    assert radii == pytest.approx([radii[0]] * 4, rel=1e-6)  # symmetric about the pole
    ra_lines = [g for g in scene["grid"] if g["kind"] == "ra"]
    assert len(ra_lines) >= 4  # a pole on the map: every RA meets there
    assert all(abs(g["value"]) < 90 for g in scene["grid"] if g["kind"] == "dec")


def test_points_off_the_map_are_counted_not_drawn() -> None:
    projection = Projection(0.0, 0.0)
    x, _ = projection.to_plane([179.0], [0.0])
    assert math.isnan(x[0])
    assert record_shape(record(1, 179.0, 0.0), projection) is None
    scene = make_scene([record(1, 0.0, 0.0), record(2, 170.0, 0.0)], centre=(0.0, 0.0))
    assert scene["counts"]["off_map"] == 1 and scene["counts"]["drawn"] == 1


def test_record_shapes_footprint_point_and_colour() -> None:
    projection = Projection(151.76, -40.435)
    shape = record_shape(record(1, 151.76, -40.435, SQUARE, level="L2b"), projection)
    assert shape is not None and shape["colour"] == LEVEL_COLOURS["L2b"]
    (ring,) = shape["polygons"]
    assert len(ring) == 4
    xs = [p[0] for p in ring]
    # the vertex at RA 151.74 is to the right (larger x) of the one at 151.78
    assert xs[0] > xs[1]
    point = record_shape(record(2, 151.76, -40.435), projection)
    assert point is not None and point["polygons"] == [] and point["point"] == [0.0, 0.0]
    assert record_shape(record(3, None, None), projection) is None
    circle = record_shape(record(4, 151.76, -40.435, "CIRCLE ICRS 151.76 -40.435 0.01"),
                          projection)
    assert circle is not None and len(circle["polygons"][0]) == 48
    radii = [math.hypot(*p) for p in circle["polygons"][0]]
    assert radii == pytest.approx([math.degrees(math.tan(math.radians(0.01)))] * 48, abs=2e-7)


def test_bad_footprint_falls_back_to_the_centre() -> None:
    shape = record_shape(record(1, 10.0, 10.0, "POLYGON nonsense"), Projection(10.0, 10.0))
    assert shape is not None and shape["polygons"] == [] and shape["point"] == [0.0, 0.0]


def test_scene_sorts_larger_first_and_extent_holds_everything() -> None:
    small = "POLYGON ICRS 151.755 -40.437 151.759 -40.437 151.759 -40.435 151.755 -40.435"
    scene = make_scene([record(1, 151.757, -40.436, small), record(2, 151.76, -40.435, SQUARE)])
    assert [s["id"] for s in scene["shapes"]] == ["id2", "id1"]
    x0, x1, y0, y1 = scene["extent"]
    for shape in scene["shapes"]:
        for x, y in shape["polygons"][0]:
            assert x0 < x < x1 and y0 < y < y1
    assert (x1 - x0) / (y1 - y0) == pytest.approx(4 / 3)


def test_cone_is_drawn_and_fits() -> None:
    scene = make_scene([record(1, 151.757, -40.436)], cone=(151.757, -40.436, 0.05))
    radius = math.degrees(math.tan(math.radians(0.05)))
    assert [math.hypot(*p) for p in scene["cone"]] == pytest.approx([radius] * 48, abs=2e-7)
    x0, x1, y0, y1 = scene["extent"]
    assert x1 - x0 > 2 * radius and y1 - y0 > 2 * radius


def test_nice_steps() -> None:
    assert nice_step(0.05) == pytest.approx(1 / 60)  # 3': three lines
    assert nice_step(0.01) == pytest.approx(10 / 3600)
    assert nice_step(3.0) == 1.0
    assert nice_step(1000.0) == 90.0
    assert all(a < b for a, b in itertools.pairwise(GRID_STEPS))


def test_grid_values_are_round_and_lines_lie_on_them() -> None:
    projection = Projection(151.757, -40.436)
    extent = [-0.05, 0.05, -0.04, 0.04]
    lines = grid_lines(projection, extent)
    for kind in ("ra", "dec"):
        values = sorted(g["value"] for g in lines if g["kind"] == kind)
        assert len(values) >= 2
        step = values[1] - values[0]
        assert any(step == pytest.approx(s) for s in GRID_STEPS)
        assert all(abs(v / step - round(v / step)) < 1e-6 for v in values)
    for line in lines:
        ra, dec = projection.to_sky(*zip(*line["points"], strict=True))
        if line["kind"] == "dec":
            assert dec.tolist() == pytest.approx([line["value"]] * len(dec), abs=1e-6)
        else:
            assert ra.tolist() == pytest.approx([line["value"]] * len(ra), abs=1e-6)
        ax, ay = line["anchor"]
        assert extent[0] <= ax <= extent[1] and extent[2] <= ay <= extent[3]
        assert line["label"].endswith("°")
    ra_lines = sorted((g for g in lines if g["kind"] == "ra"), key=lambda g: g["value"])
    assert ra_lines[0]["anchor"][0] > ra_lines[-1]["anchor"][0]  # RA grows to the left


def test_box_to_cone_contains_the_corners() -> None:
    projection = Projection(151.757, -40.436)
    ra, dec, radius = box_to_cone(projection, [-0.02, -0.01, 0.02, 0.01])
    assert (ra, dec) == (pytest.approx(151.757), pytest.approx(-40.436))
    assert radius == pytest.approx(math.hypot(0.02, 0.01), rel=1e-3)
    ra, _, _ = box_to_cone(projection, [0.01, -0.01, 0.03, 0.01])
    assert ra < 151.757  # a box right of the centre is at lower RA
    with pytest.raises(ValueError):
        box_to_cone(projection, [0, 0, 1])


def test_view_shows_a_page_selects_and_reports_regions() -> None:
    records = [record(1, 151.76, -40.435, SQUARE), record(2, 151.757, -40.436, level="L1"),
               record(3, None, None)]
    view = SkyView(SimpleNamespace(items=records, total=3))
    assert view.session is None and view.message == ""
    assert [s["id"] for s in view.scene["shapes"]] == ["id1", "id2"]
    assert "1 footprint" in view.caption and "1 without a position" in view.caption
    chosen: list[str | None] = []
    regions: list[tuple[float, float, float]] = []
    view.on_select(chosen.append)
    view.on_region(lambda *cone: regions.append(cone))
    view.selected_id = "id2"  # what a click in the browser does
    assert view.selected_record is records[1] and chosen == ["id2"]
    assert view.caption.startswith("Selected: file2_i2d.fits (L1)")
    view.box = [-0.01, -0.01, 0.01, 0.01]  # what a drag does
    assert len(regions) == 1 and regions[0][2] == pytest.approx(math.hypot(0.01, 0.01),
                                                                 rel=1e-3)
    assert view.region["radius"] == regions[0][2]
    view.select(None)
    assert chosen == ["id2", None] and view.selected_record is None
    with pytest.raises(ValueError):
        view.search(text="x")


class FakeSession:
    """What SkyView asks of a session: ``items``."""

    def __init__(self, records: list[Any]) -> None:
        self.records = records
        self.calls: list[dict[str, Any]] = []

    def items(self, **criteria: Any) -> list[Any]:
        self.calls.append(criteria)
        if criteria.get("text") == "boom":
            raise RuntimeError("server down")
        return self.records


def test_view_on_a_session_searches_and_follows_a_box() -> None:
    session = FakeSession([record(1, 151.757, -40.436, SQUARE)])
    view = SkyView(session, limit=100)
    assert view.message and not view.scene
    view.search(position="151.757 -40.436", radius=0.05, page_size=3)
    assert session.calls[-1] == {"position": "151.757 -40.436", "radius": 0.05, "page": 1,
                                 "page_size": 100}
    assert len(view.scene["cone"]) == 48 and view.message == ""
    view.box = [-0.01, -0.01, 0.01, 0.01]
    ra, dec = session.calls[-1]["position"]
    assert len(session.calls) == 2 and session.calls[-1]["radius"] == pytest.approx(
        view.region["radius"])
    assert (ra, dec) == (pytest.approx(view.region["ra"]), pytest.approx(view.region["dec"]))
    assert view.search(text="boom") == [] and "server down" in view.message


def test_coverage_cells_drawn_under_the_footprints() -> None:
    from jwstnb.interop import moc as interop_moc
    from jwstnb.widgets.sky import coverage_cells, make_scene

    footprint = "POLYGON ICRS 359.98 -2.02 0.02 -2.02 0.02 -1.98 359.98 -1.98"
    moc = interop_moc.coverage([footprint], max_order=12)
    rings = coverage_cells(moc)
    assert len(rings) == len(moc.uniq_hpx) and all(len(r) == 4 for r in rings)
    coarse = coverage_cells(moc, max_cells=4)
    assert 0 < len(coarse) <= 4  # coarser cells, still covering the footprint
    scene = make_scene([], coverage=rings)
    assert len(scene["coverage"]) == len(rings)
    x0, x1, y0, y1 = scene["extent"]
    assert all(x0 <= p[0] <= x1 and y0 <= p[1] <= y1 for r in scene["coverage"] for p in r)
    view = SkyView([record(1, 0.0, -2.0, footprint)])
    view.show_coverage(moc)
    assert view.scene["coverage"] and view.scene["shapes"]
    assert "coverage" in view.caption and "deg²" in view.caption
    view.show_coverage(None)
    assert view.scene["coverage"] == [] and "coverage" not in view.caption
