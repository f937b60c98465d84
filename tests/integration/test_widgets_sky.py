"""SkyView on a real session: the sample seeded into the test database (SecantusDB or
JWSTNB_TEST_MONGO_URI), searched by position and target, driven through the traits the
browser sets (``selected_id``, ``box``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from jwstnb import samples, sky
from jwstnb.session import Session
from jwstnb.storage import Storage
from jwstnb.widgets.sky import Projection, SkyView

pytestmark = pytest.mark.integration

NGC3132 = (151.757, -40.436)


@pytest.fixture
def reader(admin_session: Session, make_session: Callable[..., Session],
           tmp_path: Path) -> Session:
    """An anonymous session on a database holding the seeded sample."""
    samples.seed(admin_session, Storage(tmp_path.as_uri()))
    return make_session("anonymous")


def test_position_search_maps_every_match(reader: Session) -> None:
    view = SkyView(reader)
    records = view.search(position="151.757 -40.436", radius=0.05)
    expected = reader.search(position="151.757 -40.436", radius=0.05, page_size=500)
    assert {str(r.id) for r in records} == {str(r.id) for r in expected.items}
    assert expected.total == len(records) > 0
    scene = view.scene
    drawn = {s["id"] for s in scene["shapes"]}
    with_footprint = {str(r.id) for r in records if r.image_info and r.image_info.footprint}
    assert with_footprint and with_footprint <= {s["id"] for s in scene["shapes"]
                                                 if s["polygons"]}
    positioned = {str(r.id) for r in records if sky_position(r) is not None}
    assert drawn == positioned
    assert scene["counts"]["no_position"] == len(records) - len(positioned)
    # The map is centred on the results (NGC 3132) and the searched cone is drawn.
    centre = Projection(*scene["centre"])
    assert float(centre.separation([NGC3132[0]], [NGC3132[1]])[0]) < 0.05
    assert len(scene["cone"]) == 48
    # Every footprint vertex goes back to its STC-S vertex through the projection.
    record = next(r for r in records if r.image_info and r.image_info.footprint)
    shape = next(s for s in scene["shapes"] if s["id"] == str(record.id))
    ring = sky.parse_stcs(record.image_info.footprint).polygons[0]
    ra, dec = centre.to_sky(*zip(*shape["polygons"][0], strict=True))
    assert list(zip(ra.tolist(), dec.tolist(), strict=True)) == [
        (pytest.approx(a, abs=1e-6), pytest.approx(d, abs=1e-6)) for a, d in ring]


def sky_position(record: object) -> tuple[float, float] | None:
    info = getattr(record, "image_info", None)
    if info is None or info.ra is None or info.dec is None:
        return None
    return info.ra, info.dec


def test_target_search_click_and_drag(reader: Session) -> None:
    coord = sky.resolve("NGC 3132", reader)  # offline: the target is in the database
    assert coord.separation(coord.__class__(*NGC3132, unit="deg")).deg < 0.01
    view = SkyView(reader)
    records = view.search(position=coord, radius=0.1)
    assert records and all(sky.matches_cone(
        sky.parse_stcs(r.image_info.footprint) if r.image_info.footprint else None,
        sky_position(r), coord.ra.deg, coord.dec.deg, 0.1) for r in records)
    assert not any(r.image_info and r.image_info.target_name == "WASP-39" for r in records)

    chosen: list[str | None] = []
    view.on_select(chosen.append)
    target = view.scene["shapes"][-1]  # drawn last: on top
    view.selected_id = target["id"]
    assert chosen == [target["id"]] and str(view.selected_record.id) == target["id"]
    assert target["name"] in view.caption

    regions: list[tuple[float, float, float]] = []
    view.on_region(lambda *cone: regions.append(cone))
    x, y = target["point"]
    view.box = [x - 0.002, y - 0.002, x + 0.002, y + 0.002]
    (ra, dec, radius), = regions
    assert radius == pytest.approx(math.hypot(0.002, 0.002), rel=1e-2)
    after = {str(r.id) for r in view.records}
    again = {str(r.id) for r in reader.items(position=(ra, dec), radius=radius, page_size=500)}
    assert after == again and target["id"] in after
    assert view.criteria["position"] == (ra, dec)


def test_a_page_and_the_whole_sample(reader: Session) -> None:
    """Both targets on one map: 60 degrees apart, both on the plane, RA to the left."""
    page = reader.search(page_size=100)
    view = SkyView(page)
    assert view.session is None and len(view.records) == len(page.items)
    shapes = view.scene["shapes"]
    names = {s["name"]: s for s in shapes}
    wasp = next(s for n, s in names.items() if n.startswith("jw01366") and s["point"])
    ngc = next(s for n, s in names.items() if n.startswith("jw02733") and s["point"])
    assert wasp["point"][0] < ngc["point"][0]  # WASP-39 (RA 217) left of NGC 3132 (RA 152)
    assert view.scene["counts"]["off_map"] == 0


def test_the_search_panel_drives_and_follows_its_sky_view(reader: Session) -> None:
    """SearchPanel(sky=True): the map shows the page; a click on a footprint selects the row
    (and shows its details); a dragged box becomes the panel's position filter."""
    from jwstnb.widgets import SearchPanel

    panel = SearchPanel(reader, sky=True, background_counts=False)
    panel.set_position(*NGC3132, 0.05)
    panel.search_now()
    view = panel.sky_view
    assert view is not None and view in panel.children
    shown = {s["id"] for s in view.scene["shapes"]}
    assert shown and shown <= {row["id"] for row in panel.results}
    picked = sorted(shown)[0]
    view.selected_id = picked  # what a click in the browser sets
    assert panel.selected is not None and panel.selected["id"] == picked
    assert picked in panel.details_html.value or panel.selected_record is not None
    panel.select(None)
    assert view.selected_id in ("", None)
    # a box dragged around the nebula: the panel searches that cone
    half = 0.01
    view.box = [-half, -half, half, half]
    assert panel.position is not None and panel.radius > 0
    assert abs(panel.position[0] - view.region["ra"]) < 1e-9
