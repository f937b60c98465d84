"""Files by storage key, on any fsspec store, and FITS that reads only what it needs.

``Storage("s3://bucket/prefix")`` (or ``file:///...``, ``memory://...``, any fsspec URL), a
mapping of key prefixes to URLs (mounts: the longest matching prefix picks one), or
``Storage()`` (the default mount plus the config file's mounts, :mod:`jwstnb.config`)
resolves relative storage keys (:mod:`jwstnb.keys`, checked before any I/O; on local disks
also after resolving symbolic links). Records read from the public JWST bucket when no mount
holds their key. FITS files open lazily through small-block fsspec file objects, so a cutout
reads the headers it passes and the rows it needs, not the whole file (s3fs's default 50 MiB
read-ahead would turn a 100x100 cutout into a 50 MB download); compressed files and pictures
inflate only up to set limits. Unreadable or malformed files raise
:class:`jwstnb.errors.FitsError` naming the key and the reason; back-end failures raise
:class:`jwstnb.errors.StorageError` without secrets. Thumbnails are drawn by
:mod:`jwstnb.imaging` and cached once per file version.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import io
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fsspec.caching import BaseCache

from jwstnb.config import redact_text
from jwstnb.errors import (
    FitsError,
    InvalidStorageKey,
    JwstnbError,
    StorageError,
    StorageFileNotFound,
    StorageNotConfigured,
)
from jwstnb.imaging import STRETCHES, celestial_wcs
from jwstnb.keys import RESERVED_PREFIX, is_valid_key, validate_key

if TYPE_CHECKING:
    import numpy as np
    from astropy.io.fits import HDUList, Header
    from astropy.wcs import WCS

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_CACHE_TYPE",
    "FITS_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "MAX_IMAGE_PIXELS",
    "MAX_INFLATE_BYTES",
    "PUBLIC_BUCKET_URL",
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
# Images smaller than this are read whole for thumbnails (one request beats many).
_SMALL_PLANE_BYTES = 2**20
# Files up to this many read blocks are fetched whole on open (headers are spread through
# them, so reading them piecewise would cost several requests for little saving).
_SMALL_FILE_BLOCKS = 4
_SECRET_OPTION = re.compile(r"secret|password|passwd|token|credential|(^|_)key$|^key", re.I)
_FITS_BLOCK = 2880  # bytes in a FITS header or data block
_FITS_MAGIC = (b"SIMPLE  =", b"\x1f\x8b", b"BZh")
#: A gzip/bzip2 FITS file may inflate to at most this many bytes (``Storage(max_inflate_bytes=
#: ...)``); a picture file may be at most this big too.
MAX_INFLATE_BYTES = 512 * 2**20
#: Pictures (PNG/JPG/TIFF) may have at most this many pixels (``Storage(max_image_pixels=...)``),
#: Pillow's own default limit.
MAX_IMAGE_PIXELS = 89_478_485
#: The public JWST bucket (AWS Open Data): records imported from MAST keep their file's URI
#: here as ``metadata["cloud_uri"]``, read anonymously when no mount holds the record's key.
PUBLIC_BUCKET_URL = "s3://stpubdata/jwst/public/"
_F = TypeVar("_F", bound=Callable[..., Any])
_BITPIX_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


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


class _RangeCache(BaseCache):  # type: ignore[misc, unused-ignore]
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
        return bytes(data[: end - start])

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


def _guarded(method: _F) -> _F:
    """Re-raise any back-end failure of a Storage method as a jwstnb error without secrets
    (botocore, aiohttp and OSError messages can hold credentials or signed URLs)."""

    @functools.wraps(method)
    def wrapper(self: Storage, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (JwstnbError, _ArgumentError):
            raise
        except Exception as exc:
            if not _is_backend_error(exc):
                raise
            target = args[0] if args else kwargs.get("key", kwargs.get("prefix", ""))
            key = getattr(target, "file_path", target)
            raise self._backend_error(str(key), exc) from None

    return wrapper  # type: ignore[return-value]


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


class _Mount:
    """One storage root: a key prefix (``""`` or ``"name/"``), its URL and fsspec filesystem.

    Credentials written in an ``s3://KEY:SECRET@bucket`` URL become s3fs options (so they
    never reach a bucket name or a message); every secret is remembered for scrubbing.
    """

    def __init__(
        self,
        prefix: str,
        url: str,
        options: dict[str, Any],
        *,
        block_size: int,
        cache_type: str,
        read_only: bool = False,
    ) -> None:
        from fsspec.core import url_to_fs

        options = dict(options)
        secrets: list[str] = []
        protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
        if protocol in ("s3", "s3a"):
            url = _credentials_to_options(url, options, secrets)
            # s3fs takes its read block/cache at filesystem level (not ``block_size``).
            options.setdefault("default_block_size", block_size)
            options.setdefault(
                "default_cache_type", "readahead" if cache_type == RANGE_CACHE else cache_type
            )
        secrets += [
            value
            for name, value in _flatten(options)
            if isinstance(value, str) and len(value) >= 4 and _SECRET_OPTION.search(name)
        ]
        match = re.match(r"^[a-z][\w+.-]*://[^@/?#]*:([^@/?#]+)@", url, re.I)
        if match:
            secrets.append(match.group(1))
        self.secrets = tuple(secrets)
        self.prefix = prefix
        self.url = url
        self.option_names = tuple(sorted(options))
        # anonymous access (a public bucket) is read-only in practice: never write there
        self.read_only = read_only or options.get("anon") is True
        self.thumbs_writable: bool | None = False if self.read_only else None
        try:
            fs, root = url_to_fs(url, **options)
        except ImportError as exc:
            raise StorageNotConfigured(
                f"cannot open storage {self.display}: {exc} "
                f"(for s3:// install s3fs: pip install 'jwstnb[s3]')"
            ) from None
        except Exception as exc:
            raise StorageNotConfigured(
                f"cannot open storage {self.display}: {type(exc).__name__}: "
                f"{redact_text(str(exc), *self.secrets)}"
            ) from None
        self.fs = fs
        self.root = root.rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self.protocols: tuple[str, ...] = tuple(protocols)
        self.protocol: str = protocols[0]
        self.is_local = self.protocol in ("file", "local")
        self.remote = not self.is_local and self.protocol != "memory"
        # the real (symlink-free) root of a local mount: no key may resolve outside it;
        # paths are built from it, so listings (real paths) and keys agree
        self.real_root = os.path.realpath(self.root or "/") if self.is_local else None
        if self.real_root is not None and self.real_root != os.sep:
            self.root = self.real_root.rstrip(os.sep)

    @property
    def display(self) -> str:
        return redact_text(self.url, *self.secrets)

    def path(self, rel: str, key: str) -> str:
        """The fsspec path of ``rel`` under this mount; on local disks its real path, refused
        (InvalidStorageKey) when a symbolic link takes it outside the mount's folder."""
        path = f"{self.root}/{rel}" if self.root else rel
        if self.real_root is None:
            return path
        return self.inside(path, key)

    def inside(self, path: str, key: str) -> str:
        assert self.real_root is not None
        real = os.path.realpath(path)
        if real != self.real_root and not real.startswith(self.real_root.rstrip(os.sep) + os.sep):
            raise InvalidStorageKey(
                f"storage key {key!r} leads outside the storage folder {self.display} "
                "(through a symbolic link); refused"
            )
        return real

    def rel_of(self, path: str) -> str | None:
        """The key (relative to this mount) of an fsspec path under its root, else None
        (on local disks also None when the path resolves outside the root)."""
        path = self.fs._strip_protocol(path) if "://" in path else path
        if self.root and not path.startswith(self.root + "/"):
            return None
        if self.real_root is not None:
            real = os.path.realpath(path)
            if not real.startswith(self.real_root.rstrip(os.sep) + os.sep):
                return None
        return path[len(self.root) + 1 :] if self.root else path.lstrip("/")


