"""Jupyter widgets: the search panel, the lineage viewer and the FITS preview.

``import jwstnb.widgets`` is quick: ipywidgets, anywidget, matplotlib and astropy load only
when one of the classes is first used.

    from jwstnb.widgets import SearchPanel, LineageViewer, FitsPreview
    SearchPanel(session, storage=storage)          # search as you type, facets, paging
    LineageViewer(session, "jw02733-o001_t001_nircam")
    FitsPreview(storage, "mast/jw02733-o001_t001_nircam_clear-f090w/....fits")
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = ["FitsPreview", "LineageViewer", "SearchPanel"]

_LAZY = {
    "SearchPanel": "jwstnb.widgets.search",
    "LineageViewer": "jwstnb.widgets.lineage",
    "FitsPreview": "jwstnb.widgets.preview",
}

if TYPE_CHECKING:
    from jwstnb.widgets.lineage import LineageViewer
    from jwstnb.widgets.preview import FitsPreview
    from jwstnb.widgets.search import SearchPanel


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'jwstnb.widgets' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
