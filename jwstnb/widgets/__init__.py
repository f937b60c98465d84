"""Jupyter widgets: the search panel, the lineage viewer, the FITS preview and the sky view.

``import jwstnb.widgets`` is quick: ipywidgets, anywidget, matplotlib and astropy load only
when one of the classes is first used.

    from jwstnb.widgets import SearchPanel, LineageViewer, FitsPreview
    SearchPanel(session, storage=storage)          # search as you type, facets, paging
    LineageViewer(session, "jw02733-o001_t001_nircam")
    FitsPreview(storage, "mast/jw02733-o001_t001_nircam_clear-f090w/....fits")
    SkyView(session).search(position="151.757 -40.436", radius=0.05)   # footprints on the sky
    SearchPanel(session, storage=storage, sky=True)  # the panel with its results' sky map
    to_ipyaladin(page, coverage=session.coverage(...))  # in Aladin Lite, with ipyaladin
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = ["FitsPreview", "LineageViewer", "SearchPanel", "SkyView", "to_ipyaladin"]

_LAZY = {
    "SearchPanel": "jwstnb.widgets.search",
    "LineageViewer": "jwstnb.widgets.lineage",
    "FitsPreview": "jwstnb.widgets.preview",
    "SkyView": "jwstnb.widgets.sky",
    "to_ipyaladin": "jwstnb.widgets.aladin",
}

if TYPE_CHECKING:
    from jwstnb.widgets.aladin import to_ipyaladin
    from jwstnb.widgets.lineage import LineageViewer
    from jwstnb.widgets.preview import FitsPreview
    from jwstnb.widgets.search import SearchPanel
    from jwstnb.widgets.sky import SkyView


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'jwstnb.widgets' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
