"""Pictures (JPG/PNG/TIFF) through Pillow, bounded in pixels.

Pictures are opened lazily by Pillow and refused above ``max_image_pixels`` (Pillow's
decompression-bomb error and warning included), so a hostile PNG cannot exhaust memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jwstnb.errors import FitsError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Pictures (PNG/JPG/TIFF) may have at most this many pixels (``Storage(max_image_pixels=...)``),
#: Pillow's own default limit.
MAX_IMAGE_PIXELS = 89_478_485


def _is_image_key(key: str) -> bool:
    return key.lower().endswith(IMAGE_EXTENSIONS)


@contextmanager
def _pillow(key: str, source: Any, limit: int) -> Iterator[Any]:
    """A Pillow image opened lazily from ``source``, refused above ``limit`` pixels
    (Pillow's DecompressionBombError and its warning included)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    refused = FitsError(
        f"{key!r} is a picture above the limit of {limit} pixels; raise "
        "Storage(max_image_pixels=...) if the file is trusted"
    )
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own limit: jwstnb checks its own instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
            width, height = image.size
            if width * height > limit:
                raise refused
            yield image
    except Image.DecompressionBombError:
        raise refused from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        if isinstance(exc, FitsError):
            raise
        raise FitsError(f"{key!r} is not a readable image: {exc}") from None
