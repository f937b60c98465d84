"""The widgets in a real browser: JupyterLab 4 and Voila, Debian Chromium through Playwright.

One JupyterLab (tests/browser/conftest.py) serves ``notebooks/widgets.ipynb`` with the
sample scanned into the test database. The Lab tests share one page on which the notebook
ran once (Run All Cells), in order: search, facets, row details, lineage, preview, a
2,000-file lineage; the Voila test renders the same notebook. What the screen must show is
checked against what the database says (an anonymous session, like the notebook's).
Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import BIG_FILES, BIG_OBSERVATION, BrowserData
from tests.fixtures_browser import JupyterServer, open_notebook, run_all_cells, screenshot

pytestmark = pytest.mark.browser

ROWS = ".jwstnb-search tr.jwstnb-row"
SEARCH_BOX = ".jwstnb-search-text input"
NODES = ".jwstnb-lineage g.jwstnb-node"


@pytest.fixture(scope="module")
def reader(browser_data: BrowserData) -> Iterator[Any]:
    """An anonymous session on the browser test database: what the notebook sees."""
    from jwstnb.session import connect

    session = connect(browser_data.mongo_uri, database=browser_data.database, timeout=10)
    yield session
    session.close()


@pytest.fixture(scope="module")
def lab(browser: Any, widgets_lab: JupyterServer) -> Iterator[Any]:
    """The widgets notebook open in JupyterLab, every cell run, all three widgets drawn."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_notebook(page, widgets_lab, "widgets.ipynb")
        run_all_cells(page)
        page.locator(ROWS).first.wait_for(timeout=120_000)
        page.locator(NODES).first.wait_for(timeout=120_000)
        page.locator(".jwstnb-preview img.jwstnb-preview-image").wait_for(timeout=120_000)
        screenshot(page, "lab-widgets-loaded")
    except Exception:
        screenshot(page, "lab-widgets-failed-to-load")
        print(widgets_lab.log_tail())
        raise
    yield page
    context.close()


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    failed = request.session.testsfailed
    yield
    page = request.node.funcargs.get("lab")  # browser_page takes its own failure shots
    if page is not None and request.session.testsfailed > failed:
        screenshot(page, f"{request.node.name}-failure")


def expect(locator: Any) -> Any:
    """Playwright's retrying assertions (imported here: a missing Playwright must reach the
    ``browser`` fixture, which fails with instructions)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _file_names(page: Any) -> list[str]:
    return page.locator(f"{ROWS} td[data-col='file_name']").all_inner_texts()


def _wait_rows(page: Any, predicate: Any, timeout: float = 30.0) -> list[str]:
    """Wait until the file names on screen satisfy ``predicate``; return them."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        names = _file_names(page)
        if predicate(names):
            return names
        page.wait_for_timeout(100)
    raise AssertionError(f"rows on screen never matched; last seen: {names}")


def _option_labels(select: Any) -> list[str]:
    """The options of a <select> as text (ipywidgets shows spaces as no-break spaces)."""
    return [t.replace("\xa0", " ") for t in select.locator("option").all_inner_texts()]


def _clear_search(page: Any) -> None:
    page.locator(".jwstnb-search button", has_text="Clear filters").click()


def _wait_for(page: Any, reader: Any, **criteria: Any) -> list[str]:
    """Wait until the rows on screen are exactly the first page ``reader.search`` gives."""
    expected = sorted(r.file_name for r in reader.search(page_size=20, **criteria).items)
    return _wait_rows(page, lambda names: sorted(names) == expected)


def test_search_box_filters_rows_on_screen(lab: Any, reader: Any) -> None:
    everything = _wait_for(lab, reader)
    expected = reader.search(text="uncal", page_size=20)
    assert 0 < expected.total < reader.count()
    lab.locator(SEARCH_BOX).fill("uncal")  # typed; the panel waits for the pause
    names = _wait_for(lab, reader, text="uncal")
    assert names != everything and all("uncal" in name for name in names)
    expect(lab.locator(".jwstnb-search .jwstnb-status")).to_contain_text(
        f"of {expected.total:,}"
    )
    screenshot(lab, "lab-search-typed")
    lab.locator(SEARCH_BOX).fill("")
    _wait_for(lab, reader)


def test_facet_click_changes_the_page(lab: Any, reader: Any) -> None:
    _clear_search(lab)
    before = _wait_for(lab, reader)
    level = reader.search(page_size=1).facets["processing_level"]
    choice = "L2a" if level.get("L2a") else next(iter(level))
    count = level[choice]
    select = lab.locator(".jwstnb-facet-processing-level select")
    labels = _option_labels(select)
    assert f"{choice} ({count:,})" in labels  # the option label shows the count
    select.select_option(index=labels.index(f"{choice} ({count:,})"))
    names = _wait_for(lab, reader, processing_level=choice)
    assert names != before
    badges = lab.locator(f"{ROWS} .jwstnb-badge").all_inner_texts()
    assert set(badges) == {choice}
    # The other dropdowns now count within the chosen level.
    types = _option_labels(lab.locator(".jwstnb-facet-data-type select"))
    expected_types = reader.search(processing_level=choice, page_size=1).facets["data_type"]
    order = ["image", "sensor", "spectral", "metadata", "calibration", "raw"]
    assert types == ["any"] + [
        f"{k} ({v:,})" for k, v in sorted(expected_types.items(), key=lambda kv: order.index(kv[0]))
    ]
    screenshot(lab, "lab-search-facet")
    select.select_option(index=0)  # "any"
    _wait_for(lab, reader)


