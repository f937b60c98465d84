"""The work queue: claims with leases (processing runs over one or many workers).

Compare-and-set on ``processingStatus`` and ``processingLease``: of several workers claiming
one record one wins; a lost worker's lease expires and its record returns to the queue;
every record ends completed or failed exactly once."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from bson import ObjectId

from jwstnb.documents import status_transition
from jwstnb.errors import invalid
from jwstnb.schema import JwstDataModel, ProcessingResult
from jwstnb.session._base import SessionBase, object_id, unchanged
from jwstnb.session.summary import keeping
from jwstnb.tally import COUNTED_PROJECTION

__all__ = ["FINISH_BATCH", "Queue"]

log = logging.getLogger("jwstnb.session")

#: Results :meth:`Queue.finish_many` writes in one bulk compare-and-set.
FINISH_BATCH = 100


def _held(worker: str) -> dict[str, Any]:
    """The filter that matches a record only while ``worker`` holds its claim."""
    return {"processingStatus": "processing", "processingLease.worker": str(worker)}


class _Finish(NamedTuple):
    """One claim's end: its new status, the update, and the result it pushes (if any)."""

    target: str
    update: dict[str, Any]
    result: ProcessingResult | None


def _finishing(status: str, result: ProcessingResult | Mapping[str, Any] | None) -> _Finish:
    """How to finish a claim. The result's time is kept to the millisecond a stored date
    holds, so it reads back equal."""
    target, _sources = status_transition(status)
    if target not in ("completed", "failed"):
        raise invalid("status", "a claim finishes as completed or failed", status)
    update: dict[str, Any] = {
        "$set": {"processingStatus": target},
        "$unset": {"processingLease": ""},
    }
    if result is None:
        return _Finish(target, update, None)
    if not isinstance(result, ProcessingResult):
        result = ProcessingResult.model_validate(result)
    result = result.model_copy(update={"processed_date": _to_millisecond(result.processed_date)})
    update["$push"] = {"processingResults": result.to_document()}
    return _Finish(target, update, result)


_RESULT_FIELDS = ("processedDate", "algorithm", "status")
_RESULT_PROJECTION = {f"processingResults.{name}": 1 for name in _RESULT_FIELDS}


def _copies(doc: Mapping[str, Any], result: ProcessingResult | None) -> int:
    """How many of ``doc``'s results are ``result`` (by time, algorithm and status)."""
    if result is None:
        return 0
    wanted = (result.processed_date, result.algorithm, result.status)
    return sum(
        tuple(r.get(name) for name in _RESULT_FIELDS) == wanted
        for r in doc.get("processingResults") or ()
    )


def _to_millisecond(when: datetime) -> datetime:
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


