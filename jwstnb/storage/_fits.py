"""FITS read lazily: HDU lookup, structure checks, cutouts and plane sections.

Headers are checked before data is trusted (a truncated or corrupt file is a
:class:`jwstnb.errors.FitsError` naming the key and the reason), and image planes are read
through :class:`_PlaneSection`, which fetches only the rows a cutout or thumbnail needs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jwstnb.errors import FitsError
from jwstnb.storage._cache import _RangeCache
from jwstnb.storage._errors import _ArgumentError
from jwstnb.storage._inflate import _Bounded

if TYPE_CHECKING:
    import numpy as np
    from astropy.io.fits import HDUList, Header
    from astropy.wcs import WCS

FITS_EXTENSIONS = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
# Images smaller than this are read whole for thumbnails (one request beats many).
_SMALL_PLANE_BYTES = 2**20
# Files up to this many read blocks are fetched whole on open (headers are spread through
# them, so reading them piecewise would cost several requests for little saving).
_SMALL_FILE_BLOCKS = 4
_FITS_BLOCK = 2880  # bytes in a FITS header or data block
_FITS_MAGIC = (b"SIMPLE  =", b"\x1f\x8b", b"BZh")
_BITPIX_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


@dataclass(frozen=True)
class Cutout:
    """A pixel cutout: ``data`` (rows ``y``, columns ``x`` of the plane) and its ``wcs``."""

    key: str
    ext: str | int | tuple[str, int]
    data: np.ndarray
    wcs: WCS | None
    y: tuple[int, int]
    x: tuple[int, int]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


class _PlaneSection:
    """A 2-D view (``shape``, ``dtype``, slicing) of one plane of an HDU's lazy section.

    Slicing prefetches the byte ranges of the rows it needs in one go (when the file has a
    :class:`_RangeCache`), then lets astropy's ``section`` read them from the cache.
    """

    def __init__(
        self,
        section: Any,
        lead: tuple[int, ...],
        shape: tuple[int, int],
        *,
        data_offset: int = 0,
        plane_index: int = 0,
        itemsize: int = 4,
        cache: _RangeCache | None = None,
        header: Any = None,
    ) -> None:
        self._section = section
        self._lead = lead
        self._shape = shape
        self._offset = data_offset + plane_index * shape[0] * shape[1] * itemsize
        self._itemsize = itemsize
        self._cache = cache
        # the raw big-endian pixel type and astropy's scaling, for reading rows directly
        head = header if header is not None else {}
        self.raw_dtype: str | None = _BITPIX_DTYPES.get(int(head.get("BITPIX", 0)))
        blank = head.get("BLANK")
        self.scaling: tuple[float, float, int | None] = (
            float(head.get("BSCALE", 1.0)),
            float(head.get("BZERO", 0.0)),
            int(blank) if isinstance(blank, int) and not isinstance(blank, bool) else None,
        )

    @property
    def cache(self) -> _RangeCache | None:
        return self._cache

    @property
    def offset(self) -> int:
        """Byte offset of the plane's first pixel in the file."""
        return self._offset

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def dtype(self) -> Any:
        return self._section.dtype

    @property
    def ndim(self) -> int:
        return 2

    def prefetch_rows(
        self, rows: range | list[int], x0: int, x1: int, merge_gap: int | None = None
    ) -> None:
        """Fetch columns ``x0:x1`` of ``rows`` at once (no-op without a range cache)."""
        if self._cache is None or x1 <= x0:
            return
        nx, size = self.shape[1], self._itemsize
        self._cache.prefetch(
            [
                (self._offset + (r * nx + x0) * size, self._offset + (r * nx + x1) * size)
                for r in rows
            ],
            merge_gap,
        )

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, tuple):
            key = (key,)
        if self._cache is not None:
            ny, nx = self.shape
            ykey = key[0] if key else slice(None)
            xkey = key[1] if len(key) > 1 else slice(None)
            rows: range | list[int] | None = (
                range(ny)[ykey] if isinstance(ykey, slice) else None
            )
            if isinstance(ykey, (int,)) and not isinstance(ykey, bool):
                rows = [ykey % ny]
            if rows is not None and isinstance(xkey, slice):
                cols = range(nx)[xkey]
                if len(cols):
                    self.prefetch_rows(rows, min(cols), max(cols) + 1)
        return self._section[(*self._lead, *key)]


