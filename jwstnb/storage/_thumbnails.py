"""Thumbnails: computed once per file version, cached where they can be read again.

A thumbnail's cache name holds the file's version (size and ETag or modification time) and
the rendering, so a rewritten file gets a new one; it is cached under ``.jwstnb/thumbs/`` in
a writable mount, else in a local cache folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jwstnb.config import redact_text
from jwstnb.keys import RESERVED_PREFIX
from jwstnb.storage._cache import _ByteCounter
from jwstnb.storage._mounts import _Where

log = logging.getLogger("jwstnb.storage")


class _ThumbnailCache:
    """The places a Storage caches thumbnails: its mount's ``.jwstnb/thumbs/`` when
    writable, and the local folder ``home`` (``True``: under jwstnb's data home; ``False``:
    no caching). Cached reads from remote mounts count in the Storage's ``counter``."""

    def __init__(
        self,
        home: str | os.PathLike[str] | bool,
        counter: _ByteCounter,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.home = home
        self.counter = counter
        self.secrets = secrets

    def local(self, where: _Where, name: str) -> str | None:
        """The local cache file for a read-only mount's thumbnail (None: caching off)."""
        if self.home is False:
            return None
        if self.home is True:
            from jwstnb.localdb import data_home

            home = data_home() / "cache" / "thumbs"
        else:
            home = Path(os.fspath(self.home))  # type: ignore[arg-type, unused-ignore]
        digest = hashlib.sha256(where.mount.url.encode()).hexdigest()[:16]
        return str(home / digest / name)

    def targets(self, where: _Where, name: str) -> list[tuple[Any, str, bool]]:
        """(fs, path, remote) places a thumbnail may be cached, in order of preference."""
        out: list[tuple[Any, str, bool]] = []
        if self.home is False:
            return out
        mount = where.mount
        if mount.thumbs_writable is not False:
            path = f"{mount.root}/{RESERVED_PREFIX}thumbs/{name}" if mount.root else (
                f"{RESERVED_PREFIX}thumbs/{name}"
            )
            out.append((mount.fs, path, mount.remote))
        local = self.local(where, name)
        if local is not None:
            from fsspec.implementations.local import LocalFileSystem

            out.append((LocalFileSystem(), local, False))
        return out

    def get(self, where: _Where, name: str) -> bytes | None:
        """The cached PNG of ``name`` from the first place that holds one, else None."""
        for fs, path, remote in self.targets(where, name):
            try:
                # start=0: one ranged GET (s3fs asks for the size first without one)
                data = bytes(fs.cat_file(path, start=0))
            except Exception:  # a miss (or an unreadable cache): compute it again
                continue
            if remote:
                self.counter.add(len(data))
            if data.startswith(b"\x89PNG"):
                return data
        return None

    def put(self, where: _Where, name: str, png: bytes) -> None:
        """Cache ``png`` in the first place that takes it (a read-only mount is remembered
        as such and the local folder used instead)."""
        for fs, path, _remote in self.targets(where, name):
            try:
                if fs is not where.mount.fs or where.mount.is_local:
                    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
                fs.pipe_file(path, png)
            except Exception as exc:  # read-only mount: fall back to the local cache
                if fs is where.mount.fs:
                    where.mount.thumbs_writable = False
                log.debug("thumbnail cache %s not writable: %s", where.mount.display,
                          redact_text(str(exc), *self.secrets))
                continue
            if fs is where.mount.fs:
                where.mount.thumbs_writable = True
            return


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
