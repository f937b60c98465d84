"""LineageViewer against the real test database: columns, counts, edges, clicks, switching,
and an observation of 2,000 files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jwstnb.session import Session
from jwstnb.widgets import LineageViewer
from jwstnb.widgets._format import LEVEL_COLOURS
from tests.browser.data import insert_all, lineage_records

pytestmark = pytest.mark.integration

SMALL = "jw01111-o001_t001_nircam"
OTHER = "jw02222-o003_t002_miri"


@pytest.fixture
def reader(admin_session: Session, make_session: Callable[..., Session]) -> Session:
    insert_all(admin_session, lineage_records(SMALL, 4))  # 14 files
    insert_all(admin_session, lineage_records(OTHER, 2, instrument="MIRI", filter="F770W"))
    return make_session("anonymous")


def _ids(viewer: LineageViewer) -> dict[str, str]:
    """file name -> record id of the files the viewer drew."""
    return {n[1]: n[0] for n in viewer.graph.graph["nodes"]}


def test_columns_counts_colours_and_edges(reader: Session) -> None:
    viewer = LineageViewer(reader, SMALL)
    assert viewer.state == "ready"
    assert viewer.counts == {"L1": 4, "L2a": 4, "L2b": 4, "L3": 2, "unknown": 0}
    graph = viewer.graph.graph
    assert [c["level"] for c in graph["columns"]] == ["L1", "L2a", "L2b", "L3", "unknown"]
    assert all(c["colour"] == LEVEL_COLOURS[c["level"]] for c in graph["columns"])
    # 4 x (uncal->rate, rate->cal) + 4 cal->i2d + i2d->cat
    assert len(graph["edges"]) == 13
    names = [n[1] for n in graph["nodes"]]
    edges = {(names[p], names[c]) for p, c in graph["edges"]}
    assert ("jw01111001001_02101_00001_nrca1_uncal.fits",
            "jw01111001001_02101_00001_nrca1_rate.fits") in edges
    # Every L2a file sits in the row of its L1 parent.
    rows = {n[1]: n[3] for n in graph["nodes"]}
    for i in range(1, 5):
        stem = f"jw01111001001_02101_{i:05d}_nrca1"
        assert rows[f"{stem}_uncal.fits"] == rows[f"{stem}_rate.fits"] == rows[f"{stem}_cal.fits"]
    assert "14 files, 13 links" in viewer.summary.value
    for level in ("L1", "L2a", "L2b", "L3", "unknown"):
        assert LEVEL_COLOURS[level] in viewer.summary.value


def test_clicking_a_file_shows_its_details(reader: Session) -> None:
    viewer = LineageViewer(reader, SMALL)
    ids = _ids(viewer)
    cal = "jw01111001001_02101_00002_nrca1_cal.fits"
    viewer.graph.selected_id = ids[cal]  # what a click on the node does in the browser
    assert viewer.selected_id == ids[cal]
    assert viewer.selected["file_name"] == cal
    assert viewer.selected["processing_level"] == "L2b"
    details = viewer.details_html.value
    assert cal in details
    assert "<b>From</b> (1): jw01111001001_02101_00002_nrca1_rate.fits" in details
    assert "<b>To</b> (1): jw01111-o001_t001_nircam_clear-f200w_i2d.fits" in details
    # select() is the same thing from Python, and it reaches the view.
    i2d = ids["jw01111-o001_t001_nircam_clear-f200w_i2d.fits"]
    viewer.select(i2d)
    assert viewer.graph.selected_id == i2d
    assert "<b>From</b> (4)" in viewer.details_html.value
    viewer.select(None)
    assert viewer.selected is None and "Click a file" in viewer.details_html.value


def test_selecting_an_id_outside_the_observation_is_explained(reader: Session) -> None:
    viewer = LineageViewer(reader, SMALL)
    viewer.select("0123456789abcdef01234567")
    assert viewer.selected is None
    assert "is not a file of jw01111-o001_t001_nircam" in viewer.details_html.value


def test_switching_observations(reader: Session) -> None:
    viewer = LineageViewer(reader, SMALL)
    assert viewer.observations == [SMALL, OTHER]
    assert list(viewer.observation_dropdown.options) == [SMALL, OTHER]
    viewer.select(next(iter(_ids(viewer).values())))
    viewer.observation_dropdown.value = OTHER  # the selector in the browser
    assert viewer.observation_base_id == OTHER
    assert viewer.counts == {"L1": 2, "L2a": 2, "L2b": 2, "L3": 2, "unknown": 0}
    assert viewer.selected is None and viewer.selected_id == ""
    assert all("jw02222" in name for name in _ids(viewer))
    viewer.show(SMALL)
    assert viewer.observation_dropdown.value == SMALL and viewer.counts["L1"] == 4


def test_unknown_observation_is_a_readable_error(reader: Session) -> None:
    viewer = LineageViewer(reader, "jw00000-o000_t000_nothing")
    assert viewer.state == "error"
    assert "no readable records of observation" in viewer.status_text
    assert viewer.graph.message == viewer.status_text
    assert viewer.graph.graph == {}
    # The selector still offers the real ones, and picking one recovers.
    viewer.observation_dropdown.value = SMALL
    assert viewer.state == "ready" and viewer.counts["L1"] == 4


def test_two_thousand_files_in_one_group(admin_session: Session,
                                         make_session: Callable[..., Session]) -> None:
    big = "jw09999-o001_t001_nircam"
    assert insert_all(admin_session, lineage_records(big, 666)) == 2000
    reader = make_session("anonymous")
    viewer = LineageViewer(reader, big)  # its speed: benchmarks/widgets.py
    assert viewer.counts == {"L1": 666, "L2a": 666, "L2b": 666, "L3": 2, "unknown": 0}
    assert len(viewer.graph.graph["nodes"]) == 2000
    assert len(viewer.graph.graph["edges"]) == 666 * 3 + 1
    ids = _ids(viewer)
    i2d = ids["jw09999-o001_t001_nircam_clear-f200w_i2d.fits"]
    viewer.select(i2d)
    assert "<b>From</b> (666)" in viewer.details_html.value
    assert "and 658 more" in viewer.details_html.value


def test_observations_can_load_in_the_background(reader: Session) -> None:
    viewer = LineageViewer(reader, OTHER, observations=[OTHER])
    assert viewer.observations == [OTHER] and viewer.observations_ready.is_set()
    viewer.refresh_observations(wait=False)  # what happens inside a kernel
    assert viewer.observations_ready.wait(10)
    assert viewer.observations == [SMALL, OTHER]
    # The list arriving does not switch away from what is shown.
    assert viewer.observation_base_id == OTHER == viewer.observation_dropdown.value
    assert viewer.counts["L1"] == 2
    viewer.observation_dropdown.value = SMALL
    assert viewer.counts["L1"] == 4


def test_a_failing_observation_list_keeps_the_viewer_usable(admin_session: Session) -> None:
    insert_all(admin_session, lineage_records(SMALL, 1))
    viewer = LineageViewer(admin_session, SMALL)
    admin_session.close()  # the list cannot be fetched any more
    viewer.refresh_observations(wait=True)
    assert "Cannot list observations" in viewer.status_text
    assert viewer.observations == [SMALL] and viewer.counts["L1"] == 1


def test_the_sample_association_is_linked_and_the_mosaic_says_what_it_combines(
    admin_session: Session, local_storage: Any
) -> None:
    from jwstnb import ingest, samples

    samples.write_sample(local_storage)
    report = ingest.scan(admin_session, local_storage, prefix="mast/", progress=False)
    assert report.imported and not report.failed
    viewer = LineageViewer(admin_session, samples.NIRCAM_OBSERVATION, storage=local_storage)
    graph = viewer.graph.graph
    names = [n[1] for n in graph["nodes"]]
    assert not any(n.endswith("_asn.json") for n in names)  # a hub, not an "unknown" file
    assert viewer.counts["unknown"] == 0
    ((_, asn_name, _, _, _, members, products),) = graph["associations"]
    assert asn_name.endswith("_asn.json")
    assert sorted(names[i] for i in members) == sorted(n for n in names if n.endswith("_cal.fits"))
    assert {names[i].rsplit("_", 1)[1] for i in products} == {"i2d.fits", "cat.ecsv",
                                                              "segm.fits"}
    # the four L1 files read apart (exposure and detector), the full name is kept
    l1 = [n for n in graph["nodes"] if n[2] == 0]
    assert sorted(n[6] for n in l1) == ["00001_nrca1_uncal", "00001_nrcb1_uncal",
                                        "00002_nrca1_uncal", "00002_nrcb1_uncal"]
    # a stale cal file's details say how it was calibrated
    stale = next(n[0] for n in graph["nodes"] if n[1] == samples.STALE_FILES[0])
    viewer.select(stale)
    assert samples.OLDER_CONTEXT in viewer.details_html.value
    i2d = next(n[0] for n in graph["nodes"] if n[1].endswith("_i2d.fits"))
    viewer.select(i2d)
    assert "<b>Combines</b>" in viewer.details_html.value
    assert samples.NIRCAM_OBSERVATION in viewer.details_html.value


def test_files_of_other_groups_are_external_and_open_their_group(
    admin_session: Session, make_session: Callable[..., Session]
) -> None:
    insert_all(admin_session, lineage_records(SMALL, 2))
    insert_all(admin_session, lineage_records(OTHER, 1, instrument="MIRI", filter="F770W"))
    reader = make_session("anonymous")
    other_cal = next(r for r in reader.lineage(OTHER).nodes if r.file_name.endswith("_cal.fits"))
    mosaic = next(r for r in reader.lineage(SMALL).nodes if r.file_name.endswith("_i2d.fits"))
    # The mosaic of SMALL also combines OTHER's calibrated exposure.
    admin_session.update(mosaic.id, derived_from=[*mosaic.derived_from, other_cal.id])
    viewer = LineageViewer(reader, SMALL)
    nodes = {n[0]: n for n in viewer.graph.graph["nodes"]}
    assert nodes[other_cal.id][5] == OTHER and nodes[mosaic.id][5] == ""
    assert viewer.counts == {"L1": 2, "L2a": 2, "L2b": 2, "L3": 2, "unknown": 0}
    index = list(nodes).index
    assert [index(other_cal.id), index(mosaic.id)] in viewer.graph.graph["edges"]
    viewer.graph.selected_id = other_cal.id  # a click on the dimmed file
    assert viewer.observation_base_id == OTHER and viewer.selected_id == other_cal.id
    assert viewer.selected["file_name"] == other_cal.file_name
    # In OTHER, the mosaic is the external one.
    assert any(n[0] == mosaic.id and n[5] == SMALL for n in viewer.graph.graph["nodes"])
