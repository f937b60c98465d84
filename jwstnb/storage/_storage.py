"""The Storage class: files by storage key under one URL or several mounts.

The class is the public face of :mod:`jwstnb.storage`; the rooms it is built from (mounts,
the range cache, FITS, pictures, thumbnails, bounded decompression) live in the sibling
modules, and a Storage pickles by its public constructor arguments (:class:`StorageRecipe`).
"""

from __future__ import annotations

import builtins
import functools
import inspect
import io
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jwstnb.config import STORAGE_ENV, redact_text
from jwstnb.errors import (
    FitsError,
    InvalidStorageKey,
    JwstnbError,
    StorageError,
    StorageFileNotFound,
    StorageNotConfigured,
)
from jwstnb.imaging import celestial_wcs
from jwstnb.keys import RESERVED_PREFIX, is_valid_key, validate_key
from jwstnb.storage._cache import _ByteCounter, _RangeCache
from jwstnb.storage._errors import _ArgumentError, _guarded, _is_backend_error
from jwstnb.storage._fits import (
    _FITS_BLOCK,
    _FITS_MAGIC,
    _SMALL_FILE_BLOCKS,
    Cutout,
    _bounds,
    _check_image,
    _check_structure,
    _fits_error,
    _get_hdu,
    _Opened,
    _read_strided,
    _science_hdu,
)
from jwstnb.storage._inflate import MAX_INFLATE_BYTES, _Bounded, _bounded_types
from jwstnb.storage._mounts import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_CACHE_TYPE,
    PUBLIC_BUCKET_URL,
    RANGE_CACHE,
    _cloud_rel,
    _list_mount,
    _Mount,
    _mount_key,
    _version,
    _Where,
)
from jwstnb.storage._pictures import MAX_IMAGE_PIXELS, _is_image_key, _pillow
from jwstnb.storage._thumbnails import _record_version, _thumb_name, _ThumbnailCache

if TYPE_CHECKING:
    import numpy as np
    from astropy.io.fits import HDUList, Header

# credentials written in a URL (``s3://KEY:SECRET@bucket``): left out of the recipe's repr
_USERINFO = re.compile(r"^([a-z][\w+.-]*://)[^@/?#]*@", re.I)


