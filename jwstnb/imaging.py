"""Pixels to pictures (pure, no I/O): the one normaliser for every stretch, the celestial
WCS of a header, and PNG rendering.

``Storage.thumbnail`` and ``FitsPreview`` both go through :func:`normalise`, so a thumbnail
and the preview of one file with one stretch show the same pixel values. Every stretch is
an interval (which data values map to black and white) followed by a curve on [0, 1]:

========  ======================================  =========================
stretch   interval                                curve
========  ======================================  =========================
zscale    IRAF zscale of the finite pixels        linear
asinh     central 99.5 % of the finite pixels     asinh (a = 0.1)
linear    min .. max of the finite pixels         linear
log       central 99.5 % of the finite pixels     log (a = 1000)
========  ======================================  =========================

NaN and infinite pixels become 0 (black). A flat image (no spread) becomes 0.5 where it is
non-zero, else 0. astropy, numpy and Pillow are imported inside the functions so that
importing this module stays light.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from astropy.io.fits import Header  # type: ignore[import-untyped, unused-ignore]
    from astropy.wcs import WCS  # type: ignore[import-untyped, unused-ignore]
    from numpy.typing import NDArray

__all__ = [
    "STRETCHES",
    "ReadPlan",
    "celestial_wcs",
    "check_stretch",
    "first_plane",
    "normalise",
    "plan_plane_read",
    "resize",
    "stride_for",
    "to_png",
    "to_uint8",
]

STRETCHES: tuple[str, ...] = ("zscale", "asinh", "linear", "log")
# Fraction of finite pixels kept by the percentile interval of asinh and log.
PERCENTILE = 99.5
ASINH_A = 0.1
LOG_A = 1000.0


def check_stretch(stretch: str) -> str:
    """``stretch`` if it is one of :data:`STRETCHES`, else a ValueError listing them."""
    if stretch not in STRETCHES:
        raise ValueError(f"unknown stretch {stretch!r}; choose one of {', '.join(STRETCHES)}")
    return stretch


def first_plane(data: Any) -> NDArray[Any]:
    """The first 2-D plane of an image array (cubes and stacks give their first plane)."""
    import numpy as np

    array = np.asarray(data)
    while array.ndim > 2:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"not an image: {array.ndim} axis(es)")
    return array


def _limits(values: NDArray[Any], stretch: str) -> tuple[float, float]:
    """The data values that map to 0 and 1 for ``stretch`` (finite ``values`` only)."""
    from astropy.visualization import (  # type: ignore[import-untyped, unused-ignore]
        MinMaxInterval,
        PercentileInterval,
        ZScaleInterval,
    )

    interval: Any
    if stretch == "zscale":
        interval = ZScaleInterval()
    elif stretch == "linear":
        interval = MinMaxInterval()
    else:
        interval = PercentileInterval(PERCENTILE)
    vmin, vmax = (float(v) for v in interval.get_limits(values))
    if not vmax > vmin:
        vmin, vmax = float(values.min()), float(values.max())
    return vmin, vmax


def normalise(data: Any, stretch: str = "zscale") -> NDArray[np.float64]:
    """``data`` (any shape, any numeric dtype) mapped to floats in [0, 1] by ``stretch``.

    The interval is computed from the finite pixels only; NaN and +-inf become 0. The array
    keeps its orientation (row 0 stays first); :func:`to_png` flips it so north is up.
    """
    import numpy as np
    from astropy.visualization import (  # type: ignore[import-untyped, unused-ignore]
        AsinhStretch,
        LinearStretch,
        LogStretch,
    )

    check_stretch(stretch)
    array = np.asarray(data, dtype=np.float64)
    finite = np.isfinite(array)
    out = np.zeros(array.shape, dtype=np.float64)
    if not finite.any():
        return out
    vmin, vmax = _limits(array[finite], stretch)
    if not vmax > vmin:
        out[finite] = 0.5 if vmax else 0.0
        return out
    scaled = np.clip((np.where(finite, array, vmin) - vmin) / (vmax - vmin), 0.0, 1.0)
    curve: Any = {
        "zscale": LinearStretch(),
        "linear": LinearStretch(),
        "asinh": AsinhStretch(ASINH_A),
        "log": LogStretch(LOG_A),
    }[stretch]
    out = np.clip(np.asarray(curve(scaled, clip=True), dtype=np.float64), 0.0, 1.0)
    out[~finite] = 0.0
    return out


def to_uint8(array01: Any) -> NDArray[np.uint8]:
    """Floats in [0, 1] to bytes 0..255 (rounded; values outside are clipped)."""
    import numpy as np

    values = np.clip(np.nan_to_num(np.asarray(array01, dtype=np.float64)), 0.0, 1.0)
    return (values * 255.0 + 0.5).astype(np.uint8)


def stride_for(shape: tuple[int, ...], size: int) -> int:
    """The step that brings the larger of the last two axes down to at most ``size``."""
    if int(size) < 1:
        raise ValueError("size must be a positive number of pixels")
    return max(1, math.ceil(max(int(shape[-2]), int(shape[-1])) / int(size)))


def resize(image: Any, size: int) -> Any:
    """A Pillow image scaled so its longer side is ``size`` pixels (Lanczos down, nearest up)."""
    from PIL import Image

    width, height = image.size
    scale = size / max(width, height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    if new == (width, height):
        return image
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    return image.resize(new, resample)


def to_png(array01: Any, size: int | None = None, cmap: str | None = None) -> bytes:
    """A 2-D array of values in [0, 1] as PNG bytes, north up (FITS row 0 at the bottom).

    ``size``: the longer side in pixels (None keeps the array's size). ``cmap``: a
    matplotlib colour map name for an RGB picture (None: 8-bit grey).
    """
    import numpy as np
    from PIL import Image

    values = first_plane(array01)[::-1]
    if cmap is None:
        image = Image.fromarray(to_uint8(values), mode="L")
    else:
        from matplotlib import colormaps

        try:
            colours = colormaps[cmap]
        except KeyError:
            raise ValueError(f"unknown colour map {cmap!r}") from None
        rgba = colours(np.clip(np.nan_to_num(values), 0.0, 1.0), bytes=True)
        image = Image.fromarray(np.ascontiguousarray(rgba[..., :3]), mode="RGB")
    if size is not None:
        image = resize(image, int(size))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def celestial_wcs(header: Header | Any) -> WCS | None:
    """The 2-D celestial WCS of a FITS header, or None when it has none or an unusable one."""
    if "CTYPE1" not in header and "CD1_1" not in header and "PC1_1" not in header:
        return None
    from astropy.wcs import (  # type: ignore[import-untyped, unused-ignore]
        WCS,
        FITSFixedWarning,
    )

    from jwstnb.sky.astronomy import plain_sky_wcs

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header, naxis=2) if int(header.get("NAXIS", 2)) <= 2 else WCS(header)
        celestial = wcs if plain_sky_wcs(wcs) else wcs.celestial
    except Exception:
        return None
    if not celestial.has_celestial or celestial.naxis != 2:
        return None
    return celestial


# --- reading a plane for a thumbnail: sampled rows or the whole plane -----------------------

#: Cost model of a remote object store (S3-like), used to choose how a thumbnail reads a
#: plane: the latency of one range request, the throughput of the connection, how many
#: requests run at once, and the largest single request of a whole-plane read.
REQUEST_SECONDS = 0.03
BYTES_PER_SECOND = 50e6
CONCURRENCY = 8
CHUNK_BYTES = 8 * 2**20
#: No single request of a plane read is larger than this (it bounds memory too).
MAX_CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ReadPlan:
    """How to read the rows a thumbnail needs: ``kind`` is ``"rows"`` (only the sampled rows,
    neighbours merged where a gap costs less than a request) or ``"plane"`` (the whole plane
    in ``CHUNK_BYTES`` pieces); ``ranges`` are byte ranges from the start of the plane."""

    kind: str
    ranges: tuple[tuple[int, int], ...]
    bytes: int
    requests: int
    seconds: float


def _plan(
    kind: str, ranges: list[tuple[int, int]], request_seconds: float, bytes_per_second: float,
    concurrency: int,
) -> ReadPlan:
    total = sum(b - a for a, b in ranges)
    waves = math.ceil(len(ranges) / max(1, concurrency))
    seconds = waves * request_seconds + total / bytes_per_second
    return ReadPlan(kind, tuple(ranges), total, len(ranges), seconds)


def plan_plane_read(
    ny: int,
    nx: int,
    itemsize: int,
    step: int,
    *,
    request_seconds: float = REQUEST_SECONDS,
    bytes_per_second: float = BYTES_PER_SECOND,
    concurrency: int = CONCURRENCY,
    chunk_bytes: int = CHUNK_BYTES,
) -> ReadPlan:
    """The cheaper way (estimated seconds, then bytes) to read every ``step``-th row of a
    ``ny`` x ``nx`` plane of ``itemsize``-byte pixels: sampled rows, or the whole plane.

    Sampled rows cost one request per group of rows (rows closer than what a request's
    latency would fetch are merged); the whole plane costs its bytes in a few large
    requests (``concurrency`` pieces of at least ``chunk_bytes``, at most
    ``MAX_CHUNK_BYTES``). Calibrate the model to the store: a store that serves one request
    per object at a time is ``concurrency=1``.
    """
    row = nx * itemsize
    size = ny * row
    # pieces of at least chunk_bytes, enough of them to keep `concurrency` requests busy,
    # none above MAX_CHUNK_BYTES; whole rows each
    piece = min(MAX_CHUNK_BYTES, max(chunk_bytes, math.ceil(size / max(1, concurrency))))
    chunk = max(row, piece // max(1, row) * row)
    gap_limit = request_seconds * bytes_per_second
    merged: list[tuple[int, int]] = []
    for r in range(0, ny, max(1, step)):
        start, stop = r * row, (r + 1) * row
        if merged and start - merged[-1][1] <= gap_limit and stop - merged[-1][0] <= chunk:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    whole = [(a, min(size, a + chunk)) for a in range(0, size, chunk)]
    args = (request_seconds, bytes_per_second, concurrency)
    rows_plan, plane_plan = _plan("rows", merged, *args), _plan("plane", whole, *args)
    if (plane_plan.seconds, plane_plan.bytes) < (rows_plan.seconds, rows_plan.bytes):
        return plane_plan
    return rows_plan
