"""SkyView in a real browser: JupyterLab 4 with Debian Chromium through Playwright.

A notebook written next to the widget notebooks (the JupyterLab of tests/browser/conftest.py,
on the sample scanned into the browser test database) maps a position search around NGC 3132.
The test checks what the screen shows against what the database says (an anonymous session,
like the notebook's): one SVG footprint per match, RA labels growing to the left; hovering
names the file; a click reaches the kernel (the caption under the map is written by Python);
a dragged box becomes a new cone search. Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest

from tests.browser.conftest import BrowserData
from tests.fixtures_browser import JupyterServer, open_notebook, run_all_cells, screenshot

pytestmark = pytest.mark.browser

POSITION, RADIUS = "151.757 -40.436", 0.05
SHAPES = ".jwstnb-sky g.jwstnb-sky-shape"
CAPTION = ".jwstnb-sky .jwstnb-sky-caption"
NOTEBOOK = "sky_view.ipynb"
SOURCE = f"""\
import jwstnb
from jwstnb.widgets.sky import SkyView

session = jwstnb.connect()
view = SkyView(session)
view.search(position="{POSITION}", radius={RADIUS})
view"""


def expect(locator: Any) -> Any:
    """Playwright's retrying assertions (imported here: a missing Playwright must reach the
    ``browser`` fixture, which fails with instructions)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def reader(browser_data: BrowserData) -> Iterator[Any]:
    """An anonymous session on the browser test database: what the notebook sees."""
    from jwstnb.session import connect

    session = connect(browser_data.mongo_uri, database=browser_data.database, timeout=10)
    yield session
    session.close()


@pytest.fixture(scope="module")
def sky_page(browser: Any, widgets_lab: JupyterServer) -> Iterator[Any]:
    """The SkyView notebook open in JupyterLab, run, its map drawn."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(SOURCE)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, widgets_lab.root_dir / NOTEBOOK)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_notebook(page, widgets_lab, NOTEBOOK)
        run_all_cells(page)
        page.locator(SHAPES).first.wait_for(timeout=120_000)
    except Exception:
        screenshot(page, "lab-sky-failed-to-load")
        print(widgets_lab.log_tail())
        raise
    yield page
    context.close()


def _expected(reader: Any, **cone: Any) -> set[str]:
    """Ids of the records with a position that the same search returns."""
    return {str(r.id) for r in reader.items(page_size=500, **cone)
            if r.image_info and (r.image_info.footprint or r.image_info.ra is not None)}


def test_sky_view_draws_clicks_and_drags(sky_page: Any, reader: Any) -> None:
    page = sky_page
    expected = _expected(reader, position=POSITION, radius=RADIUS)
    assert expected, "the sample has no positions near NGC 3132"
    shapes = page.locator(SHAPES)
    expect(shapes).to_have_count(len(expected))
    assert set(shapes.evaluate_all("els => els.map(e => e.dataset.id)")) == expected
    footprints = page.locator(f"{SHAPES} path.jwstnb-sky-footprint")
    assert footprints.count() > 0
    assert all(len(d) > 10 for d in footprints.evaluate_all(
        "els => els.map(e => e.getAttribute('d'))"))
    expect(page.locator(".jwstnb-sky path.jwstnb-sky-cone")).to_have_count(1)
    # RA grows to the left: the RA labels' x positions fall as their values rise.
    labels = page.locator(".jwstnb-sky text.jwstnb-sky-label-ra").evaluate_all(
        "els => els.map(e => [parseFloat(e.textContent), parseFloat(e.getAttribute('x'))])")
    assert len(labels) >= 2
    labels.sort()
    assert all(a[1] > b[1] for a, b in itertools.pairwise(labels))
    screenshot(page, "lab-sky-view")

    # Hover names the file; a click on the footprint drawn on top selects it in Python.
    top = shapes.last
    name = top.get_attribute("data-name")
    top.hover()
    expect(page.locator(".jwstnb-sky .jwstnb-sky-hover")).to_contain_text(name)
    top.click()
    expect(page.locator(CAPTION)).to_contain_text(f"Selected: {name}")
    expect(page.locator(f"{SHAPES}.jwstnb-selected")).to_have_attribute(
        "data-id", top.get_attribute("data-id"))
    screenshot(page, "lab-sky-view-selected")

    # A box dragged around the centre of the map becomes a cone search in the kernel.
    box = page.locator(".jwstnb-sky svg").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    before = page.locator(CAPTION).inner_text()
    page.mouse.move(cx - 40, cy - 30)
    page.mouse.down()
    page.mouse.move(cx, cy, steps=4)
    page.mouse.move(cx + 40, cy + 30, steps=4)
    page.mouse.up()
    expect(page.locator(CAPTION)).not_to_have_text(before)
    caption = page.locator(CAPTION).inner_text()
    found = re.search(r"cone (\S+) (\S+) r=(\S+)°", caption)
    assert found, caption
    ra, dec, radius = (float(v) for v in found.groups())
    assert abs(ra - 151.757) < RADIUS and abs(dec + 40.436) < RADIUS and radius < RADIUS
    expected_box = _expected(reader, position=(ra, dec), radius=radius)
    expect(shapes).to_have_count(len(expected_box))
    assert set(shapes.evaluate_all("els => els.map(e => e.dataset.id)")) == expected_box
    screenshot(page, "lab-sky-view-dragged")