@dataclass(frozen=True, repr=False)
class StorageRecipe:
    """The public constructor arguments of a Storage: ``Storage(mounts, **keywords)``
    rebuilds it, which is how a Storage pickles (for Dask workers).

    ``mounts`` maps key prefixes to URLs as given and ``keywords`` holds every other
    argument, credentials included, so neither is shown by ``repr``.
    """

    mounts: dict[str, str]
    keywords: dict[str, Any]

    def build(self) -> Storage:
        """A new Storage from these arguments."""
        return Storage(dict(self.mounts), **self.keywords)

    def __repr__(self) -> str:
        mounts = {prefix: _USERINFO.sub(r"\1", url) for prefix, url in self.mounts.items()}
        return f"StorageRecipe({mounts!r}, keywords={sorted(self.keywords)})"


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
    ``chunk_bytes`` of :func:`jwstnb.imaging.plan_plane_read`). A Storage pickles by
    :attr:`recipe`, these arguments as given, so a Dask worker rebuilds the same mounts.
    """

    def __new__(cls, url: Any = None, *args: Any, **kwargs: Any) -> Storage:
        """``Storage()`` in service mode (a service URL configured and no storage URL: the
        kernel holds no storage credential) is a RemoteStorage reading through the
        service's signed URLs (:mod:`jwstnb.session.remote`, which registers it)."""
        if cls is Storage and url is None and not os.environ.get(STORAGE_ENV):
            remote = _SERVICE_STORAGE
            if remote is not None and remote[1]():
                return object.__new__(remote[0])  # type.__call__ runs its __init__
        return object.__new__(cls)

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
        mounts, per_mount = _mount_arguments(url, options)
        self.block_size = int(block_size)
        self.cache_type = cache_type
        self.max_inflate_bytes = int(max_inflate_bytes)
        self.max_image_pixels = int(max_image_pixels)
        self.read_costs = dict(read_costs or {})
        self._public_options = {"anon": True, **dict(public_options or {})}
        self._public: _Mount | None = None
        self._counter = _ByteCounter()
        given: dict[str, str] = {}
        built: list[_Mount] = []
        for raw_prefix, raw_url in mounts.items():
            prefix = _mount_key(raw_prefix)
            text = os.fspath(raw_url)
            if not isinstance(text, str) or not text.strip():
                where = f"mount {prefix!r}" if prefix else "the storage URL"
                raise StorageNotConfigured(f"{where} is empty: give a file://, s3://... URL")
            text = given[prefix] = text.strip()
            opts = {**fsspec_options, **per_mount.get(prefix, {})}
            built.append(
                _Mount(prefix, text, opts, block_size=self.block_size, cache_type=cache_type)
            )
        # longest prefix first: the first mount whose prefix matches a key holds it
        self._mounts = sorted(built, key=lambda m: len(m.prefix), reverse=True)
        self._secrets = tuple(s for m in self._mounts for s in m.secrets)
        self._thumbs = _ThumbnailCache(thumbnail_cache, self._counter, self._secrets)
        self._recipe = StorageRecipe(
            given,
            {
                "options": {prefix: dict(opts) for prefix, opts in per_mount.items()},
                "block_size": self.block_size,
                "cache_type": cache_type,
                "max_inflate_bytes": self.max_inflate_bytes,
                "max_image_pixels": self.max_image_pixels,
                "public_options": dict(public_options or {}),
                "thumbnail_cache": thumbnail_cache,
                "read_costs": dict(self.read_costs),
                **fsspec_options,
            },
        )

    @property
    def recipe(self) -> StorageRecipe:
        """The public constructor arguments that rebuild this Storage elsewhere: its mounts
        (config-file mounts resolved here) and options, credentials as given (never shown)."""
        return self._recipe

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by :attr:`recipe`: ``Storage(mounts, **keywords)`` in the other process (a
        Dask worker), so no open file, lock, cache or other private state travels."""
        recipe = self._recipe
        return functools.partial(Storage, **recipe.keywords), (dict(recipe.mounts),)

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
            # The headers outlive the closed file as they are (no copy: a scan reads many).
            return [hdu.header for hdu in opened.hdul]

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
        with self._open_binary(where) as f, _pillow(where.key, f, self.max_image_pixels) as image:
            return int(image.size[0]), int(image.size[1]), str(image.mode)

    def _open_pillow(self, where: _Where) -> Any:
        size = int(where.mount.fs.size(where.path))
        if size > self.max_inflate_bytes:
            raise FitsError(
                f"{where.key!r} is {size} bytes, above the limit of {self.max_inflate_bytes}"
                " bytes; raise Storage(max_inflate_bytes=...) if the file is trusted"
            )
        data = self._read_all(where)
        with _pillow(where.key, io.BytesIO(data), self.max_image_pixels) as image:
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
        cached = self._thumbs.get(where, name)
        if cached is not None:
            return cached
        png = self._render_thumbnail(where, size, stretch, ext, known)
        self._thumbs.put(where, name, png)
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


# The archive service's client (jwstnb.session.remote, imported by connect() in service mode)
# registers the Storage that reads through the service, and when a service is configured.
_SERVICE_STORAGE: tuple[type[Storage], Callable[[], bool]] | None = None


def register_service_storage(storage: type[Storage], configured: Callable[[], bool]) -> None:
    """Make ``Storage()`` (no URL, no ``JWSTNB_STORAGE_URL``) a ``storage`` while
    ``configured()`` says a service is configured: service mode (DESIGN §10)."""
    global _SERVICE_STORAGE
    _SERVICE_STORAGE = (storage, configured)


# help(Storage), the API reference and pickling see __init__'s arguments, not __new__'s.
_init = inspect.signature(Storage.__init__)
Storage.__signature__ = _init.replace(  # type: ignore[attr-defined]
    parameters=list(_init.parameters.values())[1:]
)


def _mount_arguments(
    url: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]] | None,
    options: Mapping[str, Mapping[str, Any]] | None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The mounts (prefix -> URL) and per-mount fsspec options of Storage's arguments: the
    URL, a mapping, or (None) the default mount and the config file's mounts."""
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
    return mounts, per_mount