@dataclass
class _Opened:
    """An open FITS file: the HDU list, the file size (-1 when compressed: offsets are in the
    inflated stream), the raw file (whose range cache serves uncompressed reads) and the
    inflation guard of a compressed one."""

    key: str
    hdul: HDUList
    total: int
    raw: Any
    bounded: _Bounded | None
    limit: int

    def check(self) -> None:
        """Refuse the file if astropy hid an inflation-limit error while reading it."""
        if self.bounded is not None and self.bounded.exceeded:
            raise self.bounded.refuse()

    def check_data(self, hdu: Any) -> None:
        """The HDU's data lies inside the file (or, compressed, inside the inflation limit)."""
        self.check()
        _check_data_in_file(self.hdul, hdu, self.total, self.key)
        if self.bounded is not None:
            end = int(hdu.fileinfo()["datLoc"]) + _data_bytes(hdu.header)
            if end > self.limit:
                raise self.bounded.refuse(end)

    def section(self, hdu: Any, plane: int) -> _PlaneSection:
        raw = self.raw if self.bounded is None else None
        return _plane_section(self.hdul, hdu, plane, self.key, raw)


def _fits_error(key: str, exc: BaseException) -> FitsError:
    """A FitsError naming the key and the reason, for an exception astropy raised."""
    if isinstance(exc, FitsError):
        return exc
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    if "simple card" in lowered or "empty or corrupt" in lowered:
        reason = "not a FITS file (no SIMPLE card)"
    elif "end card" in lowered:
        reason = f"a header has no END card ({text})"
    elif "truncat" in lowered or isinstance(exc, EOFError):
        reason = f"the file is truncated ({text})"
    elif isinstance(exc, (TypeError, KeyError, ValueError, AttributeError)):
        reason = f"a header is malformed ({type(exc).__name__}: {text})"
    else:
        reason = f"{type(exc).__name__}: {text}"
    return FitsError(f"cannot read {key!r} as FITS: {reason}")


def _hdu_names(hdul: HDUList) -> str:
    names = []
    for index, hdu in enumerate(hdul):
        names.append(hdu.name or ("PRIMARY" if index == 0 else str(index)))
    return ", ".join(names)


def _get_hdu(hdul: HDUList, ext: int | str | tuple[str, int], key: str) -> Any:
    try:
        hdu = hdul[ext]
    except (KeyError, IndexError):
        raise FitsError(
            f"{key!r} has no extension {ext!r} (it has: {_hdu_names(hdul)})"
        ) from None
    index = hdul.index(hdu)
    _check_hdu(hdu, index, key)
    return hdu


def _check_hdu(hdu: Any, index: int, key: str) -> None:
    """Refuse HDUs astropy could not make sense of, and headers that swallowed another."""
    from astropy.io.fits.hdu.base import _CorruptedHDU, _ValidHDU

    if type(hdu) in (_ValidHDU, _CorruptedHDU):
        raise FitsError(
            f"{key!r} has a corrupt header in HDU {index} (no valid SIMPLE/XTENSION card)"
        )
    header = hdu.header
    starts = sum(1 for card in header.cards if card.keyword in ("SIMPLE", "XTENSION"))
    if starts != 1:
        raise FitsError(
            f"{key!r} has a corrupt header in HDU {index}: it runs into the next header "
            "(its END card is missing)"
        )
    for name in ("BITPIX", "NAXIS"):
        if not isinstance(header.get(name), int):
            raise FitsError(
                f"{key!r} has a corrupt header in HDU {index}: {name} is not an integer"
            )