@dataclass(frozen=True)
class _Where:
    """Where one file's bytes are: its storage key, the mount, and the fsspec path."""

    key: str
    mount: _Mount
    rel: str
    path: str


class Storage:
    """Files addressed by relative storage keys, under one URL or several mounts.

    ``Storage("s3://bucket/prefix", endpoint_url=...)`` (one mount), ``Storage({"":
    "file:///data/jwst", "team/": "s3://team-bucket/jwst"})`` (the longest matching key
    prefix picks the mount), or ``Storage()`` (``JWSTNB_STORAGE_URL`` or the folder under
    ``JWSTNB_HOME`` for ``""``, plus the config file's ``[storage.mounts]``). Extra keyword
    arguments go to every mount's fsspec filesystem, ``options={"team/": {...}}`` to one;
    they never appear in ``repr`` or errors. ``block_size`` / ``cache_type`` tune remote
    reads; ``max_inflate_bytes`` / ``max_image_pixels`` bound what a compressed FITS or a
    picture may expand to; ``public_options`` are the fsspec options of the anonymous public
    JWST bucket; ``thumbnail_cache`` is the local folder for thumbnails of read-only mounts
    (``False``: no caching); ``read_costs`` tunes the cost model that chooses how a remote
    plane is read (``request_seconds``, ``bytes_per_second``, ``concurrency``,
    ``chunk_bytes`` of :func:`jwstnb.imaging.plan_plane_read`).
    """

    def __init__(
        self,
        url: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]] | None = None,
        *,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_type: str = DEFAULT_CACHE_TYPE,
        max_inflate_bytes: int = MAX_INFLATE_BYTES,
        max_image_pixels: int = MAX_IMAGE_PIXELS,
        public_options: Mapping[str, Any] | None = None,
        thumbnail_cache: str | os.PathLike[str] | bool = True,
        read_costs: Mapping[str, float] | None = None,
        **fsspec_options: Any,
    ) -> None:
        per_mount: dict[str, dict[str, Any]] = {}
        if url is None:
            from jwstnb.config import storage_mount_options, storage_mounts

            mounts: dict[str, Any] = dict(storage_mounts())
            per_mount = {k: dict(v) for k, v in storage_mount_options().items()}
        elif isinstance(url, Mapping):
            mounts = dict(url)
        else:
            mounts = {"": url}
        if not mounts:
            raise StorageNotConfigured("no storage mounts given: pass a URL or {prefix: URL}")
        for prefix, opts in (options or {}).items():
            per_mount.setdefault(_mount_key(prefix), {}).update(opts)
        self.block_size = int(block_size)
        self.cache_type = cache_type
        self.max_inflate_bytes = int(max_inflate_bytes)
        self.max_image_pixels = int(max_image_pixels)
        self.read_costs = dict(read_costs or {})
        self._public_options = {"anon": True, **dict(public_options or {})}
        self._public: _Mount | None = None
        self._thumb_home = thumbnail_cache
        self._counter = _ByteCounter()
        built: list[_Mount] = []
        for raw_prefix, raw_url in mounts.items():
            prefix = _mount_key(raw_prefix)
            text = os.fspath(raw_url)
            if not isinstance(text, str) or not text.strip():
                where = f"mount {prefix!r}" if prefix else "the storage URL"
                raise StorageNotConfigured(f"{where} is empty: give a file://, s3://... URL")
            text = text.strip()
            opts = {**fsspec_options, **per_mount.get(prefix, {})}
            built.append(
                _Mount(prefix, text, opts, block_size=self.block_size, cache_type=cache_type)
            )
        # longest prefix first: the first mount whose prefix matches a key holds it
        self._mounts = sorted(built, key=lambda m: len(m.prefix), reverse=True)
        self._secrets = tuple(s for m in self._mounts for s in m.secrets)

    # --- identity -----------------------------------------------------------------------
    @property
    def _main(self) -> _Mount:
        return next((m for m in self._mounts if m.prefix == ""), self._mounts[-1])

    @property
    def url(self) -> str:
        """The default mount's URL (``""``, else the shortest prefix's), secrets redacted."""
        return self._main.display

    @property
    def mounts(self) -> dict[str, str]:
        """Key prefix -> URL (secrets redacted) of every mount, longest prefix first."""
        return {m.prefix: m.display for m in self._mounts}

    @property
    def fs(self) -> Any:
        """The default mount's fsspec filesystem (for advanced use)."""
        return self._main.fs

    @property
    def protocol(self) -> str:
        return self._main.protocol

    @property
    def is_local(self) -> bool:
        return self._main.is_local

    def __repr__(self) -> str:
        names = sorted({n for m in self._mounts for n in m.option_names})
        opts = f", options={names}" if names else ""
        if len(self._mounts) == 1 and self._mounts[0].prefix == "":
            return f"Storage({self.url!r}{opts})"
        return f"Storage({self.mounts!r}{opts})"

    # --- bytes counter ------------------------------------------------------------------
    @property
    def bytes_read(self) -> int:
        """Bytes fetched from remote stores by reads through this Storage (not local)."""
        return self._counter.bytes

    @property
    def read_requests(self) -> int:
        """Read requests made to remote stores through this Storage."""
        return self._counter.requests

    def reset_counters(self) -> None:
        self._counter.reset()

    # --- mounts, keys and paths ---------------------------------------------------------
    def _mount_for(self, key: str) -> _Mount | None:
        return next((m for m in self._mounts if key.startswith(m.prefix)), None)

    def _where(self, key: str) -> _Where:
        """Where the bytes of ``key`` live (validated first: InvalidStorageKey before I/O)."""
        validate_key(key)
        mount = self._mount_for(key)
        if mount is None:
            raise StorageNotConfigured(
                f"no mount holds {key!r} (mounts: {', '.join(repr(p) for p in self.mounts)}); "
                "add one with jwstnb.config.add_mount(name, url) or pass {prefix: url}"
            )
        rel = key[len(mount.prefix) :]
        if not rel or key.startswith(RESERVED_PREFIX) or rel.startswith(RESERVED_PREFIX):
            raise InvalidStorageKey(f"invalid storage key {key!r}: it names no file of a mount")
        return _Where(key, mount, rel, mount.path(rel, key))

    def _resolve(self, target: Any) -> _Where:
        """A key, or a record (``.file_path``, ``.metadata["cloud_uri"]``): a record whose
        key no mount holds is read anonymously from the public JWST bucket."""
        if isinstance(target, str) or not hasattr(target, "file_path"):
            return self._where(target)
        key = target.file_path
        validate_key(key)
        cloud = _cloud_rel(getattr(target, "metadata", None))
        if cloud is None:
            return self._where(key)
        mount = self._mount_for(key)
        if mount is not None:
            where = self._where(key)
            with suppress(Exception):
                if where.mount.fs.isfile(where.path):
                    return where
        public = self._public_mount()
        return _Where(key, public, cloud, public.path(cloud, key))

    def _public_mount(self) -> _Mount:
        if self._public is None:
            self._public = _Mount(
                "", PUBLIC_BUCKET_URL, self._public_options, block_size=self.block_size,
                cache_type=self.cache_type, read_only=True,
            )
        return self._public

    def locate(self, target: Any) -> tuple[Any, str]:
        """``(fsspec filesystem, path)`` holding a key or a record's bytes (see
        :meth:`open_fits`): its mount, else the public JWST bucket (read anonymously)."""
        where = self._resolve(target)
        return where.mount.fs, where.path

    def path(self, key: str) -> str:
        """The fsspec path of ``key`` in its mount (InvalidStorageKey before any I/O)."""
        return self._where(key).path

    def full_url(self, key: str) -> str:
        """The full (redacted) URL of ``key``, for messages."""
        where = self._where(key)
        return f"{where.mount.display.rstrip('/')}/{where.rel}"

    def mount_of(self, url: str | os.PathLike[str]) -> str | None:
        """The key prefix of the mount whose root is ``url``, or None if none is."""
        for mount in self._mounts:
            if self._rel_in(mount, url) == "":
                return mount.prefix
        return None

    def key_for(self, url: str | os.PathLike[str]) -> str | None:
        """The storage key of the file at ``url`` (a URL or local path under some mount), or
        None. Where mounts nest, the key of the most specific mount (the deepest root)."""
        found: list[tuple[int, str]] = []
        for mount in self._mounts:
            rel = self._rel_in(mount, url)
            if not rel:
                continue
            key = mount.prefix + rel
            if is_valid_key(key) and self._mount_for(key) is mount:
                found.append((len(mount.real_root or mount.root), key))
        return max(found)[1] if found else None

    def canonical_key(self, key: str) -> str:
        """The one key of the file ``key`` names: where two mounts reach the same file, the
        key under the most specific mount (see docs/storage.md); else ``key`` itself."""
        where = self._where(key)
        url = where.path if where.mount.is_local else where.mount.fs.unstrip_protocol(where.path)
        return self.key_for(url) or key

    @staticmethod
    def _rel_in(mount: _Mount, url: str | os.PathLike[str]) -> str | None:
        text = os.fspath(url)
        protocol = text.split("://", 1)[0].lower() if "://" in text else "file"
        if protocol not in mount.protocols and not (protocol == "file" and mount.is_local):
            return None
        if mount.is_local:
            text = os.path.abspath(mount.fs._strip_protocol(text))
            real = os.path.realpath(text).rstrip(os.sep)
            root = (mount.real_root or "").rstrip(os.sep)
            if real == root:
                return ""
            rel = mount.rel_of(text)
            if rel is None and real.startswith(root + os.sep):  # reached through a link
                rel = real[len(root) + 1 :].replace(os.sep, "/")
            return rel
        else:
            text = mount.fs._strip_protocol(text).rstrip("/")
            if text == mount.root:
                return ""
        return mount.rel_of(text)

    # --- errors -------------------------------------------------------------------------
    def _missing(self, key: str, where: _Where | None = None) -> StorageFileNotFound:
        place = where.mount.display if where is not None else self.url
        return StorageFileNotFound(f"no file {key!r} in storage {place}")

    def _backend_error(self, key: str, exc: BaseException) -> JwstnbError:
        """A back-end failure (OSError, botocore, aiohttp...) as a jwstnb error, no secret."""
        if isinstance(exc, JwstnbError):
            return exc
        if isinstance(exc, FileNotFoundError):
            return self._missing(key)
        text = redact_text(f"{type(exc).__name__}: {exc}", *self._secrets)
        what = "permission denied" if isinstance(exc, PermissionError) else "the back end failed"
        mount = self._mount_for(key) if is_valid_key(key) else None
        place = f"storage {mount.display}" if mount is not None else "storage"
        return StorageError(
            f"{place}: reading or writing {key!r}: {what} ({text}); check the URL, "
            "credentials and network"
        )

    def _fits_failure(self, key: str, exc: BaseException) -> JwstnbError:
        if isinstance(exc, JwstnbError):
            return exc
        if _is_backend_error(exc):
            return self._backend_error(key, exc)
        return _fits_error(key, exc)

    # --- plain file operations ----------------------------------------------------------
    @_guarded
    def exists(self, key: str) -> bool:
        """True if a file exists under ``key``."""
        where = self._where(key)
        try:
            return bool(where.mount.fs.isfile(where.path))
        except FileNotFoundError:
            return False

    @_guarded
    def size(self, key: Any) -> int:
        """Size of the file in bytes (a key or a record); StorageFileNotFound if missing."""
        return int(self._info(self._resolve(key)).get("size") or 0)

    def _info(self, where: _Where) -> dict[str, Any]:
        """The fsspec info (size, ETag or mtime, ...) of a file; StorageFileNotFound."""
        try:
            return dict(where.mount.fs.info(where.path))
        except FileNotFoundError:
            raise self._missing(where.key, where) from None

    @_guarded
    def sizes(self, prefix: str = "") -> dict[str, int]:
        """Every file under ``prefix`` -> its size in bytes, from one listing per mount
        (sorted keys; jwstnb's own ``.jwstnb/`` files and symlinks leaving a local mount are
        left out)."""
        return {key: int(info.get("size") or 0) for key, info in self._listing(prefix).items()}

    def _listing(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every file under ``prefix`` -> its fsspec info, one listing per mount (sorted)."""
        if prefix not in ("", "/"):
            validate_key(prefix.rstrip("/"))
        prefix = "" if prefix == "/" else prefix
        out: dict[str, dict[str, Any]] = {}
        for mount in self._mounts:
            if mount.prefix.startswith(prefix):
                rel_prefix = ""
            elif prefix.startswith(mount.prefix):
                rel_prefix = prefix[len(mount.prefix) :]
            else:
                continue
            for rel, info in _list_mount(mount, rel_prefix).items():
                key = mount.prefix + rel
                if key.startswith(prefix) and self._mount_for(key) is mount:
                    out[key] = info
        return dict(sorted(out.items()))

    def list(self, prefix: str = "") -> list[str]:
        """Keys of every file under ``prefix`` ("mast/" for a folder), sorted."""
        return list(self.sizes(prefix))

    @_guarded
    def open(self, key: Any, mode: str = "rb") -> Any:
        """Open a key (or, for reading, a record) as a file object; remote reads use small
        blocks and a read-ahead cache."""
        if mode not in ("rb", "wb", "r", "w"):
            raise _ArgumentError(f"mode must be 'rb', 'wb', 'r' or 'w', not {mode!r}")
        if "w" in mode:
            where = self._where(key)
            self._ensure_parent(where)
            return where.mount.fs.open(where.path, mode)
        where = self._resolve(key)
        try:
            if mode == "r":
                return io.TextIOWrapper(self._open_binary(where), encoding="utf-8")
            return self._open_binary(where)
        except FileNotFoundError:
            raise self._missing(where.key, where) from None

    def _open_binary(self, where: _Where, size: int | None = None) -> Any:
        mount, path = where.mount, where.path
        kwargs: dict[str, Any] = {}
        ours = self.cache_type == RANGE_CACHE
        if mount.remote:
            kwargs = {
                "block_size": self.block_size,
                "cache_type": "readahead" if ours else self.cache_type,
            }
            if size is not None:
                kwargs["size"] = size
        f = mount.fs.open(path, "rb", **kwargs)
        cache = getattr(f, "cache", None)
        fetcher = getattr(cache, "fetcher", None)
        if mount.remote and fetcher is not None:
            counter = self._counter
            fs = mount.fs

            def counted(start: int, end: int) -> bytes:
                data = bytes(fetcher(start, end))
                counter.add(len(data))
                return data

            def many(starts: list[int], ends: list[int]) -> list[bytes]:
                blobs = fs.cat_ranges([path] * len(starts), starts, ends, on_error="raise")
                for blob in blobs:
                    counter.add(len(blob))
                return list(blobs)

            if ours:
                f.cache = _RangeCache(f.blocksize, counted, f.size, fetch_many=many)
            elif cache is not None:
                cache.fetcher = counted
        return f

    @_guarded
    def read_bytes(self, key: Any) -> bytes:
        """The whole file (a key or a record)."""
        where = self._resolve(key)
        return self._read_all(where)

    def _read_all(self, where: _Where) -> bytes:
        try:
            data = where.mount.fs.cat_file(where.path)
        except FileNotFoundError:
            raise self._missing(where.key, where) from None
        if where.mount.remote:
            self._counter.add(len(data))
        return bytes(data)

    @_guarded
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``key`` (folders are created as needed)."""
        where = self._where(key)
        self._ensure_parent(where)
        where.mount.fs.pipe_file(where.path, bytes(data))

    @_guarded
    def delete(self, key: str) -> None:
        """Remove the file under ``key``; StorageFileNotFound if it is missing."""
        where = self._where(key)
        try:
            where.mount.fs.rm_file(where.path)
        except FileNotFoundError:
            raise self._missing(key, where) from None

    @staticmethod
    def _ensure_parent(where: _Where) -> None:
        if where.mount.is_local:
            where.mount.fs.makedirs(where.path.rsplit("/", 1)[0], exist_ok=True)

    # --- FITS ---------------------------------------------------------------------------
    @_guarded
    def open_fits(self, key: Any, *, check: bool = True) -> HDUList:
        """Open a key (or a record) as FITS, lazily: data is read only when used.

        Remote files are read through small blocks (``block_size``) with memory mapping off,
        so ``hdul["SCI"].section[y0:y1, x0:x1]`` fetches only those rows. With ``check``
        (default) every header is read and the structure checked first, so a truncated or
        corrupt file raises FitsError here rather than deep inside astropy later; with
        ``check=False`` headers are read only as HDUs are asked for. Close it (or ``with``).
        A gzip/bzip2 file inflates at most ``max_inflate_bytes``.
        """
        opened = self._open_fits(self._resolve(key))
        if check:
            try:
                _check_structure(opened.hdul, opened.total, opened.key)
                opened.check()
            except BaseException as exc:
                with suppress(Exception):
                    opened.hdul.close()
                if isinstance(exc, Exception):
                    raise self._fits_failure(opened.key, exc) from None
                raise
        return opened.hdul

    def _open_fits(self, where: _Where, size: int | None = None) -> _Opened:
        from astropy.io import fits

        key = where.key
        bounded: _Bounded | None = None
        magic, total = b"", -1
        try:
            f = self._open_binary(where, size=size)
        except FileNotFoundError:
            raise self._missing(key, where) from None
        except Exception as exc:
            raise self._fits_failure(key, exc) from None
        try:
            total = int(getattr(f, "size", None) or where.mount.fs.size(where.path))
            cache = getattr(f, "cache", None)
            if isinstance(cache, _RangeCache) and total <= _SMALL_FILE_BLOCKS * self.block_size:
                # a small file: one request for all of it beats one per HDU header
                cache.prefetch([(0, total)])
            magic = f.read(9)
            if not any(magic.startswith(m) for m in _FITS_MAGIC):
                what = "the file is empty" if not magic else f"it starts with {magic[:9]!r}"
                raise FitsError(f"{key!r} is not a FITS file: {what}, not a SIMPLE card")
            f.seek(0)
            source: Any = f
            if not magic.startswith(b"SIMPLE"):
                # compressed: offsets are in the inflated stream, its size is unknown;
                # inflate here, bounded (astropy only sniffs compression on some objects)
                gzip_type, bz2_type = _bounded_types()
                total = -1
                stream = gzip_type(fileobj=f) if magic.startswith(b"\x1f\x8b") else bz2_type(f)
                source = bounded = stream.bound(self.max_inflate_bytes, key)
            hdul = fits.open(source, mode="readonly", lazy_load_hdus=True, memmap=False)
        except Exception as exc:
            f.close()
            if bounded is not None and bounded.exceeded:  # astropy hid it as a corrupt file
                raise bounded.refuse() from None
            if magic.startswith(b"SIMPLE") and 0 <= total < _FITS_BLOCK:
                # it does start like FITS: astropy's "no SIMPLE card" means cut short
                raise FitsError(
                    f"cannot read {key!r} as FITS: the file is truncated ({total} bytes, "
                    f"less than one {_FITS_BLOCK}-byte header block)"
                ) from None
            raise self._fits_failure(key, exc) from None
        return _Opened(key, hdul, total, f, bounded, self.max_inflate_bytes)

    @contextmanager
    def _fits(self, where: _Where, size: int | None = None) -> Iterator[_Opened]:
        opened = self._open_fits(where, size=size)
        try:
            yield opened
            opened.check()
        except _ArgumentError:
            raise
        except Exception as exc:
            raise self._fits_failure(where.key, exc) from None
        finally:
            with suppress(Exception):
                opened.hdul.close()

    @_guarded
    def read_header(self, key: Any, ext: int | str | tuple[str, int] = 0) -> Header:
        """The header of one HDU (by index, name or (name, ver)); no data is read.

        Headers before it are read (FITS has no index), nothing after it.
        """
        with self._fits(self._resolve(key)) as opened:
            hdu = _get_hdu(opened.hdul, ext, opened.key)
            return hdu.header.copy()

    @_guarded
    def read_headers(self, key: Any, size: int | None = None) -> builtins.list[Header]:
        """Every HDU's header, with the file's structure checked; no data is read.

        Raises FitsError if the file is truncated (an HDU's data runs past its end), a
        header is corrupt or has lost its END card, unreadable bytes follow the last HDU,
        or a compressed file would inflate past ``max_inflate_bytes``. ``size`` (if known
        from a listing) saves a request.
        """
        with self._fits(self._resolve(key), size=size) as opened:
            _check_structure(opened.hdul, opened.total, opened.key)
            opened.check()
            for hdu in opened.hdul:
                if opened.bounded is not None:
                    opened.check_data(hdu)
            return [hdu.header.copy() for hdu in opened.hdul]

    @_guarded
    def cutout(
        self,
        key: Any,
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
        ``key`` may be a record (see :meth:`open_fits`).
        """
        if position is None and size is not None:
            raise _ArgumentError("size= needs position= (or give the pixel box with y= and x=)")
        with self._fits(self._resolve(key)) as opened:
            key = opened.key
            hdu = _get_hdu(opened.hdul, ext, key)
            _check_image(hdu, ext, key)
            opened.check_data(hdu)
            plane_section = opened.section(hdu, plane)
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

    @_guarded
    def image_data(
        self, key: Any, ext: int | str | tuple[str, int] | None = None, *, step: int = 1
    ) -> np.ndarray:
        """The first 2-D science plane (SCI, else the first image HDU with 2-D data; for
        cubes the first plane) as a float array; every ``step``-th row and column only.

        JPG/PNG/TIFF keys open through Pillow (grayscale). Remote planes are read as sampled
        rows or whole, whichever :func:`jwstnb.imaging.plan_plane_read` finds cheaper.
        """
        where = self._resolve(key)
        return self._plane(where, ext, step)

    def _plane(self, where: _Where, ext: Any, step: int) -> np.ndarray:
        import numpy as np

        if _is_image_key(where.key):
            image = self._open_pillow(where)
            return np.asarray(image.convert("F"), dtype=np.float32)[::step, ::step]
        with self._fits(where) as opened:
            hdu = _science_hdu(opened.hdul, ext, opened.key)
            opened.check_data(hdu)
            return _read_strided(opened.section(hdu, 0), step, self.read_costs)

    @_guarded
    def open_image(self, key: Any) -> Any:
        """A JPG/PNG/TIFF key as a loaded ``PIL.Image``; FitsError if it is not an image or
        has more than ``max_image_pixels`` pixels."""
        return self._open_pillow(self._resolve(key))

    @_guarded
    def picture_info(self, key: Any) -> tuple[int, int, str]:
        """``(width, height, mode)`` of a JPG/PNG/TIFF from its header only (no pixels
        decoded); FitsError if unreadable or above ``max_image_pixels``."""
        where = self._resolve(key)
        with self._open_binary(where) as f, self._pillow(where.key, f) as image:
            return int(image.size[0]), int(image.size[1]), str(image.mode)

    @contextmanager
    def _pillow(self, key: str, source: Any) -> Iterator[Any]:
        """A Pillow image opened lazily from ``source``, refused above the pixel limit
        (Pillow's DecompressionBombError and its warning included)."""
        import warnings

        from PIL import Image, UnidentifiedImageError

        limit = self.max_image_pixels
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

    def _open_pillow(self, where: _Where) -> Any:
        size = int(where.mount.fs.size(where.path))
        if size > self.max_inflate_bytes:
            raise FitsError(
                f"{where.key!r} is {size} bytes, above the limit of {self.max_inflate_bytes}"
                " bytes; raise Storage(max_inflate_bytes=...) if the file is trusted"
            )
        data = self._read_all(where)
        with self._pillow(where.key, io.BytesIO(data)) as image:
            image.load()
            return image

    # --- thumbnails ---------------------------------------------------------------------
    @_guarded
    def thumbnail(
        self,
        key: Any,
        size: int = 256,
        stretch: str = "zscale",
        ext: int | str | tuple[str, int] | None = None,
    ) -> bytes:
        """A PNG preview, ``size`` pixels on its longer side, of a key or a record.

        FITS: the first 2-D science plane, every n-th row and column (read as sampled rows
        or as the whole plane, whichever costs less), normalised by
        :func:`jwstnb.imaging.normalise` (``zscale`` / ``asinh`` / ``linear`` / ``log``).
        JPG/PNG/TIFF: the picture itself, resized. Computed once per file version (size and
        ETag or modification time) and cached under ``.jwstnb/thumbs/`` in a writable mount,
        else in a local cache folder; later views read only the cached PNG.
        """
        from jwstnb import imaging

        if stretch not in imaging.STRETCHES:
            raise _ArgumentError(
                f"stretch must be one of {', '.join(imaging.STRETCHES)}, not {stretch!r}"
            )
        if int(size) < 1:
            raise _ArgumentError("size must be a positive number of pixels")
        size = int(size)
        where = self._resolve(key)
        version, known = _record_version(key, where)
        if version is None:
            info = self._info(where)
            version, known = _version(info), int(info.get("size") or 0) or None
        name = _thumb_name(where.rel, version, size, stretch, ext)
        cached = self._thumb_get(where, name)
        if cached is not None:
            return cached
        png = self._render_thumbnail(where, size, stretch, ext, known)
        self._thumb_put(where, name, png)
        return png

    @_guarded
    def file_version(self, key: Any) -> str:
        """The version of a file (a key or a record): a digest of its size and ETag (object
        stores) or modification time (disks); it changes when the file is rewritten."""
        return _version(self._info(self._resolve(key)))

    @_guarded
    def file_versions(self, prefix: str = "") -> dict[str, str]:
        """Every file under ``prefix`` -> :meth:`file_version`, from the same one listing per
        mount as :meth:`sizes` (a scan keeps it as ``metadata["file_version"]``, so a
        record's cached thumbnail is found without asking the store for the file's ETag)."""
        return {key: _version(info) for key, info in self._listing(prefix).items()}

    @_guarded
    def files(self, prefix: str = "") -> dict[str, tuple[int, str]]:
        """Every file under ``prefix`` -> ``(size, file_version)``, from one listing per
        mount (what a scan needs for ``file_size`` and ``metadata["file_version"]``)."""
        return {
            key: (int(info.get("size") or 0), _version(info))
            for key, info in self._listing(prefix).items()
        }

    def _render_thumbnail(
        self, where: _Where, size: int, stretch: str, ext: Any, file_size: int | None = None
    ) -> bytes:
        from jwstnb import imaging

        if _is_image_key(where.key):
            image = self._open_pillow(where)
            if image.mode not in ("RGB", "RGBA", "L", "LA"):
                image = image.convert("RGB")
            out = io.BytesIO()
            imaging.resize(image, size).save(out, format="PNG", optimize=True)
            return out.getvalue()
        with self._fits(where, size=file_size) as opened:
            hdu = _science_hdu(opened.hdul, ext, opened.key)
            opened.check_data(hdu)
            section = opened.section(hdu, 0)
            step = imaging.stride_for(section.shape, size)
            plane = _read_strided(section, step, self.read_costs)
        return imaging.to_png(imaging.normalise(plane, stretch), size)

    def _thumb_local(self, where: _Where, name: str) -> str | None:
        """The local cache file for a read-only mount's thumbnail (None: caching off)."""
        if self._thumb_home is False:
            return None
        if self._thumb_home is True:
            from jwstnb.localdb import data_home

            home = data_home() / "cache" / "thumbs"
        else:
            home = Path(os.fspath(self._thumb_home))  # type: ignore[arg-type, unused-ignore]
        digest = hashlib.sha256(where.mount.url.encode()).hexdigest()[:16]
        return str(home / digest / name)

    def _thumb_targets(
        self, where: _Where, name: str
    ) -> builtins.list[tuple[Any, str, bool]]:
        """(fs, path, remote) places a thumbnail may be cached, in order of preference."""
        out: builtins.list[tuple[Any, str, bool]] = []
        if self._thumb_home is False:
            return out
        mount = where.mount
        if mount.thumbs_writable is not False:
            path = f"{mount.root}/{RESERVED_PREFIX}thumbs/{name}" if mount.root else (
                f"{RESERVED_PREFIX}thumbs/{name}"
            )
            out.append((mount.fs, path, mount.remote))
        local = self._thumb_local(where, name)
        if local is not None:
            from fsspec.implementations.local import LocalFileSystem

            out.append((LocalFileSystem(), local, False))
        return out

    def _thumb_get(self, where: _Where, name: str) -> bytes | None:
        for fs, path, remote in self._thumb_targets(where, name):
            try:
                # start=0: one ranged GET (s3fs asks for the size first without one)
                data = bytes(fs.cat_file(path, start=0))
            except Exception:  # a miss (or an unreadable cache): compute it again
                continue
            if remote:
                self._counter.add(len(data))
            if data.startswith(b"\x89PNG"):
                return data
        return None

    def _thumb_put(self, where: _Where, name: str, png: bytes) -> None:
        for fs, path, _remote in self._thumb_targets(where, name):
            try:
                if fs is not where.mount.fs or where.mount.is_local:
                    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
                fs.pipe_file(path, png)
            except Exception as exc:  # read-only mount: fall back to the local cache
                if fs is where.mount.fs:
                    where.mount.thumbs_writable = False
                log.debug("thumbnail cache %s not writable: %s", where.mount.display,
                          redact_text(str(exc), *self._secrets))
                continue
            if fs is where.mount.fs:
                where.mount.thumbs_writable = True
            return


# --- helpers (pure) -------------------------------------------------------------------------


def _mount_key(prefix: str) -> str:
    """A mount's key prefix: ``""`` or valid key segments ending in ``/``."""
    if not isinstance(prefix, str):
        raise StorageNotConfigured(f"mount prefix must be a string, not {type(prefix).__name__}")
    if prefix in ("", "/"):
        return ""
    bare = prefix.rstrip("/")
    try:
        validate_key(bare)
    except InvalidStorageKey as exc:
        raise StorageNotConfigured(f"mount prefix {prefix!r} is not a key prefix: {exc}") from None
    if (bare + "/").startswith(RESERVED_PREFIX):
        raise StorageNotConfigured(f"mount prefix {prefix!r} is reserved for jwstnb's own files")
    return bare + "/"


def _credentials_to_options(url: str, options: dict[str, Any], secrets: list[str]) -> str:
    """Move ``KEY:SECRET@`` of an ``s3://`` URL into s3fs's ``key``/``secret`` options."""
    from urllib.parse import unquote

    match = re.match(r"^(?P<scheme>[a-z0-9]+://)(?P<user>[^@/?#]*)@(?P<rest>.*)$", url, re.I)
    if not match:
        return url
    key, sep, secret = match.group("user").partition(":")
    if key:
        options.setdefault("key", unquote(key))
    if sep:
        options.setdefault("secret", unquote(secret))
        secrets += [secret, unquote(secret)]
    return match.group("scheme") + match.group("rest")


def _cloud_rel(metadata: Any) -> str | None:
    """The key inside the public JWST bucket of a record's ``metadata["cloud_uri"]``, when it
    is one (anything else, other buckets included, is never followed)."""
    if not isinstance(metadata, Mapping):
        return None
    uri = metadata.get("cloud_uri")
    if not isinstance(uri, str) or not uri.startswith(PUBLIC_BUCKET_URL):
        return None
    rel = uri[len(PUBLIC_BUCKET_URL) :]
    return rel if is_valid_key(rel) else None


def _list_mount(mount: _Mount, rel_prefix: str) -> dict[str, dict[str, Any]]:
    """Files under ``rel_prefix`` of one mount -> fsspec info (keys relative to the mount)."""
    if rel_prefix == "":
        folder, keep = mount.root, ""
    else:
        stem = rel_prefix.rstrip("/")
        parent = stem if rel_prefix.endswith("/") else stem.rpartition("/")[0]
        folder = mount.path(parent, parent) if parent else mount.root
        keep = rel_prefix
    if mount.real_root is not None and folder:
        folder = mount.inside(folder, rel_prefix or "/")
    try:
        found = mount.fs.find(folder, detail=True) if folder or mount.root == "" else {}
    except FileNotFoundError:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for path, info in found.items():
        if info.get("type", "file") != "file":
            continue
        rel = mount.rel_of(path)
        if not rel or not rel.startswith(keep) or rel.startswith(RESERVED_PREFIX):
            if rel is None and mount.real_root is not None:
                log.warning("skipping %r: a symbolic link to outside the storage folder", path)
            continue
        if not is_valid_key(mount.prefix + rel):
            log.warning("skipping a file whose name is not a valid storage key: %r", rel)
            continue
        out[rel] = info
    return out


_BACKEND_MODULES = frozenset(
    {"botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "adlfs", "fsspec", "urllib3",
     "requests", "azure", "google", "ssl", "socket"}
)


def _is_backend_error(exc: BaseException) -> bool:
    """True for failures of the storage back end (not of the file's contents)."""
    if isinstance(exc, (PermissionError, ConnectionError, TimeoutError, FileNotFoundError)):
        return True
    if type(exc).__module__.split(".")[0] in _BACKEND_MODULES:
        return True
    return isinstance(exc, OSError) and exc.errno is not None


def _version(info: Mapping[str, Any]) -> str:
    """A file's version from its fsspec info: size and ETag, else modification time."""
    parts = [str(info.get("size", ""))]
    for name in ("ETag", "etag", "mtime", "LastModified", "last_modified"):
        if info.get(name) not in (None, ""):
            parts.append(f"{name}={info[name]}")
            break
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _record_version(target: Any, where: _Where) -> tuple[str | None, int | None]:
    """``(metadata["file_version"], file_size)`` of a record read from its own mount (a
    scan stores both), else ``(None, None)``: the store is asked instead."""
    metadata = getattr(target, "metadata", None)
    if isinstance(target, str) or not isinstance(metadata, Mapping) or where.mount.read_only:
        return None, None
    version = metadata.get("file_version")
    if not isinstance(version, str) or not re.fullmatch(r"[0-9a-f]{8,64}", version):
        return None, None
    size = getattr(target, "file_size", None)
    return version, int(size) if isinstance(size, int) and size > 0 else None


def _thumb_name(rel: str, version: str, size: int, stretch: str, ext: Any) -> str:
    """The cache name of a thumbnail: the file's key, then its version and the rendering
    (size, stretch, extension)."""
    token = re.sub(r"[^A-Za-z0-9_-]+", "_", "auto" if ext is None else str(ext)).strip("_")
    return f"{rel}/{version}-{size}px-{stretch}-{token or 'ext'}.png"




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
