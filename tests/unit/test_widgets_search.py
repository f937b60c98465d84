"""SearchPanel's Python side driven with a fake session (through the SearchSession Protocol):
page before counts, stale counts dropped, paging without recounting, sortable headers,
position and radius, ISO dates, export, and the lineage viewer following the selection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from jwstnb.errors import QueryTimeout
from jwstnb.schema import ImageMetadata, JwstDataModel
from jwstnb.widgets import search
from jwstnb.widgets._common import SearchSession
from jwstnb.widgets.search import SearchPanel

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
LEVELS = ("L1", "L2a", "L2b", "L3")


def _records(count: int) -> list[JwstDataModel]:
    out = []
    for i in range(count):
        group = f"jw0{1000 + i % 3}-o001_t001_nircam"
        out.append(JwstDataModel(
            id=f"{i:024x}", file_name=f"file{i:03d}_{LEVELS[i % 4].lower()}.fits",
            file_path=f"x/file{i:03d}.fits", file_size=1000 + i, data_type="image",
            processing_level=LEVELS[i % 4], observation_base_id=group,
            upload_date=EPOCH + timedelta(hours=i),
            image_info=ImageMetadata(instrument="NIRCAM", filter="F200W", target_name="T",
                                     ra=10.0 + i / 100, dec=-5.0),
        ))
    return out


class FakeSession:
    """An in-memory SearchSession: text matches names, processing_level filters, sort by any
    record attribute. Every call is logged; ``gate`` (when set) holds counts until released."""

    def __init__(self, records: list[JwstDataModel]) -> None:
        self.records = records
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.gate: threading.Event | None = None
        self.count_error: Exception | None = None
        self.count_started = threading.Event()

    def _match(self, criteria: dict[str, Any]) -> list[JwstDataModel]:
        out = [r for r in self.records if criteria.get("text", "") in r.file_name]
        if criteria.get("processing_level"):
            out = [r for r in out if r.processing_level == criteria["processing_level"]]
        if "position" in criteria:
            out = [r for r in out if r.image_info and abs(r.image_info.ra - 10.0) < 0.095]
        field = {"fileName": "file_name", "fileSize": "file_size"}.get(
            criteria.get("sort", ""), "upload_date")
        return sorted(out, key=lambda r: getattr(r, field), reverse=criteria.get("descending"))

    def items(self, page: int = 1, page_size: int = 20, **criteria: Any) -> list[Any]:
        self.calls.append(("items", {**criteria, "page": page}))
        found = self._match(criteria)
        return found[(page - 1) * page_size: page * page_size]

    def counts(self, *, max_time_ms: int | None = None, **criteria: Any) -> Any:
        self.calls.append(("counts", {**criteria, "max_time_ms": max_time_ms}))
        self.count_started.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.count_error is not None:
            raise self.count_error
        found = self._match(criteria)
        levels: dict[str, int] = {}
        for r in found:
            levels[r.processing_level] = levels.get(r.processing_level, 0) + 1
        return SimpleNamespace(total=len(found), facets={"processing_level": levels})

    def table(self, limit: int | None = None, **criteria: Any) -> Any:
        from astropy.coordinates import SkyCoord
        from astropy.table import Table

        self.calls.append(("table", {**criteria, "limit": limit}))
        found = self._match(criteria)[:limit]
        ra = [r.image_info.ra for r in found]
        dec = [r.image_info.dec for r in found]
        return Table({
            "file_name": [r.file_name for r in found], "ra": ra, "dec": dec,
            "coord": SkyCoord(ra, dec, unit="deg"),
        })

    def get(self, record_id: str) -> Any:
        return next(r for r in self.records if str(r.id) == record_id)

    def lineage(self, group: str) -> Any:
        from jwstnb.lineage import build_lineage

        return build_lineage(group, [r for r in self.records if r.observation_base_id == group])

    def observations(self) -> list[str]:
        return sorted({str(r.observation_base_id) for r in self.records})

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def session() -> FakeSession:
    return FakeSession(_records(45))


def _panel(session: FakeSession, **kwargs: Any) -> SearchPanel:
    kwargs.setdefault("debounce", 0)
    return SearchPanel(session, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def gated(session: FakeSession) -> Iterator[FakeSession]:
    session.gate = threading.Event()
    yield session
    session.gate.set()


def _wait(predicate: Any, timeout: float = 5.0) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while not predicate():
        assert datetime.now(UTC) < deadline, "condition not reached"
        threading.Event().wait(0.01)


def test_the_fake_is_a_search_session(session: FakeSession) -> None:
    assert isinstance(session, SearchSession)


def test_the_page_shows_before_the_counts(gated: FakeSession) -> None:
    panel = _panel(gated, background_counts=True)
    # Rows are on screen while the count is still held on the "server".
    assert len(panel.results) == 20 and panel.counting and panel.state == "ready"
    assert panel.status_text == "Records 1-20 of ... (counting)"
    assert not panel.next_button.disabled  # a full page: there may be more
    assert panel.page_label.value == "&nbsp;page 1&nbsp;"  # no stale "of N"
    assert gated.count_started.wait(5)  # after count_delay
    assert gated.names()[:2] == ["items", "counts"]
    gated.gate.set()  # type: ignore[union-attr]
    _wait(lambda: not panel.counting)
    assert panel.total == 45 and panel.pages == 3
    assert panel.facets["processing_level"] == {"L1": 12, "L2a": 11, "L2b": 11, "L3": 11}
    assert panel.status_text == "Records 1-20 of 45 · page 1 of 3"
    assert panel.page_label.value == "&nbsp;page 1 of 3&nbsp;"
    assert dict(panel.facet_dropdowns["processing_level"].options)["L1 (12)"] == "L1"


def test_counts_are_bounded_on_the_server(session: FakeSession) -> None:
    _panel(session, count_timeout=2.5)
    (count,) = [c for name, c in session.calls if name == "counts"]
    assert count["max_time_ms"] == 2500


def test_no_count_is_sent_while_someone_types(session: FakeSession) -> None:
    """In the background a count waits count_delay after its page; changes that come within
    it replace it before it reaches the server."""
    panel = _panel(session, background_counts=True, count_delay=0.3)
    _wait(lambda: panel.counted == 1)
    session.calls.clear()
    for text in ("_", "_l", "_l2", "_l2a"):
        panel.set_text(text)
        threading.Event().wait(0.05)  # a key every 50 ms
    _wait(lambda: panel.counted == 2 and not panel.counting)
    counted = [c.get("text") for name, c in session.calls if name == "counts"]
    assert counted == ["_l2a"] and panel.total == 11
    assert [c.get("text") for name, c in session.calls if name == "items"] == [
        "_", "_l", "_l2", "_l2a"]


def test_a_newer_search_drops_stale_counts_and_skips_replaced_ones(gated: FakeSession) -> None:
    panel = _panel(gated, background_counts=True)
    assert gated.count_started.wait(5)  # the first count is running, held
    panel.set_text("_l1")  # replaced before its count could start...
    panel.set_text("_l2a")  # ...by this one
    assert {r["processing_level"] for r in panel.results} == {"L2a"}
    gated.gate.set()  # type: ignore[union-attr]
    _wait(lambda: panel.counted == 1 and not panel.counting)
    counted = [c.get("text") for name, c in gated.calls if name == "counts"]
    assert counted == [None, "_l2a"]  # "_l1" never reached the server
    assert panel.total == 11  # the first (unfiltered) answer was dropped
    threading.Event().wait(0.1)
    assert panel.counted == 1


def test_paging_does_not_recount(session: FakeSession) -> None:
    panel = _panel(session)
    before = session.names().count("counts")
    panel.next_button.click()
    assert panel.page == 2 and len(panel.results) == 20
    panel.next_page()
    assert panel.page == 3 and len(panel.results) == 5 and panel.next_button.disabled
    assert session.names().count("counts") == before
    assert panel.status_text == "Records 41-45 of 45 · page 3 of 3"
    panel.facet_dropdowns["processing_level"].value = "L3"  # a criterion: page 1, recount
    assert panel.page == 1 and session.names().count("counts") == before + 1


def test_a_count_stopped_by_the_server_keeps_the_page(session: FakeSession) -> None:
    session.count_error = QueryTimeout("the count took longer than 1000 ms")
    panel = _panel(session, count_timeout=1)
    assert len(panel.results) == 20 and panel.state == "ready"
    assert panel.status_text == "Records 1-20 · counting stopped after 1 s"
    assert not panel.next_button.disabled


def test_column_headers_sort_and_toggle(session: FakeSession) -> None:
    panel = _panel(session)
    panel.table.order = "fileName"  # a click on the File header
    last = session.calls[-2] if session.calls[-1][0] == "counts" else session.calls[-1]
    assert last[1]["sort"] == "fileName" and last[1]["descending"] is False
    names = [r["file_name"] for r in panel.results]
    assert names == sorted(names)
    panel.table.order = "-fileName"  # the second click
    assert [r["file_name"] for r in panel.results] == sorted(
        (r.file_name for r in session.records), reverse=True)[:20]
    panel.set_sort("fileSize", descending=True)
    assert panel.order == "-fileSize" == panel.table.order
    assert panel.results[0]["file_size"] == 1044


def test_position_box_and_radius(monkeypatch: pytest.MonkeyPatch, session: FakeSession) -> None:
    asked: list[str] = []

    def resolve(text: str, _session: Any) -> tuple[float, float]:
        asked.append(text)
        if text == "nowhere":
            raise LookupError("no target named 'nowhere'")
        return 10.0, -5.0

    monkeypatch.setattr(search, "resolve_position", resolve)
    panel = _panel(session)
    panel.radius_unit.value = "arcmin"
    panel.radius_input.value = 3
    panel.position_input.value = "NGC  3132"
    items = [c for name, c in session.calls if name == "items"][-1]
    assert items["position"] == (10.0, -5.0)
    assert items["radius"] == pytest.approx(3 / 60)
    assert panel.position == [pytest.approx(10.0), pytest.approx(-5.0)]
    assert panel.radius == pytest.approx(0.05)
    assert panel.total == 10  # ra 10.00 .. 10.09
    panel.radius_input.value = 4  # the radius alone searches again; the name resolves once
    assert asked == ["NGC 3132"]
    panel.position_input.value = "nowhere"
    assert panel.state == "error" and "no target named 'nowhere'" in panel.status_text
    panel.set_position(None)
    assert panel.state == "ready" and panel.total == 45 and panel.position == []


def test_positions_parse_as_coordinates_or_resolve_as_names() -> None:
    class Targets:
        def target_position(self, name: str) -> tuple[float, float] | None:
            return (151.757, -40.436) if name.lower() == "southern ring" else None

    assert search.resolve_position("10.6847 41.2687", Targets()) == pytest.approx(
        (10.6847, 41.2687))
    ra, dec = search.resolve_position("00h42m44.3s +41d16m09s", None)
    assert (ra, dec) == pytest.approx((10.68458, 41.26917), abs=1e-4)
    assert search.resolve_position("Southern Ring", Targets()) == pytest.approx(
        (151.757, -40.436))


def test_set_position_drives_the_boxes(monkeypatch: pytest.MonkeyPatch,
                                       session: FakeSession) -> None:
    monkeypatch.setattr(search, "resolve_position",
                        lambda text, _s: tuple(map(float, text.split())))
    panel = _panel(session)
    panel.set_position(10.05, -5.0, 0.001)
    assert panel.position_input.value == "10.050000 -5.000000"
    assert (panel.radius_input.value, panel.radius_unit.value) == (3.6, "arcsec")
    assert panel.radius == pytest.approx(0.001)
    assert panel.position == [pytest.approx(10.05), pytest.approx(-5.0)]
    panel.set_position(10.0, -5.0, 0.5)
    assert (panel.radius_input.value, panel.radius_unit.value) == (30.0, "arcmin")


def test_iso_date_boxes(session: FakeSession) -> None:
    panel = _panel(session)
    panel.date_from_input.value = "2024-01-02"
    items = [c for name, c in session.calls if name == "items"][-1]
    assert items["date_from"] == datetime(2024, 1, 2, tzinfo=UTC)
    panel.date_to_input.value = "01/03/2024"
    assert panel.state == "error" and "YYYY-MM-DD" in panel.status_text
    panel.clear()
    assert panel.state == "ready" and panel.date_to_input.value == ""


def test_the_empty_state_says_its_sentence_once(session: FakeSession) -> None:
    panel = _panel(session)
    before = session.names().count("counts")
    panel.set_text("nothing-matches")
    assert panel.state == "empty" and panel.total == 0
    assert panel.table.message == (
        "No records match these filters. Clear a filter or try another word.")
    assert panel.status_text == "0 records"
    assert session.names().count("counts") == before  # an empty first page needs no count


@pytest.mark.parametrize("label", ["ECSV", "CSV", "VOTable"])
def test_export(session: FakeSession, tmp_path: Path, label: str) -> None:
    from astropy.table import Table

    panel = _panel(session)
    panel.facet_dropdowns["processing_level"].value = "L2b"
    written = panel.export(tmp_path / f"out.{label.lower()}", format=label)
    fmt = search.EXPORT_FORMATS[label][0]
    table = Table.read(written, format=fmt)
    assert len(table) == 11 and set(table["file_name"]) == {
        r.file_name for r in session.records if r.processing_level == "L2b"}
    assert "ra" in table.colnames and "dec" in table.colnames
    if label == "ECSV":
        assert table["coord"].__class__.__name__ == "SkyCoord"
    assert session.calls[-1] == ("table", {**panel.criteria(), "limit": panel.export_limit})


def test_export_button_reports_the_file(session: FakeSession, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    panel = _panel(session)
    panel.export_format.value = "CSV"
    panel.export_button.click()
    (written,) = tmp_path.glob("jwstnb-search-*.csv")
    assert panel.status_text == f"Exported the results to {written.name}"


def test_the_lineage_viewer_follows_the_selection(session: FakeSession) -> None:
    panel = _panel(session)
    panel.select(0)
    viewer = panel.show_lineage()
    first = panel.selected
    assert viewer.observation_base_id == first["observation_base_id"]
    assert viewer.selected_id == first["id"]
    counts_before = dict(viewer.counts)
    other = next(r for r in panel.results
                 if r["observation_base_id"] != first["observation_base_id"])
    panel.select(other["id"])
    assert panel.viewer_box.children == (viewer,)
    assert viewer.observation_base_id == other["observation_base_id"]
    assert viewer.selected_id == other["id"]
    expected = session.lineage(other["observation_base_id"])
    assert viewer.counts == {k: len(v) for k, v in expected.levels.items()}
    assert viewer.counts != counts_before or len(expected) == sum(counts_before.values())
