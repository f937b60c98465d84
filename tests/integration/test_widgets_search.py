"""SearchPanel driven through its traits and handlers against the real test database.

No browser and no fakes: a SecantusDB (or JWSTNB_TEST_MONGO_URI) database filled with real
records through the session; the widget's controls are set the way the browser sets them
(``.value`` of the Text/Dropdown/TagsInput/DatePicker, ``selected_id`` of the table view,
``Button.click()``), and what the panel shows is read back from its traits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import monitoring

from jwstnb.session import Session, connect
from jwstnb.widgets import SearchPanel
from tests.browser.data import insert_all, search_records
from tests.servers import SecantusProcess

pytestmark = pytest.mark.integration

COUNT = 120


@pytest.fixture
def filled(admin_session: Session) -> Session:
    """The admin session's database with COUNT varied public records."""
    insert_all(admin_session, search_records(COUNT))
    return admin_session


@pytest.fixture
def reader(filled: Session, make_session: Callable[..., Session]) -> Session:
    """An anonymous session (reads the public records) on the filled database."""
    return make_session("anonymous")


def _panel(session: Session, **kwargs: Any) -> SearchPanel:
    kwargs.setdefault("debounce", 0)
    return SearchPanel(session, **kwargs)


def test_first_page_total_and_facet_labels_with_counts(reader: Session) -> None:
    panel = _panel(reader)
    assert panel.total == COUNT
    assert len(panel.results) == 20 == len(panel.table.rows)
    assert panel.state == "ready"
    assert panel.status_text == f"Records 1-20 of {COUNT} · page 1 of 6"
    levels = dict(panel.facet_dropdowns["processing_level"].options)
    assert levels == {"any": "", "L1 (30)": "L1", "L2a (30)": "L2a", "L2b (30)": "L2b",
                      "L3 (30)": "L3"}
    for key, dropdown in panel.facet_dropdowns.items():
        labels = [label for label, _ in dropdown.options][1:]
        if key == "crds_context":  # these records carry no calibration: nothing to count
            assert labels == []
            continue
        assert labels, key
        assert sum(int(label.rsplit("(", 1)[1].rstrip(")")) for label in labels) == COUNT
    # Default sort: newest upload first.
    uploads = [r["upload_date"] for r in panel.results]
    assert uploads == sorted(uploads, reverse=True)


def test_typing_filters_the_rows(reader: Session) -> None:
    panel = _panel(reader)
    panel.text_input.value = "uncal"
    assert 0 < panel.total < COUNT
    assert panel.total == reader.count(text="uncal")
    assert all(r["file_name"].endswith("_uncal.fits") for r in panel.results)
    assert panel.page == 1


def test_typing_is_debounced_into_one_search(reader: Session) -> None:
    panel = _panel(reader, debounce=0.25)
    before = panel.searches
    done = threading.Event()
    panel.observe(lambda _: done.set(), "results")
    for text in ("n", "ng", "ngc"):
        panel.text_input.value = text
        time.sleep(0.03)
    assert panel.searches == before  # nothing yet: still typing
    assert panel.total == COUNT
    assert done.wait(10)
    time.sleep(0.4)
    assert panel.searches == before + 1
    assert panel.criteria()["text"] == "ngc"
    assert panel.total == reader.count(text="ngc")
    assert all("NGC" in r["target_name"] for r in panel.results)


def test_search_now_and_set_text_skip_the_wait(reader: Session) -> None:
    panel = _panel(reader, debounce=30)
    panel.text_input.value = "rate"
    assert panel.total == COUNT  # debounced: not searched yet
    panel.search_now()
    assert panel.total == reader.count(text="rate")
    panel.set_text("i2d")
    assert panel.total == reader.count(text="i2d")


def test_choosing_a_facet_changes_the_page_and_the_other_counts(reader: Session) -> None:
    panel = _panel(reader)
    first_ids = [r["id"] for r in panel.results]
    dropdown = panel.facet_dropdowns["processing_level"]
    dropdown.value = "L2a"  # what choosing "L2a (30)" in the browser does
    assert panel.total == 30
    assert {r["processing_level"] for r in panel.results} == {"L2a"}
    assert [r["id"] for r in panel.results] != first_ids
    # The chosen option is kept, and its label carries the new count.
    assert dropdown.value == "L2a"
    assert ("L2a (30)", "L2a") in dropdown.options
    # Other facets now count within L2a only.
    types = dict(panel.facet_dropdowns["data_type"].options)
    assert types == {"any": "", "sensor (30)": "sensor"}
    instruments = panel.facets["instrument"]
    assert sum(instruments.values()) == 30
    # Back to "any".
    dropdown.value = ""
    assert panel.total == COUNT


def test_set_facet_and_clear(reader: Session) -> None:
    panel = _panel(reader)
    panel.set_facet("instrument", "MIRI")
    panel.set_facet("status", "failed")
    expected = reader.count(instrument="MIRI", status="failed")
    assert panel.total == expected
    assert all(r["instrument"] == "MIRI" and r["processing_status"] == "failed"
               for r in panel.results)
    panel.clear()
    assert panel.total == COUNT
    assert all(d.value == "" for d in panel.facet_dropdowns.values())


