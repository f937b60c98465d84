"""Export and restore the collection as extended JSON lines, to and from any fsspec URL.

One document per line in MongoDB's canonical extended JSON (``bson.json_util``), so
ObjectIds, UTC dates, 32/64-bit integers, doubles and binary fields (thumbnails) come back
exactly. ``.gz``/``.bz2``/... URLs are compressed by their suffix. ``export`` writes what the
session may read (an admin: everything); ``restore`` is admin work (it writes records as
they were, owners included) and replaces records with the same ``_id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from jwstnb.config import redact
from jwstnb.errors import AccessDenied

if TYPE_CHECKING:
    from jwstnb.session import Session

__all__ = ["export", "restore"]

_BATCH = 500


def _json_options() -> Any:
    from bson.json_util import CANONICAL_JSON_OPTIONS

    return CANONICAL_JSON_OPTIONS.with_options(tz_aware=True, tzinfo=UTC)


def export(session: Session, url: str, **storage_options: Any) -> int:
    """Write every record ``session`` may read to ``url`` (JSON lines); returns the count.

    Records are written in ``_id`` order with their derived fields, so a restore needs no
    recomputation.
    """
    import fsspec
    from bson.json_util import dumps

    options = _json_options()
    scope = session.scope.read_filter()
    coll = session.client[session.database_name][session.collection_name]
    count = 0
    with fsspec.open(url, "wt", encoding="utf-8", compression="infer", **storage_options) as fh:
        for doc in coll.find(scope).sort("_id", 1):
            fh.write(dumps(doc, json_options=options))
            fh.write("\n")
            count += 1
    return count


def _documents(
    url: str, storage_options: Mapping[str, Any]
) -> Iterator[tuple[int, dict[str, Any]]]:
    import fsspec
    from bson.json_util import loads

    from jwstnb.query import invalid

    options = _json_options()
    with fsspec.open(url, "rt", encoding="utf-8", compression="infer", **storage_options) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                doc = loads(line, json_options=options)
            except ValueError as exc:
                raise invalid("line", f"{redact(url)} line {number}: {exc}") from None
            if not isinstance(doc, dict) or "_id" not in doc:
                raise invalid("line", f"{redact(url)} line {number}: not a record with an _id")
            yield number, doc


def restore(session: Session, url: str, **storage_options: Any) -> int:
    """Load the records in ``url`` (written by :func:`export`); returns how many were written.

    A record whose ``_id`` exists is replaced; records written by an older jwstnb get their
    derived fields (``keywords``, ``readers``) computed. The server's validator checks each.
    """
    from pymongo import ReplaceOne
    from pymongo.errors import BulkWriteError

    from jwstnb.query import derived_fields, invalid

    if session.role != "admin":
        raise AccessDenied("restore writes records as they were (owners included): admin only")
    coll = session.collection
    written = 0
    batch: list[ReplaceOne[Any]] = []
    lines: list[int] = []

    def flush() -> None:
        nonlocal written
        if not batch:
            return
        try:
            result = coll.bulk_write(batch, ordered=True)
        except BulkWriteError as exc:
            first = (exc.details.get("writeErrors") or [{}])[0]
            line = lines[first.get("index", 0)] if lines else "?"
            raise invalid(
                "line", f"{redact(url)} line {line} was rejected: {first.get('errmsg', exc)}"
            ) from None
        written += result.upserted_count + result.matched_count
        batch.clear()
        lines.clear()

    for number, doc in _documents(url, storage_options):
        if "keywords" not in doc or "readers" not in doc:
            doc = {**doc, **{k: v for k, v in derived_fields(doc).items() if k not in doc}}
        batch.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
        lines.append(number)
        if len(batch) >= _BATCH:
            flush()
    flush()
    return written