def test_row_click_shows_details_thumbnail_and_opens_the_preview(
    lab: Any, reader: Any, browser_data: BrowserData
) -> None:
    from jwstnb.storage import Storage

    storage = Storage(browser_data.storage_url)
    _clear_search(lab)
    lab.locator(SEARCH_BOX).fill("i2d")
    names = _wait_for(lab, reader, text="i2d")
    assert names and all("i2d" in name for name in names)
    # A mosaic whose file is in storage (the 2,000-file group's files are records only).
    chosen = next(r.file_name for r in reader.search(text="i2d", page_size=20).items
                  if storage.exists(r.file_path))
    row = lab.locator(ROWS, has_text=chosen)
    row.click()
    details = lab.locator(".jwstnb-search .jwstnb-details-html")
    details.get_by_text(chosen).first.wait_for()
    box = lab.locator(".jwstnb-search .jwstnb-details-box")
    box.get_by_text("TELESCOP").wait_for()  # header summary read from storage
    thumb = box.locator("img").first
    thumb.wait_for()
    lab.wait_for_function("img => img.naturalWidth > 0", arg=thumb.element_handle())
    assert "jwstnb-selected" in (row.get_attribute("class") or "")
    lab.locator(".jwstnb-search .jwstnb-open-preview").click()
    opened = lab.locator(".jwstnb-search .jwstnb-viewer-box img.jwstnb-preview-image")
    opened.wait_for()
    lab.wait_for_function("img => img.naturalWidth > 100", arg=opened.element_handle())
    screenshot(lab, "lab-search-row-details")
    _clear_search(lab)


def test_lineage_node_click_shows_its_details(lab: Any, reader: Any) -> None:
    viewer = lab.locator(".jwstnb-lineage").last
    columns = viewer.locator("g.jwstnb-column text").all_text_contents()
    assert [c.split(" ")[0] for c in columns] == ["L1", "L2a", "L2b", "L3", "unknown"]
    assert all("(" in c for c in columns)  # counts in the headers
    assert viewer.locator("path.jwstnb-edges").count() > 0
    node = viewer.locator("g.jwstnb-node", has_text="_cal.fits").first
    name = node.locator("text").text_content() or ""
    node.click()
    details = viewer.locator(".jwstnb-lineage-details")
    details.get_by_text(name).first.wait_for()
    expect(details).to_contain_text("From (")
    expect(details).to_contain_text("To (")
    assert "jwstnb-selected" in (node.get_attribute("class") or "")
    thumb = viewer.locator(".widget-image").first
    thumb.wait_for()
    lab.wait_for_function("img => img.naturalWidth > 0", arg=thumb.element_handle())
    screenshot(lab, "lab-lineage-node")


def test_preview_shows_an_image(lab: Any) -> None:
    preview = lab.locator(".jwstnb-preview").last
    image = preview.locator("img.jwstnb-preview-image")
    lab.wait_for_function("img => img.naturalWidth > 200", arg=image.element_handle())
    first = image.get_attribute("src")
    preview.locator(".jwstnb-stretch button", has_text="log").click()
    lab.wait_for_function(
        "([img, old]) => img.src !== old && img.naturalWidth > 200",
        arg=[image.element_handle(), first],
    )
    expect(preview.locator(".jwstnb-preview-status")).to_contain_text("log · RA/Dec axes")
    expect(preview.locator(".jwstnb-preview-header")).to_contain_text("EXTNAME = 'SCI")
    screenshot(lab, "lab-preview")


def test_lineage_of_two_thousand_files(lab: Any) -> None:
    viewer = lab.locator(".jwstnb-lineage").last
    start = time.monotonic()
    viewer.locator(".jwstnb-observation select").select_option(value=BIG_OBSERVATION)
    lab.wait_for_function(
        "n => document.querySelectorAll('.jwstnb-lineage g.jwstnb-node').length === n",
        arg=BIG_FILES, timeout=60_000,
    )
    elapsed = time.monotonic() - start
    assert elapsed < 30, f"2,000 files took {elapsed:.1f}s to appear"
    assert viewer.locator("g.jwstnb-column text").first.text_content() == "L1 (666)"
    node = viewer.locator("g.jwstnb-node", has_text="_i2d.fits")
    node.scroll_into_view_if_needed()
    node.click()
    viewer.locator(".jwstnb-lineage-details").get_by_text("and 658 more").wait_for()
    screenshot(lab, "lab-lineage-2000")
    print(f"2,000-file lineage on screen in {elapsed:.2f}s")


def test_the_same_notebook_in_voila(browser_page: Any, widgets_lab: JupyterServer,
                                    reader: Any) -> None:
    page = browser_page
    page.goto(widgets_lab.voila_url("widgets.ipynb"), timeout=120_000)
    page.locator(ROWS).first.wait_for(timeout=120_000)
    _wait_for(page, reader)
    page.locator(SEARCH_BOX).fill("rate")
    names = _wait_for(page, reader, text="rate")
    assert names and all("rate" in name for name in names)
    node = page.locator(NODES, has_text="_uncal.fits").first
    name = node.locator("text").text_content() or ""
    node.click()
    page.locator(".jwstnb-lineage-details").get_by_text(name).first.wait_for()
    image = page.locator(".jwstnb-preview img.jwstnb-preview-image")
    image.wait_for()
    page.wait_for_function("img => img.naturalWidth > 200", arg=image.element_handle())
    assert "SearchPanel(session" not in page.locator("body").inner_text()  # no code shown
    screenshot(page, "voila-widgets")
