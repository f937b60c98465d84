"""Files by storage key, on any fsspec store, and FITS that reads only what it needs.

``Storage("s3://bucket/prefix")`` (or ``file:///...``, ``memory://...``, any fsspec URL, or
``JWSTNB_STORAGE_URL``) resolves relative storage keys (:mod:`jwstnb.keys`, checked before any
I/O) under one base. FITS files open lazily through small-block fsspec file objects, so a
cutout reads the headers it passes and the rows it needs, not the whole file (s3fs's default
50 MiB read-ahead would turn a 100x100 cutout into a 50 MB download). Unreadable or malformed
files raise :class:`jwstnb.errors.FitsError` naming the key and the reason.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fsspec.caching import BaseCache

from jwstnb.config import redact
from jwstnb.errors import (
    FitsError,
    JwstnbError,
    NotFound,
    StorageFileNotFound,
    StorageNotConfigured,
)
from jwstnb.keys import validate_key

if TYPE_CHECKING:
    import numpy as np
    from astropy.io.fits import HDUList, Header
    from astropy.wcs import WCS

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_CACHE_TYPE",
    "FITS_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "RANGE_CACHE",
    "STRETCHES",
    "Cutout",
    "Storage",
    "StorageFileNotFound",
    "StorageNotConfigured",
    "celestial_wcs",
]

log = logging.getLogger(__name__)

#: Read block for remote files: big enough for a JWST header in one or two requests, small
#: enough that a cutout row costs kilobytes, not megabytes.
DEFAULT_BLOCK_SIZE = 64 * 1024
#: Remote read cache: jwstnb's sparse range cache (misses read ahead one block; cutouts and
#: thumbnails prefetch exactly the rows they need, merged, in one concurrent batch). Any
#: fsspec cache name ("readahead", "blockcache", ...) may be given instead.
RANGE_CACHE = "ranges"
DEFAULT_CACHE_TYPE = RANGE_CACHE
FITS_EXTENSIONS = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
STRETCHES = ("zscale", "asinh", "linear", "log")
# Images smaller than this are read whole for thumbnails (one request beats many).
_SMALL_PLANE_BYTES = 2**20
# Files up to this many read blocks are fetched whole on open (headers are spread through
# them, so reading them piecewise would cost several requests for little saving).
_SMALL_FILE_BLOCKS = 4
_SECRET_OPTION = re.compile(r"secret|password|passwd|token|credential|(^|_)key$|^key", re.I)
_FITS_MAGIC = (b"SIMPLE  =", b"\x1f\x8b", b"BZh")


class _ArgumentError(ValueError):
    """A bad argument (not a bad file): passes through the FITS error wrapper as is."""


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


class _RangeCache(BaseCache):
    """A sparse cache of fetched byte ranges for one remote file (an fsspec cache).

    A miss reads what was asked plus one block (so sequential header reads take one or two
    requests); :meth:`prefetch` fetches many ranges at once (merged when close, concurrent
    where the filesystem can), so a cutout's rows cost one request, not one per row.
    """

    name = "jwstnb-ranges"

    def __init__(
        self,
        blocksize: int,
        fetcher: Any,
        size: int,
        fetch_many: Any = None,
        max_bytes: int = 256 * 2**20,
    ) -> None:
        super().__init__(blocksize, fetcher, size)
        self.fetch_many = fetch_many
        self.max_bytes = max_bytes
        self._parts: list[tuple[int, bytes]] = []
        self._held = 0

    def _lookup(self, start: int, end: int) -> bytes | None:
        """The bytes ``[start, end)`` if cached parts (stitched when needed) cover them."""
        pieces: list[bytes] = []
        pos = start
        while pos < end:
            best: tuple[int, bytes] | None = None
            for begin, data in self._parts:
                if begin <= pos < begin + len(data) and (
                    best is None or begin + len(data) > best[0] + len(best[1])
                ):
                    best = (begin, data)
                    if begin + len(data) >= end:
                        break
            if best is None:
                return None
            begin, data = best
            stop = min(end, begin + len(data))
            pieces.append(data[pos - begin : stop - begin])
            pos = stop
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _add(self, start: int, data: bytes) -> None:
        self._parts.append((start, data))
        self._held += len(data)
        self.total_requested_bytes += len(data)
        while self._held > self.max_bytes and len(self._parts) > 1:
            _, old = self._parts.pop(0)
            self._held -= len(old)

    def _fetch(self, start: int | None, end: int | None) -> bytes:
        start = 0 if start is None else start
        end = self.size if end is None else min(end, self.size)
        if start >= self.size or start >= end:
            return b""
        hit = self._lookup(start, end)
        if hit is not None:
            self.hit_count += 1
            return hit
        self.miss_count += 1
        stop = min(self.size, end + self.blocksize)
        data = self.fetcher(start, stop)
        self._add(start, data)
        return data[: end - start]

    def prefetch(self, ranges: list[tuple[int, int]], merge_gap: int | None = None) -> None:
        """Fetch the byte ranges ``[(start, end), ...]`` not cached yet, at once.

        Ranges closer than ``merge_gap`` (default: one block) are fetched as one request.
        """
        gap = self.blocksize if merge_gap is None else merge_gap
        wanted = sorted(
            (max(0, a), min(self.size, b)) for a, b in ranges if a < b and a < self.size
        )
        merged: list[list[int]] = []
        for a, b in wanted:
            if self._lookup(a, b) is not None:
                continue
            if merged and a - merged[-1][1] <= gap:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        if not merged:
            return
        if self.fetch_many is not None and len(merged) > 1:
            blobs = self.fetch_many([a for a, _ in merged], [b for _, b in merged])
        else:
            blobs = [self.fetcher(a, b) for a, b in merged]
        for (a, _b), data in zip(merged, blobs, strict=True):
            self._add(a, bytes(data))


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
    ) -> None:
        self._section = section
        self._lead = lead
        self._shape = shape
        self._offset = data_offset + plane_index * shape[0] * shape[1] * itemsize
        self._itemsize = itemsize
        self._cache = cache

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
            rows = range(ny)[ykey] if isinstance(ykey, slice) else None
            if isinstance(ykey, (int,)) and not isinstance(ykey, bool):
                rows = [ykey % ny]
            if rows is not None and isinstance(xkey, slice):
                cols = range(nx)[xkey]
                if len(cols):
                    self.prefetch_rows(rows, min(cols), max(cols) + 1)
        return self._section[(*self._lead, *key)]


class _ByteCounter:
    """Thread-safe totals of bytes and requests fetched from a remote store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0
        self.requests = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes += n
            self.requests += 1

    def reset(self) -> None:
        with self._lock:
            self.bytes = 0
            self.requests = 0