def test_paging(reader: Session) -> None:
    panel = _panel(reader, page_size=50)
    assert panel.pages == 3 and panel.prev_button.disabled and not panel.next_button.disabled
    page1 = {r["id"] for r in panel.results}
    panel.next_button.click()
    assert panel.page == 2
    page2 = {r["id"] for r in panel.results}
    assert len(page2) == 50 and not page1 & page2
    panel.page = 3
    assert len(panel.results) == COUNT - 100
    assert panel.next_button.disabled and not panel.prev_button.disabled
    assert panel.status_text == f"Records 101-{COUNT} of {COUNT} · page 3 of 3"
    panel.next_page()  # past the end: nothing happens
    assert panel.page == 3
    # Any criterion change goes back to page 1.
    panel.facet_dropdowns["processing_level"].value = "L1"
    assert panel.page == 1 and panel.total == 30


def test_column_headers_sort(reader: Session) -> None:
    panel = _panel(reader, page_size=100)
    panel.table.order = "fileName"  # a click on the File header
    names = [r["file_name"] for r in panel.results]
    assert names == sorted(names)
    panel.table.order = "-fileName"  # clicked again: the other way
    descending = [r["file_name"] for r in panel.results]
    everything = sorted(reader.table()["file_name"], reverse=True)
    assert descending == everything[:100]
    panel.set_sort("fileSize", descending=True)
    sizes = [r["file_size"] for r in panel.results]
    assert sizes == sorted(sizes, reverse=True)
    assert panel.total == COUNT


def test_tags_and_date_range(filled: Session, reader: Session) -> None:
    panel = _panel(reader)
    panel.tags_input.value = ["deep"]
    assert panel.total == len(range(0, COUNT, 97))
    assert all("deep" in r["tags"] for r in panel.results)
    panel.tags_input.value = []
    # Upload dates span 2024; a one-month window keeps some but not all (ISO dates).
    panel.date_from_input.value = "2024-03-01"
    panel.date_to_input.value = "2024-03-31"
    expected = reader.count(
        date_from=datetime(2024, 3, 1, tzinfo=UTC),
        date_to=datetime(2024, 4, 1, tzinfo=UTC) - timedelta(milliseconds=1),
    )
    assert 0 < panel.total == expected < COUNT
    assert all(r["upload_date"].startswith("2024-03") for r in panel.results)


def test_empty_state_is_readable(reader: Session) -> None:
    panel = _panel(reader)
    panel.text_input.value = "nothingmatchesthis"
    assert panel.total == 0 and panel.results == [] and panel.state == "empty"
    # The sentence is said once (in the table); the status line only counts.
    assert "No records match these filters" in panel.table.message
    assert panel.status_text == "0 records"
    assert "No records match" not in panel.status.value


def test_empty_database_says_how_to_import(admin_session: Session) -> None:
    panel = _panel(admin_session)
    assert panel.state == "empty"
    assert "Import data" in panel.table.message


def test_error_state_is_readable(tmp_path: Path) -> None:
    # A real server that goes away under the panel.
    server = SecantusProcess(tmp_path / "db")
    server.start()
    session = connect(server.uri, timeout=1)
    try:
        panel = _panel(session)
        assert panel.state == "empty"
        server.stop()
        panel.set_text("anything")
        assert panel.state == "error"
        assert panel.status_text.startswith("Search failed: ")
        assert "127.0.0.1" in panel.status_text
        assert panel.table.message == panel.status_text
        assert "Search failed" in panel.status.value
        assert panel.results == [] and panel.total == 0
    finally:
        session.close()
        server.stop(kill=True)


def test_selecting_a_row_fills_selected_and_details(reader: Session) -> None:
    panel = _panel(reader)
    seen: list[Any] = []
    panel.observe(lambda c: seen.append(c["new"]), "selected")
    row = panel.results[3]
    panel.table.selected_id = row["id"]  # what a click on the row does
    assert panel.selected is not None and panel.selected["id"] == row["id"]
    assert panel.selected["file_name"] == row["file_name"]
    assert seen and seen[-1]["id"] == row["id"]
    assert row["file_name"] in panel.details_html.value
    assert not panel.lineage_button.disabled
    assert panel.preview_button.disabled  # no storage given
    # Selecting by index, then clearing.
    panel.select(0)
    assert panel.selected["id"] == panel.results[0]["id"]
    panel.select(None)
    assert panel.selected is None and panel.lineage_button.disabled


def test_selection_survives_paging(reader: Session) -> None:
    panel = _panel(reader)
    panel.select(1)
    chosen = panel.selected["id"]
    panel.next_page()
    assert panel.selected["id"] == chosen


def test_select_a_record_not_on_the_page(reader: Session) -> None:
    panel = _panel(reader, page_size=5)
    other = reader.search(page=3, page_size=5).items[0]
    panel.select(str(other.id))
    assert panel.selected["id"] == str(other.id)


def test_open_selected_without_selection_or_storage(reader: Session) -> None:
    panel = _panel(reader)
    with pytest.raises(ValueError, match="No record selected"):
        panel.open_selected()
    panel.select(0)
    with pytest.raises(ValueError, match="no storage"):
        panel.open_selected()


