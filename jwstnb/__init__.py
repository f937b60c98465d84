"""jwstnb: JWST data in MongoDB, pleasant in Jupyter.

``import jwstnb`` is quick: the public names below are loaded on first use, so astropy,
ipywidgets and matplotlib are imported only by the code that needs them.

    s = jwstnb.connect()                  # the embedded local database, or JWSTNB_MONGO_URI
    page = s.search(text="ngc 3132", processing_level="L3")
    st = jwstnb.Storage("file:///data/jwst")
    hdul = st.open_fits(page.items[0].file_path)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "connect": "jwstnb.session",
    "Session": "jwstnb.session",
    "Page": "jwstnb.session",
    "Counts": "jwstnb.session",
    "Storage": "jwstnb.storage",
    "JwstDataModel": "jwstnb.schema",
    "ImageMetadata": "jwstnb.schema",
    "SensorMetadata": "jwstnb.schema",
    "ProcessingResult": "jwstnb.schema",
    "DataType": "jwstnb.schema",
    "ProcessingStatus": "jwstnb.schema",
    "ProcessingLevel": "jwstnb.schema",
    "WavelengthRange": "jwstnb.schema",
    "mjd_to_datetime": "jwstnb.schema",
    "collection_validator": "jwstnb.schema",
    "FileIdentity": "jwstnb.naming",
    "classify": "jwstnb.naming",
    "Lineage": "jwstnb.lineage",
}
_SUBMODULES = {
    "access", "backup", "cli", "config", "criteria", "documents", "errors", "imaging", "ingest",
    "service",
    "interop", "keys", "lineage", "localdb", "magics", "naming", "processing", "records", "samp",
    "samples", "schema", "server", "session", "sky", "storage", "viz", "widgets",
}

__all__ = [
    "Counts",
    "DataType",
    "FileIdentity",
    "ImageMetadata",
    "JwstDataModel",
    "Lineage",
    "Page",
    "ProcessingLevel",
    "ProcessingResult",
    "ProcessingStatus",
    "SensorMetadata",
    "Session",
    "Storage",
    "WavelengthRange",
    "__version__",
    "classify",
    "collection_validator",
    "connect",
    "errors",
    "mjd_to_datetime",
    "sky",
]

if TYPE_CHECKING:
    from jwstnb import errors, sky
    from jwstnb.lineage import Lineage
    from jwstnb.naming import FileIdentity, classify
    from jwstnb.schema import (
        DataType,
        ImageMetadata,
        JwstDataModel,
        ProcessingLevel,
        ProcessingResult,
        ProcessingStatus,
        SensorMetadata,
        WavelengthRange,
        collection_validator,
        mjd_to_datetime,
    )
    from jwstnb.session import Counts, Page, Session, connect
    from jwstnb.storage import Storage


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        if name == "Storage":
            # the service's client registers its Storage: Storage() in service mode reads
            # through the service (jwstnb.session.remote)
            import_module("jwstnb.session.remote")
    elif name in _SUBMODULES:
        value = import_module(f"jwstnb.{name}")
    else:
        raise AttributeError(f"module 'jwstnb' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jwstnb``: register the ``%jwst`` magics."""
    from jwstnb.magics import load_ipython_extension as _load

    _load(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Tell Jupyter Server where the jwstnb extension lives."""
    return [{"module": "jwstnb.server"}]
