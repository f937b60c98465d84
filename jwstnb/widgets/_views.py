"""The two custom browser views (anywidget; their JavaScript and CSS live in ``static/``).

- :class:`ResultsTable`: one page of search results as an HTML table; a click (or Enter)
  on a row sets ``selected_id``, a click on a sortable column header sets ``order``.
- :class:`LineageGraph`: a lineage layout (see ``_graph.layout_graph``) drawn as one SVG
  sized to the notebook's width, edges as a few long paths (one per parent level), so
  2,000 files and their edges are a single DOM update; a click on a file sets
  ``selected_id``.

The Python side is plain synced traitlets, so everything the views do is driven and tested
without a browser by setting the same traits. The view files are ordinary ES modules and
stylesheets (lintable, cached by the browser; no JupyterLab build step).
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

from jwstnb.widgets._common import static_file

__all__ = ["LineageGraph", "ResultsTable"]


class ResultsTable(anywidget.AnyWidget):
    """One page of results; ``rows`` are dicts, ``columns`` ``[key, label, sort field,
    descending first]`` lists (an empty sort field: not sortable)."""

    _esm = static_file("table.js")
    _css = static_file("table.css")
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    columns: traitlets.List[list[Any]] = traitlets.List().tag(sync=True)
    selected_id = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    level_colours = traitlets.Dict().tag(sync=True)
    order = traitlets.Unicode("", help='sort field, "-" first for descending').tag(sync=True)


class LineageGraph(anywidget.AnyWidget):
    """A lineage layout drawn as SVG; ``graph`` comes from ``_graph.layout_graph``."""

    _esm = static_file("graph.js")
    _css = static_file("graph.css")
    graph = traitlets.Dict().tag(sync=True)
    selected_id = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
