"""SearchPanel's region, intersect, range, time, calibration-level and exclusion controls and
its target list, driven with a fake session: what each control sends as criteria, and the
one ``search_targets`` call a pasted or uploaded list makes."""

from __future__ import annotations

from typing import Any

import pytest

from jwstnb.criteria import Criteria
from jwstnb.widgets.search import SearchPanel
from tests.unit.test_widgets_search import FakeSession, _records


class TargetFake(FakeSession):
    """The fake session, able to search target lists too (its calls logged)."""

    def search_targets(self, targets: Any, radius: Any = 0.0, *, intersect: str = "overlaps",
                       **criteria: Any) -> Any:
        from astropy.table import Table

        self.calls.append(("search_targets", {"targets": targets, "radius": radius,
                                              "intersect": intersect, **criteria}))
        rows = targets if isinstance(targets, Table) else [
            t for t in str(targets).splitlines() if t.strip()]
        table = Table({"target_index": list(range(len(rows))),
                       "file_name": [f"f{i}.fits" for i in range(len(rows))]})
        table.meta["targets"] = len(rows)
        return table


@pytest.fixture
def panel() -> tuple[SearchPanel, TargetFake]:
    fake = TargetFake(_records(10))
    return SearchPanel(fake, debounce=0, thumbnails=False, background_counts=False), fake


def _last(fake: TargetFake, name: str = "items") -> dict[str, Any]:
    return next(c for n, c in reversed(fake.calls) if n == name)


def test_region_and_intersect_become_criteria(panel: tuple[SearchPanel, TargetFake]) -> None:
    p, fake = panel
    p.set_region("POLYGON ICRS 151.7 -40.5 151.8 -40.5 151.8 -40.4", "COVERS")
    sent = _last(fake)
    assert sent["region"].startswith("POLYGON") and sent["intersect"] == "covers"
    assert "position" not in sent
    Criteria.model_validate({k: v for k, v in sent.items() if k != "page"})  # valid criteria
    p.set_region(None)
    assert "region" not in _last(fake) and "intersect" not in _last(fake)


def test_ranges_times_and_calib_level(panel: tuple[SearchPanel, TargetFake]) -> None:
    p, fake = panel
    p.range_inputs["exposure_time_min"].value = "100"
    p.range_inputs["wavelength_max"].value = "2.5"
    p.range_inputs["observed_from"].value = "59800"
    p.range_inputs["observed_to"].value = "2023-01-01"
    p.calib_input.value = "3"
    sent = _last(fake)
    assert sent["exposure_time"] == (100.0, None)
    assert sent["wavelength"] == (None, 2.5)
    assert sent["observed_from"] == "59800" and sent["observed_to"] == "2023-01-01"
    assert sent["calib_level"] == 3
    valid = Criteria.model_validate({k: v for k, v in sent.items() if k != "page"})
    assert valid.observed_from is not None and valid.observed_from.day == 9  # MJD 59800
    p.range_inputs["exposure_time_max"].value = "lots"
    assert p.state == "error" and "exposure_time_max" in p.status_text
    p.clear()
    sent = _last(fake)
    assert not {"exposure_time", "wavelength", "calib_level", "observed_from"} & set(sent)


def test_a_click_on_not_excludes_the_facet_value(panel: tuple[SearchPanel, TargetFake]) -> None:
    p, fake = panel
    p.set_facet("processing_level", "L3")
    assert _last(fake)["processing_level"] == "L3"
    p.facet_excludes["processing_level"].value = True  # the click
    sent = _last(fake)
    assert sent["exclude_processing_level"] == "L3" and "processing_level" not in sent
    assert p.excluded == {"processing_level": "L3"}
    p.exclude_facet("instrument", "MIRI")
    sent = _last(fake)
    assert sent["exclude_instrument"] == "MIRI" and sent["exclude_processing_level"] == "L3"
    p.exclude_facet("instrument", None)
    assert "exclude_instrument" not in _last(fake)


def test_a_pasted_target_list_is_one_call_with_the_panel_criteria(
    panel: tuple[SearchPanel, TargetFake],
) -> None:
    p, fake = panel
    p.set_facet("processing_level", "L2b")
    p.radius_unit.value = "arcsec"
    p.radius_input.value = 5.0
    p.targets_input.value = "10.0 -5.0\n10.05 -5.0\nNGC 3132\n"
    p.targets_button.click()
    calls = [c for n, c in fake.calls if n == "search_targets"]
    assert len(calls) == 1
    call = calls[0]
    assert call["radius"] == pytest.approx(5 / 3600)
    assert call["processing_level"] == "L2b" and call["intersect"] == "overlaps"
    assert p.target_table is not None and len(p.target_table) == 3
    assert "3 records for 3 of 3 targets" in p.targets_output.value


def test_an_uploaded_csv_is_read_as_a_table(panel: tuple[SearchPanel, TargetFake]) -> None:
    from astropy.table import Table

    p, fake = panel
    content = b"name,ra,dec\nA,10.0,-5.0\nB,10.1,-5.0\n"
    p._on_upload({"new": [{"name": "t.csv", "content": memoryview(content)}]})
    call = _last(fake, "search_targets")
    assert isinstance(call["targets"], Table) and list(call["targets"]["ra"]) == [10.0, 10.1]
    assert len(p.target_table) == 2


def test_a_session_without_target_lists_says_so() -> None:
    p = SearchPanel(FakeSession(_records(3)), debounce=0, thumbnails=False,
                    background_counts=False)
    assert p.search_targets("10 20") is None
    assert "cannot search target lists" in p.targets_output.value
