"""The widgets in a real browser: JupyterLab 4 and Voila, Debian Chromium through Playwright.

One JupyterLab (tests/browser/conftest.py) serves ``notebooks/widgets.ipynb`` with the
sample scanned into the test database. The Lab tests share one page on which the notebook
ran once (Run All Cells), in order: search, facets, row details, the details layout at
1280x800, a position search, lineage, the lineage at 1280 px opened from the panel,
preview, a 2,000-file lineage; the Voila test renders the same notebook. What the screen
must show is checked against what the database says (an anonymous session, like the notebook's).
Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import BIG_FILES, BIG_OBSERVATION, BrowserData
from tests.fixtures_browser import JupyterServer, open_notebook, run_all_cells, screenshot

pytestmark = pytest.mark.browser

ROWS = ".jwstnb-search tr.jwstnb-row"
SEARCH_BOX = ".jwstnb-search-text input"
POSITION_BOX = ".jwstnb-position input"
STATUS = ".jwstnb-search .jwstnb-status"
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


def _wait_counted(page: Any) -> None:
    """Wait until the total and facet counts (which follow the rows) are on screen."""
    expect(page.locator(STATUS)).not_to_contain_text("ounting", timeout=30_000)
    expect(page.locator(STATUS)).not_to_contain_text("Searching", timeout=30_000)


def _in_view(page: Any, locator: Any, clip: Any = None) -> bool:
    """True when ``locator``'s box lies inside the viewport (and inside ``clip``'s box)."""
    box = locator.bounding_box()
    size = page.viewport_size
    if box is None:
        return False
    inside = (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"]
              and box["y"] + box["height"] <= size["height"])
    if clip is not None:
        outer = clip.bounding_box()
        inside = inside and outer is not None and (
            box["x"] >= outer["x"] - 1 and box["y"] >= outer["y"] - 1
            and box["x"] + box["width"] <= outer["x"] + outer["width"] + 1
            and box["y"] + box["height"] <= outer["y"] + outer["height"] + 1)
    return inside


@contextlib.contextmanager
def _viewport(page: Any, width: int, height: int) -> Iterator[None]:
    """Run a block at another viewport size (a laptop screen), then restore it."""
    before = page.viewport_size
    page.set_viewport_size({"width": width, "height": height})
    try:
        yield
    finally:
        page.set_viewport_size(before)


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
    _wait_counted(lab)
    level = reader.search(page_size=1).facets["processing_level"]
    choice = "L2a" if level.get("L2a") else next(iter(level))
    count = level[choice]
    select = lab.locator(".jwstnb-facet-processing-level select")
    labels = _option_labels(select)
    assert f"{choice} ({count:,})" in labels  # the option label shows the count
    select.select_option(index=labels.index(f"{choice} ({count:,})"))
    names = _wait_for(lab, reader, processing_level=choice)
    _wait_counted(lab)
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


def test_details_actions_visible_without_scrolling_at_1280x800(
    lab: Any, reader: Any, browser_data: BrowserData
) -> None:
    from jwstnb.storage import Storage

    storage = Storage(browser_data.storage_url)
    with _viewport(lab, 1280, 800):
        _clear_search(lab)
        lab.locator(SEARCH_BOX).fill("i2d")
        _wait_for(lab, reader, text="i2d")
        chosen = next(r.file_name for r in reader.search(text="i2d", page_size=20).items
                      if storage.exists(r.file_path))
        panel = lab.locator(".jwstnb-search").first
        panel.evaluate("el => el.scrollIntoView({block: 'start'})")
        lab.locator(ROWS, has_text=chosen).click()
        box = lab.locator(".jwstnb-search .jwstnb-details-box")
        box.get_by_text("TELESCOP").wait_for()
        details = box.locator(".jwstnb-details-html")
        header = box.locator(".jwstnb-header-view")
        for button in (".jwstnb-open-preview", ".jwstnb-open-lineage"):
            action = lab.locator(f".jwstnb-search {button}")
            expect(action).to_be_enabled()
            assert _in_view(lab, action), f"{button} is not on screen at 1280x800"
        # Two columns: the record on the left, thumbnail and header on the right.
        left, right = details.bounding_box(), header.bounding_box()
        assert left and right and right["x"] >= left["x"] + left["width"] - 1
        assert abs(right["y"] - left["y"]) < 260  # side by side, not stacked
        # The tags box is a readable size.
        tags = lab.locator(".jwstnb-search .jwstnb-tags").bounding_box()
        assert tags and tags["width"] >= 250 and tags["height"] >= 24
        # Every column is reachable: the table scrolls sideways when it is wider.
        table = lab.locator(".jwstnb-search .jwstnb-table")
        reach = table.evaluate("el => el.scrollWidth <= el.clientWidth || "
                               "getComputedStyle(el).overflowX === 'auto'")
        assert reach
        screenshot(lab, "lab-search-details-1280x800", full_page=False)
        _clear_search(lab)


def test_typing_a_position_shows_rows_with_ra_dec(lab: Any, reader: Any) -> None:
    position, radius = "151.757 -40.436", 2 / 60  # NGC 3132, 2 arcmin
    expected = reader.search(position=position, radius=radius, page_size=20)
    assert 0 < expected.total < reader.count(), "the sample has no positions to find"
    _clear_search(lab)
    _wait_for(lab, reader)
    lab.locator(".jwstnb-radius input").fill("2")
    lab.locator(".jwstnb-radius-unit select").select_option("arcmin")
    lab.locator(POSITION_BOX).fill(position)
    names = _wait_for(lab, reader, position=position, radius=radius)
    assert names
    ra = lab.locator(f"{ROWS} td[data-col='ra']").all_inner_texts()
    dec = lab.locator(f"{ROWS} td[data-col='dec']").all_inner_texts()
    assert ra and all(abs(float(v) - 151.757) < 0.1 for v in ra if v)
    assert any(v for v in ra) and all(abs(float(v) + 40.436) < 0.1 for v in dec if v)
    expect(lab.locator(".jwstnb-search th[data-col='ra']")).to_contain_text("RA")
    expect(lab.locator(STATUS)).to_contain_text(f"of {expected.total:,}")
    screenshot(lab, "lab-search-position")
    # A target name resolves from the database's own targets (no network needed).
    target = next(r.image_info.target_name for r in expected.items
                  if r.image_info and r.image_info.target_name)
    lab.locator(POSITION_BOX).fill(target)
    _wait_for(lab, reader, position=_target_position(reader, target), radius=radius)
    lab.locator(POSITION_BOX).fill("")
    _wait_for(lab, reader)


def _target_position(reader: Any, target: str) -> tuple[float, float]:
    """Where the database says ``target`` is (what the panel resolves a name to)."""
    from jwstnb import sky

    coord = sky.resolve(target, reader)
    return float(coord.ra.deg), float(coord.dec.deg)


def test_lineage_from_the_panel_at_1280_shows_l3_and_the_selected_i2d(
    lab: Any, reader: Any
) -> None:
    with _viewport(lab, 1280, 800):
        _clear_search(lab)
        lab.locator(SEARCH_BOX).fill("i2d")
        _wait_for(lab, reader, text="i2d")
        i2d = next(r for r in reader.search(text="i2d", processing_level="L3", page_size=20).items
                   if not r.observation_base_id.startswith("jw09999"))
        lab.locator(ROWS, has_text=i2d.file_name).click()
        lab.locator(".jwstnb-search .jwstnb-open-lineage").click()
        viewer = lab.locator(".jwstnb-search .jwstnb-viewer-box .jwstnb-lineage")
        node = viewer.locator(f"g.jwstnb-node[data-id='{i2d.id}']")
        node.wait_for()
        expect(node).to_have_class("jwstnb-node jwstnb-selected")
        scroller = viewer.locator(".jwstnb-graph-scroll")
        scroller.evaluate("el => el.scrollIntoView({block: 'center'})")
        l3 = viewer.locator("g.jwstnb-column[data-level='L3'] rect")
        assert _in_view(lab, l3, clip=scroller), "the L3 column is cut off at 1280 px"
        assert _in_view(lab, node, clip=scroller), "the selected i2d is not in view"
        # No sideways scrolling needed: the columns fit the notebook's width.
        fits = scroller.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
        assert fits
        # Each file shows what tells it apart in its column (exposure, detector, product
        # type; elided in the middle if long); the full name is the hover title.
        texts = viewer.locator("g.jwstnb-node text").all_text_contents()
        titles = viewer.locator("g.jwstnb-node title").all_text_contents()
        for text, full in zip(texts, titles, strict=True):
            head, _, tail = text.partition("\u2026")
            name = full.split("\n")[0]
            assert all(part in name for part in (*head.split("_"), *tail.split("_"))), (
                text, full)
        assert len(set(texts)) == len(texts), texts
        assert i2d.file_name in node.locator("title").text_content()
        # Picking another row moves the open viewer along (no stale counts).
        others = [r for r in reader.search(text="i2d", page_size=20).items
                  if r.observation_base_id != i2d.observation_base_id]
        other = min(others, key=lambda r: r.observation_base_id == BIG_OBSERVATION)
        screenshot(lab, "lab-lineage-1280", full_page=False)
        lab.locator(ROWS, has_text=other.file_name).click()
        expect(viewer.locator(".jwstnb-observation select")).to_have_value(
            other.observation_base_id)
        expect(viewer.locator(f"g.jwstnb-node[data-id='{other.id}']")).to_have_class(
            "jwstnb-node jwstnb-selected")
        _clear_search(lab)


def test_lineage_node_click_shows_its_details(lab: Any, reader: Any) -> None:
    viewer = lab.locator(".jwstnb-lineage").last
    columns = viewer.locator("g.jwstnb-column text").all_text_contents()
    assert [c.split(" ")[0] for c in columns] == ["L1", "L2a", "L2b", "L3", "unknown"]
    assert all("(" in c for c in columns)  # counts in the headers
    assert viewer.locator("path.jwstnb-edges").count() > 0
    node = viewer.locator("g.jwstnb-node[data-name$='_cal.fits']").first
    name = node.get_attribute("data-name") or ""  # the full name (the label may be elided)
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
    # The preview sends the picture at the data's own size (the sample mosaic: 128 px).
    lab.wait_for_function("img => img.naturalWidth > 100", arg=image.element_handle())
    first = image.get_attribute("src")
    preview.locator(".jwstnb-stretch button", has_text="log").click()
    lab.wait_for_function(
        "([img, old]) => img.src !== old && img.naturalWidth > 100",
        arg=[image.element_handle(), first],
    )
    expect(preview.locator(".jwstnb-preview-status")).to_contain_text("log · RA/Dec axes")
    expect(preview.locator(".jwstnb-preview-header")).to_contain_text("EXTNAME = 'SCI")
    screenshot(lab, "lab-preview")


def test_lineage_of_two_thousand_files(lab: Any) -> None:
    viewer = lab.locator(".jwstnb-lineage").last
    viewer.locator(".jwstnb-observation select").select_option(value=BIG_OBSERVATION)
    lab.wait_for_function(
        "n => { const all = document.querySelectorAll('.jwstnb-lineage');"
        " return all[all.length - 1].querySelectorAll('g.jwstnb-node').length === n; }",
        arg=BIG_FILES, timeout=60_000,
    )
    assert viewer.locator("g.jwstnb-column text").first.text_content() == "L1 (666)"
    node = viewer.locator("g.jwstnb-node[data-name$='_i2d.fits']")
    node.scroll_into_view_if_needed()
    node.click()
    viewer.locator(".jwstnb-lineage-details").get_by_text("and 658 more").wait_for()
    screenshot(lab, "lab-lineage-2000")


def test_the_same_notebook_in_voila(browser_page: Any, widgets_lab: JupyterServer,
                                    reader: Any) -> None:
    page = browser_page
    page.goto(widgets_lab.voila_url("widgets.ipynb"), timeout=120_000)
    page.locator(ROWS).first.wait_for(timeout=120_000)
    _wait_for(page, reader)
    page.locator(SEARCH_BOX).fill("rate")
    names = _wait_for(page, reader, text="rate")
    assert names and all("rate" in name for name in names)
    node = page.locator(f"{NODES}[data-name$='_uncal.fits']").first
    name = node.get_attribute("data-name") or ""
    node.click()
    page.locator(".jwstnb-lineage-details").get_by_text(name).first.wait_for()
    image = page.locator(".jwstnb-preview img.jwstnb-preview-image")
    image.wait_for()
    page.wait_for_function("img => img.naturalWidth > 100", arg=image.element_handle())
    assert "SearchPanel(session" not in page.locator("body").inner_text()  # no code shown
    screenshot(page, "voila-widgets")