class Queue(SessionBase):
    """Claims, leases and results (mixed into :class:`~jwstnb.session.Session`)."""

    def claim(
        self, record_id: str | ObjectId, worker: str, lease_seconds: float = 300.0
    ) -> JwstDataModel | None:
        """Take one record for processing: pending -> processing with a lease held by ``worker``.

        Compare-and-set: of several workers claiming the same record, one wins; the others
        get None. A ``processing`` record whose lease has expired (its worker died) may be
        claimed again. ``processingLease`` (until, worker) is stored beside the status.
        """
        from jwstnb.schema import utc_now

        now = utc_now()
        lease = {"until": now + timedelta(seconds=float(lease_seconds)), "worker": str(worker)}
        update = {"$set": {"processingStatus": "processing", "processingLease": lease}}
        taken = {"$or": [
            {"processingStatus": "pending"},
            {"processingStatus": "processing", "processingLease.until": {"$lt": now}},
        ]}
        return self._set(record_id, update, taken)

    def renew(self, record_id: str | ObjectId, worker: str, lease_seconds: float = 300.0) -> bool:
        """Extend ``worker``'s lease on a record it still holds; False if it lost it."""
        from jwstnb.schema import utc_now

        until = utc_now() + timedelta(seconds=float(lease_seconds))
        update = {"$set": {"processingLease.until": until}}
        return self._set(record_id, update, _held(worker)) is not None

    def finish(
        self,
        record_id: str | ObjectId,
        worker: str,
        status: str,
        result: ProcessingResult | Mapping[str, Any] | None = None,
    ) -> JwstDataModel | None:
        """End ``worker``'s claim: processing -> completed | failed, with its result, once.

        Only the worker holding the lease may finish (compare-and-set on the lease); a
        worker whose lease expired and was taken over gets None and its result is dropped,
        so every record ends completed or failed exactly once.
        """
        return self._set(record_id, _finishing(status, result).update, _held(worker))

    def finish_many(
        self,
        worker: str,
        finishes: Sequence[tuple[str | ObjectId, str, ProcessingResult | Mapping[str, Any]]],
    ) -> list[str]:
        """End many of ``worker``'s claims, each ``(record id, status, result)``, as
        :meth:`finish` does one: the ids of the records it finished (the others were not
        held by ``worker`` any more, or changed meanwhile).

        A processing run's results go in batches of :data:`FINISH_BATCH`: one read, one
        bulk compare-and-set and one read back per batch rather than four round trips per
        record. Each record's result is what tells, read back, whether its write applied,
        so the counts summary moves exactly the records that moved.
        """
        planned: dict[ObjectId, _Finish] = {}
        for record_id, status, result in finishes:
            if result is None:
                raise invalid("result", "finish_many needs each record's result (finish() "
                              "ends a claim without one)")
            oid = object_id(record_id)
            if oid in planned:
                raise invalid("finishes", "name each record once", str(oid))
            planned[oid] = _finishing(status, result)
        ids = list(planned)
        finished: list[str] = []
        for start in range(0, len(ids), FINISH_BATCH):
            batch = {oid: planned[oid] for oid in ids[start:start + FINISH_BATCH]}
            finished += self._finish_batch(worker, batch)
        return finished

    def _finish_batch(self, worker: str, planned: Mapping[ObjectId, _Finish]) -> list[str]:
        from pymongo import UpdateOne
        from pymongo.errors import BulkWriteError

        guard = {**self._scope.write_filter(), **_held(worker)}
        with self._errors():
            befores = {
                doc["_id"]: doc
                for doc in self._coll.find({"_id": {"$in": list(planned)}, **guard},
                                           {**COUNTED_PROJECTION, **_RESULT_PROJECTION})
            }
        if not befores:
            return []
        writes = [
            UpdateOne({"_id": oid, **guard, **unchanged(before)}, planned[oid].update)
            for oid, before in befores.items()
        ]
        with self._errors(), keeping(self._coll) as change:
            try:
                self._coll.bulk_write(writes, ordered=False)
            except BulkWriteError as exc:  # the rest of the batch is written
                if exc.details.get("writeConcernErrors"):
                    raise
                for error in exc.details.get("writeErrors", ()):
                    log.warning("a result was refused: %s", error.get("errmsg"))
            # Read back: a write applied when its record holds one more copy of its result
            # than before (the result is pushed in the same update as the status).
            finished = []
            for doc in self._coll.find({"_id": {"$in": list(befores)}}, _RESULT_PROJECTION):
                oid, result = doc["_id"], planned[doc["_id"]].result
                if _copies(doc, result) > _copies(befores[oid], result):
                    finished.append(oid)
                    before = befores[oid]
                    change.move(before, {**before, "processingStatus": planned[oid].target})
        return [str(oid) for oid in finished]

    def release_expired(self) -> int:
        """Return records whose worker's lease expired to ``pending``; how many moved."""
        from jwstnb.schema import utc_now

        self.require_admin("releasing expired claims")
        expired = {"processingStatus": "processing", "processingLease.until": {"$lt": utc_now()}}
        with self._errors():
            ids = [d["_id"] for d in self._coll.find(expired, {"_id": 1})]
        # One by one, each still guarded: the counts summary moves exactly the records moved.
        update = {"$set": {"processingStatus": "pending"}, "$unset": {"processingLease": ""}}
        return sum(
            self._set(oid, update, expired) is not None
            for oid in ids
        )

    def add_result(
        self, record_id: str | ObjectId, result: ProcessingResult | Mapping[str, Any]
    ) -> JwstDataModel:
        """Append a processing result to a record this session may change."""
        if not isinstance(result, ProcessingResult):
            result = ProcessingResult.model_validate(result)
        record = self._set(record_id, {"$push": {"processingResults": result.to_document()}})
        if record is None:
            raise self._missing_or_denied(object_id(record_id))
        return record