def _data_bytes(header: Header) -> int:
    """Size in bytes of an HDU's data (without padding) from its header."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    axes = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    if header.get("GROUPS") and axes[0] == 0:  # random groups: NAXIS1 = 0 is not an axis
        axes = axes[1:]
    count = math.prod(axes)
    gcount = int(header.get("GCOUNT", 1))
    pcount = int(header.get("PCOUNT", 0))
    return abs(int(header.get("BITPIX", 8))) // 8 * gcount * (pcount + count)


def _check_structure(hdul: HDUList, total: int, key: str) -> None:
    """Read every header (no data) and check that the HDUs fill the file exactly."""
    hdul.readall()
    if total < 0:  # compressed file: astropy read it whole; nothing to compare with
        for index, hdu in enumerate(hdul):
            _check_hdu(hdu, index, key)
        return
    end = 0
    for index, hdu in enumerate(hdul):
        _check_hdu(hdu, index, key)
        _check_data_in_file(hdul, hdu, total, key)
        info = hdu.fileinfo()
        end = int(info["datLoc"]) + int(info["datSpan"])
    if total > end:
        raise FitsError(
            f"{key!r} is truncated or corrupt: an unreadable HDU header starts at "
            f"byte {end} ({total - end} bytes follow the last readable HDU)"
        )


def _check_data_in_file(hdul: HDUList, hdu: Any, total: int, key: str) -> None:
    if total < 0:
        return
    index = hdul.index(hdu)
    end = int(hdu.fileinfo()["datLoc"]) + _data_bytes(hdu.header)
    if end > total:
        raise FitsError(
            f"{key!r} is truncated: HDU {index} ({hdu.name or 'PRIMARY'}) needs {end} bytes "
            f"but the file has {total}"
        )


def _check_image(hdu: Any, ext: Any, key: str) -> None:
    from astropy.io.fits import ImageHDU, PrimaryHDU

    if not isinstance(hdu, (ImageHDU, PrimaryHDU)) or int(hdu.header.get("NAXIS", 0)) < 2:
        raise FitsError(f"{key!r} extension {ext!r} is not an image with 2-D data")


def _science_hdu(hdul: HDUList, ext: Any, key: str) -> Any:
    """The requested HDU, else SCI, else the first image HDU with at least 2-D data."""
    from astropy.io.fits import ImageHDU, PrimaryHDU

    if ext is not None:
        hdu = _get_hdu(hdul, ext, key)
        _check_image(hdu, ext, key)
        return hdu
    try:
        hdu = hdul["SCI"]
    except (KeyError, IndexError):
        hdu = None
    if hdu is not None:
        _check_hdu(hdu, hdul.index(hdu), key)
        if isinstance(hdu, (ImageHDU, PrimaryHDU)) and int(hdu.header.get("NAXIS", 0)) >= 2:
            return hdu
    for index, candidate in enumerate(hdul):
        _check_hdu(candidate, index, key)
        if isinstance(candidate, (ImageHDU, PrimaryHDU)) and int(
            candidate.header.get("NAXIS", 0)
        ) >= 2:
            return candidate
    raise FitsError(f"{key!r} has no image with 2-D data (extensions: {_hdu_names(hdul)})")


def _plane_section(hdul: HDUList, hdu: Any, plane: int, key: str, f: Any) -> _PlaneSection:
    """Plane ``plane`` of a 2-D or higher image HDU as a lazily read 2-D section."""
    shape = tuple(int(n) for n in hdu.shape)
    if len(shape) < 2:
        raise FitsError(f"{key!r}: extension {hdu.name!r} is not 2-D")
    lead_shape = shape[:-2]
    lead: tuple[int, ...] = ()
    if lead_shape:
        first = lead_shape[-1]
        if not -first <= plane < first:
            raise _ArgumentError(f"plane {plane} is out of range for {first} planes")
        lead = (0,) * (len(lead_shape) - 1) + (plane % first,)
    from astropy.io.fits import CompImageHDU

    cache = getattr(f, "cache", None)
    if isinstance(hdu, CompImageHDU):  # tiles in a table: only astropy can read the pixels
        cache = None
    return _section_type()(
        hdu.section,
        lead,
        (shape[-2], shape[-1]),
        data_offset=int(hdu.fileinfo()["datLoc"]),
        plane_index=plane % lead_shape[-1] if lead_shape else 0,
        itemsize=abs(int(hdu.header["BITPIX"])) // 8,
        cache=cache if isinstance(cache, _RangeCache) else None,
        header=hdu.header,
    )


@functools.cache
def _section_type() -> type[_PlaneSection]:
    """_PlaneSection that is also an astropy ``Section``, so ``Cutout2D`` slices it lazily
    instead of converting it to an array (astropy checks the type)."""
    from astropy.io.fits.hdu.image import Section

    class LazyPlaneSection(_PlaneSection, Section):  # type: ignore[misc, unused-ignore]
        pass

    return LazyPlaneSection


def _bounds(pair: tuple[int, int] | None, n: int, axis: str) -> tuple[int, int]:
    if pair is None:
        return 0, n
    lo, hi = (int(v) for v in pair)
    lo, hi = max(0, lo), min(n, hi)
    if lo >= hi:
        raise _ArgumentError(f"empty cutout: {axis}={pair} is outside 0..{n}")
    return lo, hi


def _read_strided(
    section: _PlaneSection, step: int, costs: Mapping[str, float] | None = None
) -> np.ndarray:
    """Every ``step``-th row and column of a plane as float32.

    Remote planes with a range cache are read by :func:`_read_planned` (sampled rows or the
    whole plane, whichever the cost model says is cheaper); local or compressed ones through
    astropy's section, whole rows only where needed.
    """
    import numpy as np

    ny, nx = section.shape
    cache = section.cache
    if cache is not None and cache.fetch_many is not None and section.raw_dtype is not None:
        return _read_planned(section, cache, step, costs or {})
    if step <= 1 or ny * nx * section.dtype.itemsize <= _SMALL_PLANE_BYTES:
        data = np.asarray(section[0:ny, 0:nx])[::step, ::step]
    else:
        data = np.stack([np.asarray(section[row, 0:nx])[::step] for row in range(0, ny, step)])
    return np.asarray(data, dtype=np.float32)



# Bytes of one batch of concurrent range requests (bounds memory while reading a plane).
_BATCH_BYTES = 64 * 2**20


def _read_planned(
    section: _PlaneSection, cache: _RangeCache, step: int, costs: Mapping[str, float]
) -> np.ndarray:
    """The sampled rows of a remote plane, fetched by the plan of
    :func:`jwstnb.imaging.plan_plane_read` in concurrent batches, scaled like astropy
    (BSCALE, BZERO; BLANK pixels of integer images become NaN)."""
    import numpy as np

    from jwstnb.imaging import plan_plane_read

    ny, nx = section.shape
    raw = np.dtype(section.raw_dtype)
    row = nx * raw.itemsize
    options: dict[str, Any] = dict(costs)
    plan = plan_plane_read(ny, nx, raw.itemsize, step, **options)
    out = np.empty((len(range(0, ny, step)), len(range(0, nx, step))), dtype=np.float32)
    bscale, bzero, blank = section.scaling

    def take(ranges: list[tuple[int, int]]) -> None:
        blobs = cache.fetch_many(
            [section.offset + a for a, _ in ranges], [section.offset + b for _, b in ranges]
        )
        for (a, b), blob in zip(ranges, blobs, strict=True):
            first = -(-a // row)
            first = -(-first // step) * step
            for r in range(first, ny, step):
                if (r + 1) * row > b:
                    break
                values = np.frombuffer(blob, dtype=raw, count=nx, offset=r * row - a)[::step]
                scaled = values.astype(np.float64) * bscale + bzero
                if blank is not None and raw.kind in "iu":
                    scaled[values == blank] = np.nan
                out[r // step] = scaled

    batch: list[tuple[int, int]] = []
    held = 0
    for a, b in plan.ranges:
        if batch and held + (b - a) > _BATCH_BYTES:
            take(batch)
            batch, held = [], 0
        batch.append((a, b))
        held += b - a
    if batch:
        take(batch)
    return out