def test_lineage_button_opens_the_viewer_on_the_record(reader: Session) -> None:
    panel = _panel(reader)
    panel.select(0)
    panel.lineage_button.click()
    (viewer,) = panel.viewer_box.children
    assert type(viewer).__name__ == "LineageViewer"
    assert viewer.observation_base_id == panel.selected["observation_base_id"]
    assert viewer.selected_id == panel.selected["id"]


# --- round trips -------------------------------------------------------------------------


class CommandLog(monitoring.CommandListener):
    """Every command the client sends: ``("items" | "counts" | "summary" | name,
    maxTimeMS)``; an aggregate whose last stage is ``$facet`` is the counts query, any other
    the page's; a find on ``jwst_summary`` reads a broad view's counts."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name == "aggregate":
            pipeline = event.command.get("pipeline") or [{}]
            name = "counts" if "$facet" in pipeline[-1] else "items"
        elif name == "find" and event.command.get("find") == "jwst_summary":
            name = "summary"  # a broad view's counts, read from the counts summary
        self.commands.append((name, event.command.get("maxTimeMS")))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.commands]


@pytest.fixture
def monitored(
    filled: Session, mongo_uri: str, db_name: str
) -> Iterator[tuple[Session, CommandLog]]:
    """An anonymous session on its own client with a command listener registered."""
    log = CommandLog()
    session = connect(mongo_uri, database=db_name, event_listeners=[log], timeout=10)
    try:
        yield session, log
    finally:
        session.close()


def test_a_filter_change_reads_the_page_then_one_bounded_count(
    monitored: tuple[Session, CommandLog],
) -> None:
    session, log = monitored
    assert session.role == "anonymous"
    panel = _panel(session, count_timeout=20)
    assert panel.total == COUNT
    changes: list[Callable[[], None]] = [
        lambda: setattr(panel.facet_dropdowns["processing_level"], "value", "L3"),
        lambda: setattr(panel.facet_dropdowns["instrument"], "value", "NIRCAM"),
        lambda: setattr(panel.table, "order", "fileName"),
        lambda: setattr(panel.facet_dropdowns["processing_level"], "value", ""),
        lambda: setattr(panel.text_input, "value", "ngc"),
        lambda: setattr(panel.tags_input, "value", ["deep"]),
        panel.clear,
    ]
    for number, change in enumerate(changes):
        log.commands.clear()
        change()
        if not panel.results:  # an empty first page: nothing to count
            assert set(log.names) == {"items"}, (number, log.names)
            continue
        if change == panel.clear:  # a broad view: its counts are the summary's, one read
            assert set(log.names) == {"items", "summary"}, (number, log.names)
            assert log.names[-1] == "summary" and log.names.count("summary") == 1
            continue
        assert set(log.names) == {"items", "counts"}, (number, log.names)
        # The page's queries all come before the one count, which the server bounds.
        assert log.names[-1] == "counts" and log.names.count("counts") == 1, (number, log.names)
        assert log.commands[-1][1] == 20_000
    log.commands.clear()
    panel.facet_dropdowns["data_type"].value = "sensor"
    assert panel.total == 30 and len(panel.results) == 20
    assert panel.facets["processing_level"] == {"L2a": 30}


def test_paging_reads_only_the_page(monitored: tuple[Session, CommandLog]) -> None:
    session, log = monitored
    panel = _panel(session)
    log.commands.clear()
    panel.next_button.click()
    panel.page = 4
    assert panel.page == 4 and len(panel.results) == 20 and panel.total == COUNT
    assert log.names and set(log.names) == {"items"}


def test_counts_arrive_after_the_page_in_the_background(reader: Session) -> None:
    panel = _panel(reader, background_counts=True)
    shown: list[tuple[str, Any]] = []
    panel.observe(lambda c: shown.append(("results", len(c["new"]))), "results")
    panel.observe(lambda c: shown.append(("total", c["new"])), "total")
    deadline = time.monotonic() + 10
    while panel.counting and time.monotonic() < deadline:
        time.sleep(0.02)
    assert panel.total == COUNT and panel.counted >= 1
    shown.clear()
    panel.set_text("uncal")
    assert shown and shown[0][0] == "results"  # rows first ...
    while panel.counting and time.monotonic() < deadline + 10:
        time.sleep(0.02)
    assert ("total", reader.count(text="uncal")) in shown  # ... then the total
    assert panel.status_text.startswith(f"Records 1-20 of {reader.count(text='uncal')}")


def test_export_writes_every_match(reader: Session, tmp_path: Path) -> None:
    from astropy.table import Table

    panel = _panel(reader)
    panel.facet_dropdowns["processing_level"].value = "L1"
    for label, (fmt, _) in {"ECSV": ("ascii.ecsv", ""), "VOTable": ("votable", "")}.items():
        written = panel.export(tmp_path / f"l1.{label}", format=label)
        table = Table.read(written, format=fmt)
        assert len(table) == 30 and set(table["processing_level"]) == {"L1"}
