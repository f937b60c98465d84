"""The sky (DESIGN §8): :mod:`.astronomy` (positions, footprints, STC-S, area centroids, exact
cone and region tests, target names) and :mod:`.encodings` (GeoJSON and HEALPix cells, how a
database indexes them). Pure; heavy libraries are imported inside the functions."""

from __future__ import annotations

from jwstnb.sky.astronomy import *  # noqa: F403
from jwstnb.sky.astronomy import __all__ as _astronomy
from jwstnb.sky.encodings import *  # noqa: F403
from jwstnb.sky.encodings import __all__ as _encodings

__all__ = [*_astronomy, *_encodings]
