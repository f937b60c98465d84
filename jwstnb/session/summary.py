"""What writes keep beside the records for reads: the counts summary and the newest upload.

One document per records collection in ``jwst_summary`` (DESIGN §9):

- ``classes``: the exact total and facet counts of every class of records (who may read them,
  archived or not; :mod:`jwstnb.tally`). Every write that can move a record between classes
  or facet values changes them with one atomic ``$inc``, so a broad view's total and facets
  are read from here, not counted over every record.
- ``pending``: the writes under way. A writer marks its write before it touches a record
  (durable with the record: the records write syncs the journal up to itself) and clears
  the mark in the same update that applies its ``$inc``. While a mark is there, or when the
  summary was never established by a recount (``exact``), reads count by query: the summary
  is used only when it is exact. A write cut off by a lost server or a killed kernel leaves
  its mark until ``jwstnb doctor --recount``.
- ``writes``: how many writes were applied (a recount's compare-and-set).
- ``newest``: the newest ``uploadDate`` written. A fresh planner on an engine that reads
  windows of recent uploads (SecantusDB) reaches back from it rather than from now. A hint,
  never a fact a result depends on: windows stay open towards the future.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import WriteConcern
from pymongo.collection import Collection
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from jwstnb.errors import InvalidTransition
from jwstnb.tally import COUNTED_PROJECTION, Change, classes_of, scope_counts, value_of

__all__ = [
    "STALE_AFTER",
    "SUMMARY_COLLECTION",
    "Recount",
    "keeping",
    "newest_upload",
    "recount",
    "reset",
    "state",
    "summary_counts",
]

log = logging.getLogger(__name__)

#: The collection of what writes keep for reads, one document per records collection.
SUMMARY_COLLECTION = "jwst_summary"
#: A write's mark older than this belongs to a writer that died (a batch is written in
#: seconds): a recount clears it.
STALE_AFTER = timedelta(minutes=2)

# Outcomes a writer cannot know: the write may or may not have happened, so its mark stays.
_UNKNOWN = (ConnectionFailure, WTimeoutError, KeyboardInterrupt, SystemExit)


def _key(records: Collection[dict[str, Any]]) -> dict[str, str]:
    return {"_id": f"records:{records.name}"}


def _summary(records: Collection[dict[str, Any]], durable: bool = True) -> Collection[Any]:
    coll = records.database[SUMMARY_COLLECTION]
    # The closing update needs no journal sync of its own: if it is lost, the mark it would
    # have cleared stays, and reads count by query.
    return coll if durable else coll.with_options(write_concern=WriteConcern(w=1, j=False))


def _now() -> datetime:
    from jwstnb.schema import utc_now

    return utc_now()


@contextlib.contextmanager
def keeping(records: Collection[dict[str, Any]], active: bool = True) -> Iterator[Change]:
    """Around one write of ``records``: mark it, let the caller say what it changed
    (:class:`jwstnb.tally.Change`), then apply that and clear the mark in one update.

    ``active`` False: the write cannot move the counts (only the newest upload is noted).
    A refusal by the server (nothing, or what the change says, was written) clears the
    mark; an outcome nobody can know (a lost connection, an interrupt) leaves it.
    """
    token = secrets.token_hex(8)
    marked = False
    if active:
        try:
            # No journal sync of its own: the journal is one log, and the records write
            # that follows syncs it up to itself, this mark included.
            _summary(records, durable=False).update_one(
                _key(records), {"$set": {f"pending.{token}": _now()}}, upsert=True
            )
            marked = True
        except PyMongoError as exc:  # the records write will meet the same server
            log.warning("could not mark a write in the counts summary: %s", type(exc).__name__)
    change = Change()
    try:
        yield change
    except BaseException as exc:
        unknown = isinstance(exc, _UNKNOWN) or (
            isinstance(exc, PyMongoError) and not isinstance(exc, OperationFailure)
        )
        if not unknown:
            _close(records, change, token if marked else None)
        raise
    _close(records, change, token if marked else None)


def _close(records: Collection[dict[str, Any]], change: Change, token: str | None) -> None:
    update: dict[str, Any] = {}
    if token is not None:
        update["$unset"] = {f"pending.{token}": ""}
    if change.inc or token is not None:
        update["$inc"] = {**change.inc, "writes": 1}
    if settings := change.settings():
        update["$set"] = settings
    if change.newest is not None:
        update["$max"] = {"newest": change.newest}
    if not update:
        return
    try:
        _summary(records, durable=False).update_one(_key(records), update, upsert=True)
    except PyMongoError as exc:  # the records are written; the mark stays, reads count
        log.warning("could not update the counts summary: %s", type(exc).__name__)


def newest_upload(records: Collection[dict[str, Any]]) -> datetime | None:
    """The newest upload writers noted for ``records`` (None when none was, or unreadable)."""
    try:
        doc = _summary(records).find_one(_key(records), {"newest": 1})
    except PyMongoError as exc:
        log.debug("could not read the newest upload: %s", type(exc).__name__)
        return None
    newest = (doc or {}).get("newest")
    return newest if isinstance(newest, datetime) else None


def summary_counts(
    records: Collection[dict[str, Any]],
    readers: list[str] | None,
    *,
    include_archived: bool,
    is_public: bool | None,
) -> tuple[int, dict[str, dict[str, int]]] | None:
    """The total and facets of a broad view from the summary; None when the summary is not
    exact now (never established, a write under way or cut off, unreadable)."""
    try:
        doc = _summary(records).find_one(_key(records), {"newest": 0})
    except PyMongoError as exc:
        log.debug("could not read the counts summary: %s", type(exc).__name__)
        return None
    if not doc or doc.get("exact") is not True or doc.get("pending"):
        return None
    classes = doc.get("classes") or {}
    if any(int(c.get("total") or 0) < 0 for c in classes.values() if isinstance(c, Mapping)):
        return None  # records removed around jwstnb: impossible counts, count by query
    return scope_counts(
        classes, readers, include_archived=include_archived, is_public=is_public
    )


def state(records: Collection[dict[str, Any]]) -> str:
    """``"exact"`` when broad views are counted from the summary, else why they are not."""
    doc = _summary(records).find_one(_key(records), {"exact": 1, "pending": 1})
    if not doc or doc.get("exact") is not True:
        return "not established (run `jwstnb doctor --recount`)"
    pending = doc.get("pending") or {}
    if not pending:
        return "exact"
    if len(_live(pending)) < len(pending):
        return "a write was cut off (run `jwstnb doctor --recount`)"
    return f"{len(pending)} write(s) under way"


def _live(pending: Mapping[str, Any]) -> list[str]:
    """The marks of writes still under way (younger than :data:`STALE_AFTER`)."""
    cutoff = _now() - STALE_AFTER
    return [k for k, t in pending.items() if isinstance(t, datetime) and _aware(t) > cutoff]


def reset(records: Collection[dict[str, Any]]) -> None:
    """An exact, empty summary for a collection just created (one left by a dropped
    collection of the same name is replaced)."""
    try:
        _summary(records).replace_one(
            _key(records), {"exact": True, "pending": {}, "writes": 0, "classes": {}},
            upsert=True,
        )
    except PyMongoError as exc:
        log.warning("could not start the counts summary: %s", type(exc).__name__)


@dataclass
class Recount:
    """What ``jwstnb doctor --recount`` found: the records counted, whether the summary was
    exact before, and where it differed (``differences``, readable lines)."""

    total: int
    was_exact: bool
    differences: list[str] = field(default_factory=list)

    @property
    def repaired(self) -> bool:
        """Whether the recount changed the summary."""
        return bool(self.differences) or not self.was_exact


def recount(
    records: Collection[dict[str, Any]], *, attempts: int = 5, wait: float = 1.0
) -> Recount:
    """Count every record again, compare with the summary, and put the exact counts in.

    The new summary replaces the old only if no write began or ended while the records were
    read (compare-and-set on ``writes`` and ``pending``); otherwise it reads again, up to
    ``attempts`` times. Marks older than :data:`STALE_AFTER` are writers that died: cleared.
    """
    projection = {**COUNTED_PROJECTION, "uploadDate": 1}
    summary = _summary(records)
    for _attempt in range(attempts):
        before = summary.find_one(_key(records))
        pending = (before or {}).get("pending") or {}
        if _live(pending):
            time.sleep(wait)  # a writer is at work: let it finish
            continue
        docs = list(records.find({}, projection))
        classes = classes_of(docs)
        newest = max((d["uploadDate"] for d in docs if isinstance(d.get("uploadDate"), datetime)),
                     default=None)
        was_exact = before is not None and before.get("exact") is True and not pending
        new = {"exact": True, "pending": {}, "writes": (before or {}).get("writes", 0),
               "classes": classes, "counted": _now()}
        if newest is not None:
            new["newest"] = newest
        if before is None:
            try:
                summary.insert_one({**_key(records), **new})
            except DuplicateKeyError:
                continue
        else:
            unchanged = {"writes": before.get("writes"), "pending": before.get("pending")}
            if summary.replace_one({**_key(records), **unchanged}, new).matched_count != 1:
                continue
        old = (before or {}).get("classes") or {}
        return Recount(len(docs), was_exact, _differences(old, classes) if before else [])
    raise InvalidTransition(
        "records kept changing during the recount (a write under way, or one cut off less "
        f"than {int(STALE_AFTER.total_seconds() // 60)} minutes ago); run `jwstnb doctor "
        "--recount` again when writers are quiet"
    )


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Where an old summary's classes differ from a recount's, one line each."""
    out = []
    for cid in sorted(set(old) | set(new)):
        a, b = old.get(cid) or {}, new.get(cid) or {}
        who = ", ".join((b or a).get("readers") or ["nobody"])
        label = f"records read by {who}{' (archived)' if (b or a).get('archived') else ''}"
        rows: list[tuple[str, str | None, Any, Any]] = [
            ("total", None, a.get("total"), b.get("total"))
        ]
        facets_a, facets_b = a.get("facets") or {}, b.get("facets") or {}
        for name in sorted(set(facets_a) | set(facets_b)):
            fa, fb = facets_a.get(name) or {}, facets_b.get(name) or {}
            rows.extend((name, value_of(v), fa.get(v), fb.get(v)) for v in sorted({*fa, *fb}))
        for name, value, was, now in rows:
            if int(was or 0) != int(now or 0):
                what = name if value is None else f"{name} {value!r}"
                out.append(f"{label}: {what} {int(was or 0)} -> {int(now or 0)}")
    return out
