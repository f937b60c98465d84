"""The range cache of remote reads, and the counters of what they fetched.

A cutout or a thumbnail needs a few byte ranges of a remote file; :class:`_RangeCache`
fetches them merged and at once instead of one request per row or fsspec's large read-ahead.
"""

from __future__ import annotations

import threading
from typing import Any

from fsspec.caching import BaseCache


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
