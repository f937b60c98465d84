"""jwstnb among the astronomy tools: ObsCore tables, VOTable, SAMP, coverage MOCs, jdaviz.

Each part is its own module and imports its heavy dependencies (astropy, mocpy, jdaviz)
only when called, so ``import jwstnb.interop`` is light:

- :mod:`jwstnb.interop.obscore`: records -> an astropy Table with IVOA ObsCore 1.1 columns;
- :mod:`jwstnb.interop.votable`: such tables to and from VOTable, UCDs and utypes kept;
- :mod:`jwstnb.interop.moc`: the sky coverage of records as a mocpy MOC (IVOA MOC 2.0);
- :mod:`jwstnb.interop.samp`: tables, images and positions to TOPCAT, Aladin, DS9 via SAMP;
- :mod:`jwstnb.interop.viz`: a record opened in the matching jdaviz configuration.
"""

from __future__ import annotations

__all__ = ["moc", "obscore", "samp", "viz", "votable"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from importlib import import_module

        return import_module(f"jwstnb.interop.{name}")
    raise AttributeError(f"module 'jwstnb.interop' has no attribute {name!r}")
