"""The widgets' SAMP and jdaviz parts, driven with fakes: "Send to..." hidden without a hub,
a table or an image sent, rows highlighted back selecting records; jdaviz opened from the
preview; to_ipyaladin over records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from jwstnb.widgets._common import SampLink
from jwstnb.widgets.preview import FitsPreview
from jwstnb.widgets.search import SearchPanel
from tests.unit.test_widgets_preview import fake  # noqa: F401  (the preview's fake storage)
from tests.unit.test_widgets_search import FakeSession, _records


class FakeSamp:
    """A SampLink that records what is sent and lets a test play the other application."""

    def __init__(self, running: bool = True) -> None:
        self.running = running
        self.tables: list[tuple[str, Any, str | None]] = []
        self.images: list[tuple[Any, Any, str | None]] = []
        self.callbacks: list[Any] = []

    def hub_running(self) -> bool:
        return self.running

    def clients(self, mtype: str | None = None) -> Mapping[str, str]:
        return {"c1": "topcat", "c2": "Aladin"}

    def send_table(self, table: Any, name: str | None = None,
                   recipient: str | None = None) -> str:
        table_id = f"t{len(self.tables) + 1}"
        self.tables.append((table_id, table, recipient))
        return table_id

    def send_image(self, source: Any, storage: Any = None, *, name: str | None = None,
                   recipient: str | None = None) -> str:
        self.images.append((source, storage, recipient))
        return "i1"

    def on_rows(self, callback: Any) -> None:
        self.callbacks.append(callback)

    def highlight(self, table_id: str, rows: list[int]) -> None:
        for callback in self.callbacks:
            callback(table_id, rows)


class ObsCoreSession(FakeSession):
    """A session whose table() makes ObsCore tables, as Session.table(schema="obscore")."""

    def table(self, limit: int | None = None, schema: str = "default", **criteria: Any) -> Any:
        from jwstnb.interop import obscore

        self.calls.append(("table", {**criteria, "limit": limit, "schema": schema}))
        return obscore.table(self._match(criteria)[:limit], authority="a.b")


def test_fakes_fit_the_protocol() -> None:
    from jwstnb.interop.samp import SampConnection

    assert isinstance(FakeSamp(), SampLink)
    assert isinstance(SampConnection(), SampLink)


def test_send_hidden_without_a_hub() -> None:
    samp = FakeSamp(running=False)
    panel = SearchPanel(FakeSession(_records(5)), samp=samp, page_size=3, thumbnails=False)
    assert panel.samp_box.layout.display == "none"
    samp.running = True
    assert panel.refresh_samp()
    assert panel.samp_box.layout.display == ""
    assert [label for label, _ in panel.samp_target.options] == [
        "every SAMP application", "Aladin", "topcat"]
    off = SearchPanel(FakeSession(_records(2)), samp=False, thumbnails=False)
    assert off.samp_box.layout.display == "none" and not off.refresh_samp()


def test_send_the_matches_as_obscore_and_highlights_come_back() -> None:
    session = ObsCoreSession(_records(7))
    samp = FakeSamp()
    panel = SearchPanel(session, samp=samp, page_size=3, thumbnails=False)
    panel.samp_target.value = "c1"
    panel.samp_button.click()
    assert "Sent the results to topcat" in panel.status_text
    (table_id, table, recipient), = samp.tables
    assert recipient == "c1" and len(table) == 7 and "obs_publisher_did" in table.colnames
    assert session.calls[-1][1]["schema"] == "obscore"
    # the other application highlights row 5: not on the first page, fetched and shown
    samp.highlight(table_id, [5])
    wanted = str(table["id"][5])
    assert panel.highlighted == [wanted]
    assert panel.selected is not None and panel.selected["id"] == wanted
    samp.highlight(table_id, [0, 2, 99])  # a row list; rows past the end are ignored
    assert panel.highlighted == [str(table["id"][0]), str(table["id"][2])]
    assert panel.selected["id"] == str(table["id"][0])
    samp.highlight("someone-else", [1])  # not a table we sent
    assert panel.highlighted == [str(table["id"][0]), str(table["id"][2])]


def test_send_falls_back_to_the_default_table_and_reports_failures() -> None:
    samp = FakeSamp()
    panel = SearchPanel(FakeSession(_records(3)), samp=samp, thumbnails=False)
    panel.send_to_samp(recipient="Aladin")
    assert samp.tables[-1][2] == "Aladin" and "file_name" in samp.tables[-1][1].colnames

    def broken(*args: Any, **kwargs: Any) -> str:
        raise ConnectionError("hub went away")

    samp.send_table = broken  # type: ignore[method-assign]
    panel.samp_button.click()
    assert panel.status_text.startswith("Send failed") and "hub went away" in panel.status_text


def test_preview_sends_its_file_and_opens_jdaviz(fake) -> None:  # noqa: F811
    samp = FakeSamp(running=False)
    opened: list[tuple[str, Any]] = []

    class App:
        def _repr_html_(self) -> str:
            return "<b>jdaviz</b>"

    def viz_open(key: str, storage: Any) -> Any:
        opened.append((key, storage))
        return App()

    preview = FitsPreview(fake, "a_i2d.fits", samp=samp, viz_open=viz_open)
    assert preview.samp_button.layout.display == "none"
    assert preview.jdaviz_button.layout.display == ""
    samp.running = True
    assert preview.refresh_samp() and preview.samp_button.layout.display == ""
    preview.samp_button.click()
    assert samp.images == [("a_i2d.fits", fake, None)]
    assert "Sent a_i2d.fits" in preview.status_text
    preview.jdaviz_button.click()
    assert opened == [("a_i2d.fits", fake)] and len(preview.jdaviz_box.children) == 1


def test_preview_without_jdaviz_hides_the_button(fake, monkeypatch) -> None:  # noqa: F811
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jdaviz" else real(name, *a))
    preview = FitsPreview(fake, "a_i2d.fits", samp=False)
    assert preview.jdaviz_button.layout.display == "none"
    with pytest.raises(ImportError, match="jwstnb\\[viz\\]"):
        preview.open_in_jdaviz()


def test_to_ipyaladin_centres_draws_footprints_and_coverage() -> None:
    from jwstnb.interop import moc
    from jwstnb.widgets import to_ipyaladin
    from tests.unit.interop_records import records

    recs = records()[:1]
    aladin = to_ipyaladin(recs, coverage=moc.coverage(recs, 10))
    assert aladin.target.ra.deg == pytest.approx(151.757, abs=0.01)
    assert aladin.target.dec.deg == pytest.approx(-40.436, abs=0.01)
    assert 0.03 < aladin.fov.deg < 1.0
