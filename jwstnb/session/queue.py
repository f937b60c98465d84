"""The work queue: claims with leases (processing runs over one or many workers).

Compare-and-set on ``processingStatus`` and ``processingLease``: of several workers claiming
one record one wins; a lost worker's lease expires and its record returns to the queue;
every record ends completed or failed exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bson import ObjectId

from jwstnb.documents import status_transition
from jwstnb.errors import invalid
from jwstnb.schema import JwstDataModel, ProcessingResult
from jwstnb.session._base import SessionBase, object_id

__all__ = ["Queue"]


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
        held = {"processingStatus": "processing", "processingLease.worker": str(worker)}
        return self._set(record_id, {"$set": {"processingLease.until": until}}, held) is not None

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
        target, _sources = status_transition(status)
        if target not in ("completed", "failed"):
            raise invalid("status", "a claim finishes as completed or failed", status)
        update: dict[str, Any] = {
            "$set": {"processingStatus": target},
            "$unset": {"processingLease": ""},
        }
        if result is not None:
            if not isinstance(result, ProcessingResult):
                result = ProcessingResult.model_validate(result)
            update["$push"] = {"processingResults": result.to_document()}
        held = {"processingStatus": "processing", "processingLease.worker": str(worker)}
        return self._set(record_id, update, held)

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