class Storage:
    """Files under one base URL, addressed by relative storage keys.

    ``Storage("s3://bucket/prefix", endpoint_url=...)``: extra keyword arguments go to the
    fsspec filesystem (credentials, endpoints); they never appear in ``repr`` or errors.
    ``block_size`` / ``cache_type`` tune remote reads (small blocks, read-ahead cache).
    """

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_type: str = DEFAULT_CACHE_TYPE,
        **fsspec_options: Any,
    ) -> None:
        if url is None:
            from jwstnb.config import storage_url

            url = storage_url()
        url = os.fspath(url)
        if not isinstance(url, str) or not url.strip():
            raise StorageNotConfigured("the storage URL is empty")
        from fsspec.core import url_to_fs

        options = dict(fsspec_options)
        protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
        if protocol in ("s3", "s3a"):
            # s3fs takes its read block/cache at filesystem level (not ``block_size``).
            options.setdefault("default_block_size", block_size)
            options.setdefault(
                "default_cache_type", "readahead" if cache_type == RANGE_CACHE else cache_type
            )
        try:
            fs, root = url_to_fs(url, **options)
        except ImportError as exc:
            raise StorageNotConfigured(
                f"cannot open storage {redact(url)}: {exc} "
                f"(for s3:// install s3fs: pip install 'jwstnb[s3]')"
            ) from None
        except Exception as exc:
            raise StorageNotConfigured(
                f"cannot open storage {redact(url)}: {type(exc).__name__}: "
                f"{_scrub(str(exc), options)}"
            ) from None
        self._fs = fs
        self._root = root.rstrip("/")
        self._url = url
        self._option_names = tuple(sorted(fsspec_options))
        self.block_size = int(block_size)
        self.cache_type = cache_type
        self._counter = _ByteCounter()
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self.protocol: str = protocols[0]

    # --- identity -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL with any password redacted."""
        return redact(self._url)

    @property
    def fs(self) -> Any:
        """The underlying fsspec filesystem (for advanced use)."""
        return self._fs

    @property
    def is_local(self) -> bool:
        return self.protocol in ("file", "local")

    def __repr__(self) -> str:
        opts = f", options={list(self._option_names)}" if self._option_names else ""
        return f"Storage({self.url!r}{opts})"

    # --- bytes counter ------------------------------------------------------------------
    @property
    def bytes_read(self) -> int:
        """Bytes fetched from the remote store by reads through this Storage (not local)."""
        return self._counter.bytes

    @property
    def read_requests(self) -> int:
        """Range requests made to the remote store by reads through this Storage."""
        return self._counter.requests

    def reset_counters(self) -> None:
        self._counter.reset()

    # --- keys and paths -----------------------------------------------------------------
    def path(self, key: str) -> str:
        """The fsspec path of ``key`` (validated first: InvalidStorageKey before any I/O)."""
        validate_key(key)
        return f"{self._root}/{key}" if self._root else key

    def full_url(self, key: str) -> str:
        """The full (redacted) URL of ``key``, for messages."""
        validate_key(key)
        return f"{self.url.rstrip('/')}/{key}"

    def _prefix_path(self, prefix: str) -> tuple[str, str]:
        """(folder path to walk, key prefix to keep) for a listing prefix."""
        if prefix in ("", "/"):
            return self._root, ""
        folder = prefix.rstrip("/")
        validate_key(folder)
        if prefix.endswith("/"):
            return self.path(folder), folder + "/"
        parent = folder.rsplit("/", 1)[0] if "/" in folder else ""
        return (self.path(parent) if parent else self._root), folder

    def _key_of(self, path: str) -> str | None:
        path = self._fs._strip_protocol(path) if "://" in path else path
        root = self._root
        if root and not path.startswith(root + "/"):
            return None
        key = path[len(root) + 1 :] if root else path.lstrip("/")
        return key

    # --- plain file operations ----------------------------------------------------------
    def exists(self, key: str) -> bool:
        """True if a file exists under ``key``."""
        path = self.path(key)
        try:
            return bool(self._fs.isfile(path))
        except FileNotFoundError:
            return False

    def size(self, key: str) -> int:
        """Size of the file in bytes; StorageFileNotFound if it is missing."""
        path = self.path(key)
        try:
            return int(self._fs.size(path))
        except FileNotFoundError:
            raise self._missing(key) from None

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """Every file under ``prefix`` -> its size in bytes, from one listing (sorted keys)."""
        folder, keep = self._prefix_path(prefix)
        try:
            found = self._fs.find(folder, detail=True) if folder or self._root == "" else {}
        except FileNotFoundError:
            return {}
        out: dict[str, int] = {}
        for path, info in found.items():
            if info.get("type", "file") != "file":
                continue
            key = self._key_of(path)
            if not key or not key.startswith(keep) or key.endswith("/"):
                continue
            try:
                validate_key(key)
            except JwstnbError:
                log.warning("skipping a file whose name is not a valid storage key: %r", key)
                continue
            out[key] = int(info.get("size") or 0)
        return dict(sorted(out.items()))

    def list(self, prefix: str = "") -> list[str]:
        """Keys of every file under ``prefix`` ("mast/" for a folder), sorted."""
        return list(self.sizes(prefix))

    def open(self, key: str, mode: str = "rb") -> Any:
        """Open ``key`` as a file object; remote reads use small blocks and a read-ahead cache."""
        path = self.path(key)
        if mode not in ("rb", "wb", "r", "w"):
            raise ValueError(f"mode must be 'rb', 'wb', 'r' or 'w', not {mode!r}")
        if "w" in mode:
            self._ensure_parent(path)
            return self._fs.open(path, mode)
        try:
            if mode == "r":
                return io.TextIOWrapper(self._open_binary(path), encoding="utf-8")
            return self._open_binary(path)
        except FileNotFoundError:
            raise self._missing(key) from None

    def _open_binary(self, path: str, size: int | None = None) -> Any:
        kwargs: dict[str, Any] = {}
        remote = not self.is_local and self.protocol != "memory"
        ours = self.cache_type == RANGE_CACHE
        if remote:
            kwargs = {
                "block_size": self.block_size,
                "cache_type": "readahead" if ours else self.cache_type,
            }
            if size is not None:
                kwargs["size"] = size
        f = self._fs.open(path, "rb", **kwargs)
        cache = getattr(f, "cache", None)
        fetcher = getattr(cache, "fetcher", None)
        if remote and fetcher is not None:
            counter = self._counter
            fs = self._fs

            def counted(start: int, end: int) -> bytes:
                data = fetcher(start, end)
                counter.add(len(data))
                return data

            def many(starts: list[int], ends: list[int]) -> list[bytes]:
                blobs = fs.cat_ranges([path] * len(starts), starts, ends, on_error="raise")
                for blob in blobs:
                    counter.add(len(blob))
                return blobs

            if ours:
                f.cache = _RangeCache(f.blocksize, counted, f.size, fetch_many=many)
            else:
                cache.fetcher = counted
        return f

    def read_bytes(self, key: str) -> bytes:
        """The whole file."""
        path = self.path(key)
        try:
            data = self._fs.cat_file(path)
        except FileNotFoundError:
            raise self._missing(key) from None
        if not self.is_local and self.protocol != "memory":
            self._counter.add(len(data))
        return bytes(data)

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``key`` (folders are created as needed)."""
        path = self.path(key)
        self._ensure_parent(path)
        self._fs.pipe_file(path, bytes(data))

    def delete(self, key: str) -> None:
        """Remove the file under ``key``; StorageFileNotFound if it is missing."""
        path = self.path(key)
        try:
            self._fs.rm_file(path)
        except FileNotFoundError:
            raise self._missing(key) from None

    def _ensure_parent(self, path: str) -> None:
        if self.is_local:
            parent = path.rsplit("/", 1)[0]
            self._fs.makedirs(parent, exist_ok=True)

    def _missing(self, key: str) -> StorageFileNotFound:
        return StorageFileNotFound(f"no file {key!r} in storage {self.url}")

    # --- FITS ---------------------------------------------------------------------------
    def open_fits(self, key: str, *, check: bool = True) -> HDUList:
        """Open ``key`` as FITS, lazily: data is read only when used.

        Remote files are read through small blocks (``block_size``) with memory mapping off,
        so ``hdul["SCI"].section[y0:y1, x0:x1]`` fetches only those rows. With ``check``
        (default) every header is read and the structure checked first, so a truncated or
        corrupt file raises FitsError here rather than deep inside astropy later; with
        ``check=False`` headers are read only as HDUs are asked for. Close it (or ``with``).
        """
        hdul, total, _file = self._open_fits(key)
        if check:
            try:
                _check_structure(hdul, total, key)
            except BaseException as exc:
                with suppress(Exception):
                    hdul.close()
                if isinstance(exc, FitsError):
                    raise
                if isinstance(exc, Exception):
                    raise _fits_error(key, exc) from exc
                raise
        return hdul

    def _open_fits(self, key: str, size: int | None = None) -> tuple[HDUList, int, Any]:
        from astropy.io import fits

        path = self.path(key)
        try:
            f = self._open_binary(path, size=size)
        except FileNotFoundError:
            raise self._missing(key) from None
        except OSError as exc:
            raise FitsError(f"cannot open {key!r}: {exc}") from exc
        try:
            total = int(getattr(f, "size", None) or self._fs.size(path))
            cache = getattr(f, "cache", None)
            if isinstance(cache, _RangeCache) and total <= _SMALL_FILE_BLOCKS * self.block_size:
                # a small file: one request for all of it beats one per HDU header
                cache.prefetch([(0, total)])
            magic = f.read(9)
            if not any(magic.startswith(m) for m in _FITS_MAGIC):
                what = "the file is empty" if not magic else f"it starts with {magic[:9]!r}"
                raise FitsError(
                    f"{key!r} is not a FITS file: {what}, not a SIMPLE card"
                )
            f.seek(0)
            source: Any = f
            if not magic.startswith(b"SIMPLE"):
                # compressed: offsets are in the decompressed stream, its size is unknown;
                # decompress here (astropy only sniffs compression on some file objects)
                import bz2
                import gzip

                total = -1
                source = gzip.GzipFile(fileobj=f) if magic.startswith(b"\x1f\x8b") else (
                    bz2.BZ2File(f)
                )
            hdul = fits.open(source, mode="readonly", lazy_load_hdus=True, memmap=False)
        except FitsError:
            f.close()
            raise
        except Exception as exc:
            f.close()
            raise _fits_error(key, exc) from exc
        return hdul, total, f

    @contextmanager
    def _fits(self, key: str, size: int | None = None) -> Iterator[tuple[HDUList, int, Any]]:
        hdul, total, f = self._open_fits(key, size=size)
        try:
            yield hdul, total, f
        except (FitsError, NotFound, _ArgumentError):
            raise
        except Exception as exc:
            raise _fits_error(key, exc) from exc
        finally:
            with suppress(Exception):
                hdul.close()

    def read_header(self, key: str, ext: int | str | tuple[str, int] = 0) -> Header:
        """The header of one HDU (by index, name or (name, ver)); no data is read.

        Headers before it are read (FITS has no index), nothing after it.
        """
        with self._fits(key) as (hdul, _total, _f):
            hdu = _get_hdu(hdul, ext, key)
            return hdu.header.copy()

    def read_headers(self, key: str, size: int | None = None) -> list[Header]:
        """Every HDU's header, with the file's structure checked; no data is read.

        Raises FitsError if the file is truncated (an HDU's data runs past its end), a
        header is corrupt or has lost its END card, or unreadable bytes follow the last HDU.
        ``size`` (if known from a listing) saves a request.
        """
        with self._fits(key, size=size) as (hdul, total, _f):
            _check_structure(hdul, total, key)
            return [hdu.header.copy() for hdu in hdul]

    def cutout(
        self,
        key: str,
        ext: int | str | tuple[str, int] = "SCI",
        y: tuple[int, int] | None = None,
        x: tuple[int, int] | None = None,
        *,
        position: Any = None,
        size: Any = None,
        plane: int = 0,
        mode: str = "trim",
        fill_value: float = math.nan,
    ) -> Any:
        """A cutout of one image HDU that reads only the rows it needs.

        Pixel box: ``cutout(key, "SCI", y=(y0, y1), x=(x0, x1))`` -> :class:`Cutout` (data,
        wcs sliced to the box). Around a position: ``cutout(key, "SCI", position=SkyCoord or
        (x, y), size=(ny, nx) or Quantity)`` -> astropy ``Cutout2D`` (WCS kept, original
        positions relative to the full image). For 3-D data ``plane`` picks the plane.
        """
        if position is None and size is not None:
            raise ValueError("size= needs position= (or give the pixel box with y= and x=)")
        with self._fits(key) as (hdul, total, f):
            hdu = _get_hdu(hdul, ext, key)
            _check_image(hdu, ext, key)
            _check_data_in_file(hdul, hdu, total, key)
            plane_section = _plane_section(hdul, hdu, plane, key, f)
            wcs = celestial_wcs(hdu.header)
            ny, nx = plane_section.shape
            if position is not None:
                from astropy.nddata import Cutout2D

                if size is None:
                    raise _ArgumentError("position= needs size= (pixels, or an angular Quantity)")
                if isinstance(position, Sequence) and not isinstance(position, str):
                    position = tuple(float(v) for v in position)
                elif wcs is None:
                    raise FitsError(
                        f"{key!r} extension {ext!r} has no celestial WCS: give a pixel "
                        "position (x, y) instead of sky coordinates"
                    )
                from astropy.nddata.utils import NoOverlapError, PartialOverlapError

                try:
                    return Cutout2D(
                        plane_section, position, size, wcs=wcs, mode=mode,
                        fill_value=fill_value, copy=True,
                    )
                except (NoOverlapError, PartialOverlapError) as exc:
                    raise _ArgumentError(f"cutout of {key!r}: {exc}") from exc
            y0, y1 = _bounds(y, ny, "y")
            x0, x1 = _bounds(x, nx, "x")
            data = plane_section[y0:y1, x0:x1]
            cut_wcs = wcs[y0:y1, x0:x1] if wcs is not None else None
            return Cutout(key=key, ext=ext, data=data, wcs=cut_wcs, y=(y0, y1), x=(x0, x1))

    def image_data(
        self, key: str, ext: int | str | tuple[str, int] | None = None, *, step: int = 1
    ) -> np.ndarray:
        """The first 2-D science plane (SCI, else the first image HDU with 2-D data; for
        cubes the first plane) as a float array; every ``step``-th row and column only.

        JPG/PNG/TIFF keys open through Pillow (grayscale).
        """
        import numpy as np

        if _is_image_key(key):
            image = self._open_pillow(key)
            arr = np.asarray(image.convert("F"), dtype=np.float32)
            return arr[::step, ::step]
        with self._fits(key) as (hdul, total, f):
            hdu = _science_hdu(hdul, ext, key)
            _check_data_in_file(hdul, hdu, total, key)
            section = _plane_section(hdul, hdu, 0, key, f)
            return _read_strided(section, step)

    def open_image(self, key: str) -> Any:
        """A JPG/PNG/TIFF key as a loaded ``PIL.Image``; FitsError if it is not an image."""
        return self._open_pillow(key)

    def _open_pillow(self, key: str) -> Any:
        from PIL import Image, UnidentifiedImageError

        data = self.read_bytes(key)
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise FitsError(f"{key!r} is not a readable image: {exc}") from exc
        return image

    def thumbnail(
        self,
        key: str,
        size: int = 256,
        stretch: str = "zscale",
        ext: int | str | tuple[str, int] | None = None,
    ) -> bytes:
        """A PNG preview, ``size`` pixels on its longer side.

        FITS: the first 2-D science plane, read every n-th row only (so a 4096x4096 image
        costs about 1/n of its bytes), stretched by ``zscale`` / ``asinh`` / ``linear`` /
        ``log``. JPG/PNG/TIFF: the picture itself, resized.
        """
        from PIL import Image

        if stretch not in STRETCHES:
            raise ValueError(f"stretch must be one of {', '.join(STRETCHES)}, not {stretch!r}")
        if int(size) < 1:
            raise ValueError("size must be a positive number of pixels")
        size = int(size)
        if _is_image_key(key):
            image = self._open_pillow(key)
            if image.mode not in ("RGB", "RGBA", "L", "LA"):
                image = image.convert("RGB")
            image = _resize(image, size)
        else:
            with self._fits(key) as (hdul, total, f):
                hdu = _science_hdu(hdul, ext, key)
                _check_data_in_file(hdul, hdu, total, key)
                section = _plane_section(hdul, hdu, 0, key, f)
                ny, nx = section.shape
                step = max(1, math.ceil(max(ny, nx) / size))
                plane = _read_strided(section, step)
            pixels = _stretch(plane, stretch)
            image = _resize(Image.fromarray(pixels, mode="L"), size)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()


# --- helpers (pure) -------------------------------------------------------------------------


def _scrub(text: str, options: dict[str, Any]) -> str:
    """Remove any secret option value from an error text."""
    for name, value in _flatten(options):
        if isinstance(value, str) and len(value) >= 4 and _SECRET_OPTION.search(name):
            text = text.replace(value, "***")
    return text


def _flatten(options: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in options.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _is_image_key(key: str) -> bool:
    return key.lower().endswith(IMAGE_EXTENSIONS)


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
    cache = getattr(f, "cache", None)
    return _section_type()(
        hdu.section,
        lead,
        (shape[-2], shape[-1]),
        data_offset=int(hdu.fileinfo()["datLoc"]),
        plane_index=plane % lead_shape[-1] if lead_shape else 0,
        itemsize=abs(int(hdu.header["BITPIX"])) // 8,
        cache=cache if isinstance(cache, _RangeCache) else None,
    )


@functools.cache
def _section_type() -> type[_PlaneSection]:
    """_PlaneSection that is also an astropy ``Section``, so ``Cutout2D`` slices it lazily
    instead of converting it to an array (astropy checks the type)."""
    from astropy.io.fits.hdu.image import Section

    class LazyPlaneSection(_PlaneSection, Section):
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


def celestial_wcs(header: Header) -> WCS | None:
    """The celestial WCS of a header, or None when it has none (or an unusable one)."""
    if "CTYPE1" not in header and "CD1_1" not in header and "PC1_1" not in header:
        return None
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header, naxis=2) if int(header.get("NAXIS", 2)) <= 2 else WCS(header)
        wcs = wcs.celestial
    except Exception:
        return None
    return wcs if wcs.has_celestial else None


def _read_strided(section: _PlaneSection, step: int) -> np.ndarray:
    """Every ``step``-th row and column of a plane, reading whole rows only where needed."""
    import numpy as np

    ny, nx = section.shape
    if step <= 1 or ny * nx * section.dtype.itemsize <= _SMALL_PLANE_BYTES:
        data = np.asarray(section[0:ny, 0:nx])[::step, ::step]
    else:
        rows = range(0, ny, step)
        section.prefetch_rows(rows, 0, nx, merge_gap=0)  # exact rows, fetched concurrently
        data = np.stack([np.asarray(section[row, 0:nx])[::step] for row in rows])
    return np.asarray(data, dtype=np.float32)


def _stretch(data: np.ndarray, stretch: str) -> np.ndarray:
    """Map data to 0..255 bytes with an interval and a stretch; NaNs become black."""
    import numpy as np
    from astropy.visualization import (
        AsinhStretch,
        LinearStretch,
        LogStretch,
        PercentileInterval,
        ZScaleInterval,
    )

    finite = np.isfinite(data)
    out = np.zeros(data.shape, dtype=np.uint8)
    if not finite.any():
        return out
    values = data[finite]
    if stretch == "zscale":
        vmin, vmax = ZScaleInterval().get_limits(values)
        fn: Any = LinearStretch()
    else:
        vmin, vmax = PercentileInterval(99.5).get_limits(values)
        fn = {"asinh": AsinhStretch(0.1), "linear": LinearStretch(), "log": LogStretch()}[
            stretch
        ]
    if not vmax > vmin:
        vmin, vmax = float(values.min()), float(values.max())
    if not vmax > vmin:
        out[finite] = 128 if vmax else 0
        return out
    scaled = np.clip((data - vmin) / (vmax - vmin), 0.0, 1.0)
    scaled = np.where(finite, scaled, 0.0)
    stretched = np.clip(fn(scaled, clip=True), 0.0, 1.0)
    out = (stretched * 255.0 + 0.5).astype(np.uint8)
    out[~finite] = 0
    # FITS row 0 is the bottom of the picture: flip so north is up in the PNG.
    return out[::-1]


def _resize(image: Any, size: int) -> Any:
    from PIL import Image

    width, height = image.size
    scale = size / max(width, height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    if new == (width, height):
        return image
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    return image.resize(new, resample)
