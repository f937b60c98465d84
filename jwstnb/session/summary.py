"""What writes keep beside the records for reads to start from: the newest upload.

A fresh planner on an engine that reads windows of recent uploads (SecantusDB) needs a point
to reach back from; without one it reaches back from now, and when the archive was last
loaded days ago its first broad page reads nearly everything. Every insert, batch and restore
raises ``newest`` to its records' newest ``uploadDate`` (an atomic ``$max``), and a planner
that asks is told it before its first page. It is a hint, never a fact a result depends on:
windows stay open towards the future, so an upload a writer did not note is still found.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo import WriteConcern
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

__all__ = ["SUMMARY_COLLECTION", "newest_upload", "note_uploads"]

log = logging.getLogger(__name__)

#: The collection of what writes keep for reads, one document per records collection.
SUMMARY_COLLECTION = "jwst_summary"


def _key(records: Collection[dict[str, Any]]) -> dict[str, str]:
    return {"_id": f"uploads:{records.name}"}


def note_uploads(records: Collection[dict[str, Any]], docs: Iterable[Mapping[str, Any]]) -> None:
    """Raise the noted newest upload to the newest ``uploadDate`` of ``docs`` (just written).

    A failure is logged, never raised: the records are written, and the note is a hint.
    """
    newest = max(
        (d["uploadDate"] for d in docs if isinstance(d.get("uploadDate"), datetime)),
        default=None,
    )
    if newest is None:
        return
    try:
        # A hint: acknowledged, but no journal sync of its own (the records had theirs).
        summary = records.database.get_collection(
            SUMMARY_COLLECTION, write_concern=WriteConcern(w=1, j=False)
        )
        summary.update_one(_key(records), {"$max": {"newest": newest}}, upsert=True)
    except PyMongoError as exc:  # a read-only account, a lost server: the write stands
        log.debug("could not note the newest upload: %s", type(exc).__name__)


def newest_upload(records: Collection[dict[str, Any]]) -> datetime | None:
    """The newest upload writers noted for ``records`` (None when none was, or unreadable)."""
    try:
        doc = records.database[SUMMARY_COLLECTION].find_one(_key(records))
    except PyMongoError as exc:
        log.debug("could not read the newest upload: %s", type(exc).__name__)
        return None
    newest = (doc or {}).get("newest")
    return newest if isinstance(newest, datetime) else None
