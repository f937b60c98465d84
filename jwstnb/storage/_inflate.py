"""Bounded decompression: gzip/bzip2 readers that stop at a set number of inflated bytes.

A compressed FITS file that would expand past ``max_inflate_bytes`` is refused with a
:class:`jwstnb.errors.FitsError` naming the limit, never a hang or an exhausted memory.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from jwstnb.errors import FitsError

#: A gzip/bzip2 FITS file may inflate to at most this many bytes (``Storage(max_inflate_bytes=
#: ...)``); a picture file may be at most this big too.
MAX_INFLATE_BYTES = 512 * 2**20


class _Bounded:
    """A mixin for gzip/bzip2 readers that refuses to go past ``limit`` inflated bytes.

    Reading or seeking past the limit raises FitsError at once (seeking never inflates the
    bytes it would skip first) and sets ``exceeded``, so a caller can still refuse the file
    when astropy swallows the error while reading later headers. The readers stay
    ``GzipFile``/``BZ2File`` instances, so astropy treats them as compressed streams.
    """

    _limit = MAX_INFLATE_BYTES
    _key = ""
    exceeded = False
    wanted = 0

    def bound(self, limit: int, key: str) -> _Bounded:
        self._limit, self._key = int(limit), key
        return self

    def refuse(self, wanted: int | None = None) -> FitsError:
        """The error (remembered: ``exceeded``) for reaching inflated byte ``wanted``."""
        self.exceeded = True
        self.wanted = max(self.wanted, int(wanted or 0))
        return FitsError(
            f"{self._key!r} is compressed and would inflate past the limit of {self._limit} "
            f"bytes (it asks for {self.wanted}); raise Storage(max_inflate_bytes=...) if the "
            "file is trusted"
        )

    def _pos(self) -> int:
        # GzipFile.tell() itself calls seek(0, SEEK_CUR): ask the reader directly
        return int(super().seek(0, io.SEEK_CUR))  # type: ignore[misc]

    def _room(self, size: int | None) -> int:
        pos = self._pos()
        room = self._limit - pos
        if room < 0:
            raise self.refuse(pos)
        return room + 1 if size is None or size < 0 else min(size, room + 1)

    def _after(self, data: Any) -> Any:
        pos = self._pos()
        if pos > self._limit:
            raise self.refuse(pos)
        return data

    def read(self, size: int | None = -1) -> bytes:
        return bytes(self._after(super().read(self._room(size))))  # type: ignore[misc]

    def read1(self, size: int = -1) -> bytes:
        return bytes(self._after(super().read1(self._room(size))))  # type: ignore[misc]

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = self._room(len(view))
        return int(self._after(super().readinto(view[:n])))  # type: ignore[misc]

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset, whence = self._pos() + offset, io.SEEK_SET
        if whence == io.SEEK_SET and offset > self._limit:
            raise self.refuse(offset)
        return int(super().seek(offset, whence))  # type: ignore[misc]


@functools.cache
def _bounded_types() -> tuple[type[Any], type[Any]]:
    import bz2
    import gzip

    class BoundedGzip(_Bounded, gzip.GzipFile):
        pass

    class BoundedBZ2(_Bounded, bz2.BZ2File):
        pass

    return BoundedGzip, BoundedBZ2
