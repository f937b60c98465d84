"""Mounts: key prefixes mapped to fsspec URLs, where each storage key's bytes live.

A :class:`_Mount` is one root (its URL, filesystem and secrets, kept out of every message);
the helpers here check mount prefixes, move URL credentials into options, list a mount's
files and digest a file's version from its listing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jwstnb.config import redact_text
from jwstnb.errors import InvalidStorageKey, StorageNotConfigured
from jwstnb.keys import RESERVED_PREFIX, is_valid_key, validate_key

log = logging.getLogger("jwstnb.storage")

#: Read block for remote files: big enough for a JWST header in one or two requests, small
#: enough that a cutout row costs kilobytes, not megabytes.
DEFAULT_BLOCK_SIZE = 64 * 1024
#: Remote read cache: jwstnb's sparse range cache (misses read ahead one block; cutouts and
#: thumbnails prefetch exactly the rows they need, merged, in one concurrent batch). Any
#: fsspec cache name ("readahead", "blockcache", ...) may be given instead.
RANGE_CACHE = "ranges"
DEFAULT_CACHE_TYPE = RANGE_CACHE
_SECRET_OPTION = re.compile(r"secret|password|passwd|token|credential|(^|_)key$|^key", re.I)
#: The public JWST bucket (AWS Open Data): records imported from MAST keep their file's URI
#: here as ``metadata["cloud_uri"]``, read anonymously when no mount holds the record's key.
PUBLIC_BUCKET_URL = "s3://stpubdata/jwst/public/"


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

        url, options, self.secrets = _prepared(url, options, block_size, cache_type)
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


def _prepared(
    url: str, options: dict[str, Any], block_size: int, cache_type: str
) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """The URL and fsspec options a mount opens with, and every secret among them: an
    ``s3://`` URL's credentials move into s3fs options, which also get the read block and
    cache (s3fs takes them at filesystem level)."""
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
    return url, options, tuple(secrets)


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


def _version(info: Mapping[str, Any]) -> str:
    """A file's version from its fsspec info: size and ETag, else modification time."""
    parts = [str(info.get("size", ""))]
    for name in ("ETag", "etag", "mtime", "LastModified", "last_modified"):
        if info.get(name) not in (None, ""):
            parts.append(f"{name}={info[name]}")
            break
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _flatten(options: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in options.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value
