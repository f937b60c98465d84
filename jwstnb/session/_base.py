"""What every part of a :class:`~jwstnb.session.Session` shares: the view's state (connection,
scope, collection), the error mapping, running a planner's :class:`~.planners.Read`, and
records as models. The parts (reads, writes, queue, bulk, explain) build on it."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from jwstnb.access import Scope
from jwstnb.documents import DERIVED_FIELDS
from jwstnb.errors import AccessDenied, InvalidTransition, JwstnbError, NotFound
from jwstnb.schema import JwstDataModel, to_object_id
from jwstnb.session.summary import keeping
from jwstnb.tally import COUNTED_FIELDS, COUNTED_PROJECTION

if TYPE_CHECKING:
    from pymongo.collection import Collection

    from jwstnb.session.connection import Connection
    from jwstnb.session.planners import Planner, Read

log = logging.getLogger("jwstnb.session")

#: The projection that leaves the derived fields out of what a read returns.
HIDDEN = dict.fromkeys(DERIVED_FIELDS, 0)


def object_id(record_id: Any) -> ObjectId:
    """A record id as an ObjectId; anything else cannot name a record (NotFound)."""
    try:
        return to_object_id(record_id)
    except ValueError:
        raise NotFound(
            f"no record {str(record_id)[:80]!r}: a record id is 24 hexadecimal digits"
        ) from None


def model(doc: Mapping[str, Any]) -> JwstDataModel:
    """A stored document as its model."""
    return JwstDataModel.from_document(dict(doc))


class SessionBase:
    """The state of one view and the helpers every part uses."""

    _conn: Connection
    _scope: Scope
    _coll: Collection[dict[str, Any]]
    database_name: str
    collection_name: str

    @property
    def role(self) -> str:
        """``"anonymous"``, ``"user"`` or ``"admin"``."""
        return self._scope.role

    @property
    def user(self) -> str | None:
        """The user id of a user session, else None."""
        return self._scope.user

    @property
    def scope(self) -> Scope:
        """Who this view is (role and user): part of every read's and write's filter."""
        return self._scope

    @property
    def planner(self) -> Planner:
        """The read planner for this server (:mod:`jwstnb.session.planners`)."""
        return self._conn.planner

    def require_admin(self, what: str) -> None:
        """:class:`AccessDenied` unless this is an admin session (``what`` names the work)."""
        self._scope.require_admin(what)

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        """Driver errors -> jwstnb errors (see :meth:`Connection.errors`)."""
        return self._conn.errors()

    def _missing_or_denied(self, oid: ObjectId) -> JwstnbError:
        """NotFound when this session may not read the record, else AccessDenied."""
        with self._errors():
            readable = self._coll.find_one({"_id": oid, **self._scope.read_filter()}, {"_id": 1})
        if readable is None:
            return self._not_found(oid)
        return self._denied(oid)

    def _not_found(self, oid: Any) -> NotFound:
        return NotFound(f"no record {str(oid)!r} visible to this {self.role} session")

    def _denied(self, oid: ObjectId) -> AccessDenied:
        return AccessDenied(
            f"record {str(oid)!r} can be read but not changed by this {self.role} session: "
            "only its owner or an admin may change it"
        )

    def _run(self, read: Read, *, max_time_ms: int | None = None) -> list[dict[str, Any]]:
        """Run one of the planner's reads. A hint the server refuses (its index is missing: a
        read-only user could not build it) is dropped, and the planner told."""
        from pymongo.errors import OperationFailure

        options: dict[str, Any] = {}
        if read.hint is not None:
            options["hint"] = dict(read.hint)
        if max_time_ms is not None:
            options["maxTimeMS"] = max(1, int(max_time_ms))
        with self._errors():
            try:
                return list(self._coll.aggregate(read.pipeline, **options))
            except OperationFailure as exc:
                if "hint" not in options or exc.code != 2 or "hint" not in str(exc).lower():
                    raise
                log.warning("index %s is missing; run ensure_indexes() as admin",
                            read.expected_index)
                self.planner.hint_refused()
                options.pop("hint")
                return list(self._coll.aggregate(read.pipeline, **options))

    def _models(self, docs: Iterable[Mapping[str, Any]], skipped: list[str]) -> list[JwstDataModel]:
        """Stored documents as models; one that fails validation is skipped, never fatal.

        A record written by hand or by an older version must not break a search for
        everyone: it is left out with a warning naming its id (and listed in ``skipped``).
        """
        from pydantic import ValidationError

        out = []
        for doc in docs:
            try:
                out.append(model(doc))
            except ValidationError as exc:
                rid = str(doc.get("_id"))
                skipped.append(rid)
                problem = exc.errors()[0]
                where = ".".join(str(p) for p in problem.get("loc", ()))
                warnings.warn(
                    f"record {rid} fails validation ({where}: {problem.get('msg')}); left out "
                    "of the results: fix it with update() or delete() as admin",
                    stacklevel=3,
                )
        return out

    def _set(
        self,
        record_id: Any,
        update: dict[str, Any],
        extra: Mapping[str, Any] | None = None,
        *,
        edit: bool = False,
    ) -> JwstDataModel | None:
        """One atomic update of a record this session may change (None: no record matched);
        ``edit``: an editor's change (tags, description, status) is allowed too.

        An update that sets a counted field (:data:`jwstnb.tally.COUNTED_FIELDS`: status,
        archived) moves the record in the counts summary: it reads the record first and
        writes only if none of its counted fields moved meanwhile (compare-and-set), so the
        summary moves it from exactly what it was. (A server's returned pre-image is not
        relied on: SecantusDB's ``findAndModify`` may return one another writer changed.)
        """
        from pymongo import ReturnDocument

        oid = object_id(record_id)
        write = self._scope.edit_filter() if edit else self._scope.write_filter()
        query = {"_id": oid, **write, **(extra or {})}
        sets = {k: v for k, v in update.get("$set", {}).items() if k in COUNTED_FIELDS}
        if not sets:
            with self._errors():
                doc = self._coll.find_one_and_update(
                    query, update, projection=HIDDEN, return_document=ReturnDocument.AFTER
                )
            return None if doc is None else model(doc)
        for _attempt in range(8):
            with self._errors():
                before = self._coll.find_one(query, COUNTED_PROJECTION)
            if before is None:
                return None
            with self._errors(), keeping(self._coll) as change:
                doc = self._coll.find_one_and_update(
                    {**query, **unchanged(before)}, update, projection=HIDDEN,
                    return_document=ReturnDocument.AFTER,
                )
                if doc is not None:
                    change.move(before, {**before, **sets})
            if doc is not None:
                return model(doc)
        raise InvalidTransition(f"record {str(oid)!r} kept changing while being updated; retry")


def unchanged(before: Mapping[str, Any]) -> dict[str, Any]:
    """The filter that matches a record only while its counted fields are as ``before``."""
    return {k: {"$eq": before.get(k)} for k in sorted(COUNTED_FIELDS)}
