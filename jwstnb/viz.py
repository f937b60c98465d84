"""Open a record in jdaviz, the configuration chosen by its file kind.

    import jwstnb.viz
    imviz = jwstnb.viz.open(record, storage)    # i2d/cal: Imviz; x1d: Specviz;
                                                # s3d: Cubeviz; s2d: Specviz2d

jdaviz is optional (``pip install 'jwstnb[viz]'``); see :mod:`jwstnb.interop.viz`.
"""

from __future__ import annotations

from jwstnb.interop.viz import CONFIGS, Config, config_for, open

__all__ = ["CONFIGS", "Config", "config_for", "open"]
