"""The writes of a session: insert, upsert, update, delete, status, archive, sharing and
tags. Every write carries the view's scope in its filter and keeps the derived fields
(:mod:`jwstnb.documents`) consistent with the fields they come from."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bson import ObjectId

from jwstnb.access import EDITABLE_FIELDS, SHARE_ROLES, principal
from jwstnb.criteria import Criteria
from jwstnb.documents import (
    DERIVED_INPUTS,
    Prepared,
    derived_update,
    status_transition,
    stored_document,
    stored_document_of,
)
from jwstnb.errors import AccessDenied, InvalidTransition, NotFound, invalid
from jwstnb.schema import JwstDataModel
from jwstnb.session._base import HIDDEN, SessionBase, model, object_id, unchanged
from jwstnb.session.results import Inserted
from jwstnb.session.summary import keeping
from jwstnb.tally import COUNTED_FIELDS, COUNTED_PROJECTION

__all__ = ["KEEP_ON_UPSERT", "Writes"]

# Fields update() refuses: identity, and the fields with their own atomic methods.
_NOT_UPDATABLE = {
    "id": "a record's id never changes",
    "processing_status": "use set_status(id, status): it checks the allowed transitions",
    "processing_results": "use add_result(id, result)",
}
# On upsert of an existing record, these keep their stored values (people manage them).
KEEP_ON_UPSERT = (
    "uploadDate",
    "processingStatus",
    "processingResults",
    "tags",
    "description",
    "sharedWith",
    "editors",
    "isPublic",
    "archived",
)


class Writes(SessionBase):
    """Changing records (mixed into :class:`~jwstnb.session.Session`)."""

    def _owned(self, model: JwstDataModel) -> JwstDataModel:
        """The model as this session may store it: a user's records are the user's own."""
        self._scope.write_filter()  # anonymous: AccessDenied
        if self.role == "user":
            if model.user_id not in (None, self.user):
                raise AccessDenied(
                    f"user {self.user!r} may not store records owned by someone else"
                )
            if model.user_id is None:
                model = model.model_copy(update={"user_id": self.user})
        return model

    def document(self, model: JwstDataModel) -> dict[str, Any]:
        """The exact document this session would store for ``model`` (with derived fields)."""
        return stored_document(self._owned(_validated(model)))

    def insert(self, model: JwstDataModel | Mapping[str, Any]) -> str:
        """Store a new record; returns its id. A user's record is owned by that user."""
        doc = self.document(model)  # type: ignore[arg-type]
        with self._errors(), keeping(self._coll) as change:
            inserted = str(self._coll.insert_one(doc).inserted_id)
            change.add(doc)
        return inserted

    def insert_new(self, records: Sequence[JwstDataModel | Prepared]) -> Inserted:
        """Store many new records in one round trip (one journal sync).

        Returns which were not written, by position: those another writer filed first
        (``taken``: upsert those) and those the server refused, with its reason
        (``refused``); every other record of the batch is written. Records may come as
        :class:`~jwstnb.documents.Prepared` (a scan's workers computed their sky fields);
        an admin session keeps those sky fields while the footprint and centre they came from
        are unchanged, any other session computes them again.
        """
        from pymongo.errors import BulkWriteError

        trusted = self.role == "admin"
        docs = [
            stored_document_of(
                r if not isinstance(r, Prepared) else Prepared(
                    self._owned(_validated(r.model)), r.sky, r.source),
                trusted_sky=trusted,
            )
            for r in records
        ]
        result = Inserted()
        if not docs:
            return result
        with self._errors(), keeping(self._coll) as change:
            try:
                self._coll.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                for error in exc.details.get("writeErrors") or []:
                    index = int(error["index"])
                    if error.get("code") == 11000:
                        result.taken.append(index)
                    else:
                        result.refused[index] = _refusal(error)
                result.taken.sort()
            unwritten = {*result.taken, *result.refused}
            for index, doc in enumerate(docs):
                if index not in unwritten:
                    change.add(doc)
        return result

    def upsert(self, model: JwstDataModel | Mapping[str, Any]) -> tuple[str, bool]:
        """Insert, or update the record with the same owner and ``filePath``: (id, created).

        For ingest re-runs: file facts are refreshed, while what people manage (status,
        results, tags, description, sharing, archived, upload date) keeps its stored value.
        """
        model = self._owned(_validated(model))
        if not model.file_path:
            raise invalid("filePath", "upsert needs a file_path to identify the record")
        key = {"userId": model.user_id, "filePath": model.file_path}
        new_doc = model.to_document()
        new_doc.pop("_id", None)
        for _attempt in range(8):
            with self._errors():
                existing = self._coll.find_one(key, {"_id": 1})
            if existing is None:
                from pymongo.errors import DuplicateKeyError

                doc = stored_document(model)
                with self._errors(), keeping(self._coll) as change:
                    try:
                        inserted = self._coll.insert_one(doc).inserted_id
                    except DuplicateKeyError:
                        continue  # inserted by someone else meanwhile: update theirs
                    change.add(doc)
                return str(inserted), True

            def refresh(doc: dict[str, Any]) -> dict[str, Any]:
                merged = {**new_doc, **{k: doc[k] for k in KEEP_ON_UPSERT if k in doc}}
                return {k: v for k, v in merged.items() if doc.get(k) != v}

            record = self._modify(existing["_id"], refresh)
            return str(record.id), False
        raise InvalidTransition(f"record {model.file_path!r} kept changing during upsert; retry")

    def _modify(
        self,
        record_id: Any,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        write: Mapping[str, Any] | None = None,
    ) -> JwstDataModel:
        """Read, change and write one record, keeping ``keywords``/``readers`` consistent.

        ``mutate(stored_doc)`` returns the changed top-level fields. The write is guarded by
        the values the derived fields were computed from, and retried if they moved.
        """
        from pymongo import ReturnDocument

        oid = object_id(record_id)
        write = self._scope.write_filter() if write is None else write
        for _attempt in range(8):
            with self._errors():
                doc = self._coll.find_one({"_id": oid, **write})
            if doc is None:
                raise self._missing_or_denied(oid)
            changes = mutate(doc)
            if not changes:
                return model(doc)
            changes.update(derived_update(doc, {**doc, **changes}))
            # The derived fields are right only if their inputs did not move meanwhile, and
            # the counts summary moves the record from ``doc`` only if its counted fields did
            # not either. (The guard's userId, when present, is the writer's own id.)
            guard = {k: {"$eq": doc.get(k)} for k in DERIVED_INPUTS}
            counted = not COUNTED_FIELDS.isdisjoint(changes)
            if counted:
                guard.update(unchanged(doc))
            with self._errors(), keeping(self._coll, counted) as change:
                updated = self._coll.find_one_and_update(
                    {"_id": oid, **write, **guard},
                    {"$set": changes},
                    projection=HIDDEN,
                    return_document=ReturnDocument.AFTER,
                )
                if updated is not None and counted:
                    change.move(doc, {**doc, **changes})
            if updated is not None:
                return model(updated)
        raise InvalidTransition(f"record {str(oid)!r} kept changing while being updated; retry")

    def update(self, record_id: str | ObjectId, **fields: Any) -> JwstDataModel:
        """Change fields (snake_case or camelCase names) of a record this session may change.

        Values are validated by the model. ``processing_status`` goes through
        :meth:`set_status`, results through :meth:`add_result`; only an admin changes owners.
        An editor of a shared record may change its tags and description only.
        """
        names = _field_names(fields)
        if "user_id" in names.values() and self.role != "admin":
            raise AccessDenied("only an admin may change a record's owner")
        if {"shared_with", "editors"} & set(names.values()):
            raise invalid(
                next(g for g, n in names.items() if n in ("shared_with", "editors")),
                "use share(id, ...) and unshare(id, ...) to change who may read a record",
            )
        editable = set(names.values()) <= EDITABLE_FIELDS

        def change(doc: dict[str, Any]) -> dict[str, Any]:
            data = model(doc).model_dump()
            for given, name in names.items():
                data[name] = fields[given]
            new_doc = JwstDataModel.model_validate(data).to_document()
            return {k: v for k, v in new_doc.items() if k != "_id" and doc.get(k) != v}

        write = self._scope.edit_filter() if editable else None
        return self._modify(record_id, change, write)

    def delete(self, record_id: str | ObjectId) -> None:
        """Delete a record this session may change."""
        oid = object_id(record_id)
        write = self._scope.write_filter()
        for _attempt in range(8):
            with self._errors():
                doc = self._coll.find_one({"_id": oid, **write}, COUNTED_PROJECTION)
            if doc is None:
                raise self._missing_or_denied(oid)
            with self._errors(), keeping(self._coll) as change:  # compare-and-set: see _set
                deleted = self._coll.delete_one({"_id": oid, **write, **unchanged(doc)})
                if deleted.deleted_count:
                    change.remove(doc)
                    return
        raise InvalidTransition(f"record {str(oid)!r} kept changing while being deleted; retry")

    def set_status(self, record_id: str | ObjectId, new_status: str) -> JwstDataModel:
        """Move the processing status, atomically (compare-and-set on the current status).

        pending -> processing -> completed | failed; failed -> pending; completed -> pending.
        Anything else, or losing a race for the same change, is :class:`InvalidTransition`.
        """
        target, sources = status_transition(new_status)
        record = self._set(
            record_id,
            {"$set": {"processingStatus": target}},
            {"processingStatus": {"$in": sources}},
            edit=True,
        )
        if record is not None:
            return record
        oid = object_id(record_id)
        with self._errors():
            doc = self._coll.find_one(
                {"_id": oid, **self._scope.read_filter()},
                {"processingStatus": 1, "userId": 1, "editors": 1},
            )
        if doc is None:
            raise NotFound(f"no record {str(oid)!r} visible to this {self.role} session")
        if not self._scope.can_edit(doc):
            raise self._denied(oid)
        raise InvalidTransition(
            f"record {str(oid)!r} is {doc.get('processingStatus')!r}: it cannot move to "
            f"{target!r} (only from {' or '.join(sources)})"
        )

    def archive(self, record_id: str | ObjectId) -> JwstDataModel:
        """Hide a record from search (``include_archived=True`` shows it); get() still works."""
        return self._archive(record_id, True)

    def unarchive(self, record_id: str | ObjectId) -> JwstDataModel:
        """Bring an archived record back into search."""
        return self._archive(record_id, False)

    def _archive(self, record_id: Any, archived: bool) -> JwstDataModel:
        record = self._set(record_id, {"$set": {"archived": archived}})
        if record is None:
            raise self._missing_or_denied(object_id(record_id))
        return record

    def share(
        self,
        record_id: str | ObjectId,
        *users: str,
        group: str | None = None,
        role: str = "viewer",
    ) -> JwstDataModel:
        """Let ``users`` (and/or a ``group``) read a record this session owns (or any, as
        admin). ``role="editor"`` also lets them change its tags, description and status
        (never delete it, share it or change its access); sharing again with another role
        changes the role."""
        if role not in SHARE_ROLES:
            raise invalid("role", f"role is one of {', '.join(SHARE_ROLES)}", role)
        names = _principals(users, group)
        if not names:
            raise invalid("users", "name at least one user or a group to share with")

        def add(doc: dict[str, Any]) -> dict[str, Any]:
            readers = list(doc.get("sharedWith") or [])
            editors = list(doc.get("editors") or [])
            new_readers = list(dict.fromkeys([*readers, *names]))
            if role == "editor":
                new_editors = list(dict.fromkeys([*editors, *names]))
            else:
                new_editors = [e for e in editors if e not in names]
            return _changed(doc, new_readers, new_editors)

        return self._modify(record_id, add)

    def unshare(
        self, record_id: str | ObjectId, *users: str, group: str | None = None
    ) -> JwstDataModel:
        """Take back a share: ``users`` (and/or ``group``) no longer read the record; counts
        and facets follow at once (``readers`` changes in the same write)."""
        names = set(_principals(users, group))
        if not names:
            raise invalid("users", "name at least one user or a group to unshare")

        def remove(doc: dict[str, Any]) -> dict[str, Any]:
            readers = [r for r in doc.get("sharedWith") or [] if r not in names]
            editors = [e for e in doc.get("editors") or [] if e not in names]
            return _changed(doc, readers, editors)

        return self._modify(record_id, remove)

    def bulk_tags(
        self, ids: Iterable[str | ObjectId], add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> int:
        """Add and remove tags on many records; returns how many records changed.

        Records this session may not change (or cannot see) are left alone and not counted.
        """
        to_add = _tag_list("add", add)
        to_remove = set(_tag_list("remove", remove))
        for tag in to_add:
            if len(tag) > 100:
                raise invalid("add", "a tag has at most 100 characters", tag)
        oids = []
        for i in ids:
            if isinstance(i, ObjectId) or (isinstance(i, str) and ObjectId.is_valid(i)):
                oids.append(ObjectId(i))
            else:
                raise invalid("ids", "record ids are 24 hexadecimal digits", i)
        write = self._scope.edit_filter()
        if not oids or not (to_add or to_remove):
            return 0

        def retag(doc: dict[str, Any]) -> dict[str, Any]:
            current = list(doc.get("tags") or [])
            kept = [t for t in current if t not in to_remove]
            new = kept + [t for t in to_add if t not in kept and t not in to_remove]
            return {"tags": new} if new != current else {}

        changed = 0
        with self._errors():
            docs = list(self._coll.find({"_id": {"$in": oids}, **write}, {"_id": 1, "tags": 1}))
        for doc in docs:
            if retag(doc):
                with contextlib.suppress(NotFound, AccessDenied):  # deleted/given away meanwhile
                    before = doc.get("tags")
                    record = self._modify(doc["_id"], retag, write)
                    changed += int(record.tags != before)
        return changed




def _refusal(error: Mapping[str, Any]) -> str:
    """The server's reason for refusing one record of a batch (its message, and for the
    validator the rule that failed when the server says), short enough for a report."""
    text = str(error.get("errmsg") or f"code {error.get('code')}")
    info = error.get("errInfo")
    if info:
        text += f": {info}"
    return text[:500]


def _tag_list(name: str, values: Sequence[str]) -> tuple[str, ...]:
    """Tags as search criteria accept them (strings, no operators), errors naming ``name``."""
    from pydantic import ValidationError

    try:
        return Criteria.model_validate({"tags": list(values)}).tags
    except ValidationError as exc:
        raise invalid(name, str(exc.errors()[0]["msg"]), list(values)[:5]) from None


def _validated(model: JwstDataModel | Mapping[str, Any]) -> JwstDataModel:
    if isinstance(model, JwstDataModel):
        return model
    if isinstance(model, Mapping):
        return JwstDataModel.model_validate(dict(model))
    raise invalid(
        "model", "expected a JwstDataModel (or a dict of its fields)", type(model).__name__
    )


def _field_names(fields: Mapping[str, Any]) -> dict[str, str]:
    """Given names (snake or camel) -> model field names; unknown or refused names raise."""
    by_alias = {info.alias or name: name for name, info in JwstDataModel.model_fields.items()}
    out = {}
    for given in fields:
        name = given if given in JwstDataModel.model_fields else by_alias.get(given)
        if name is None:
            raise invalid(given, f"{given!r} is not a record field")
        if name in _NOT_UPDATABLE:
            raise invalid(given, _NOT_UPDATABLE[name])
        out[given] = name
    return out


def _principals(users: Sequence[str], group: str | None) -> list[str]:
    """How ``sharedWith``/``editors`` name these users and this group."""
    names = [principal(user=u) for u in users]
    if group is not None:
        names.append(principal(group=group))
    return names


def _changed(
    doc: Mapping[str, Any], readers: list[str], editors: list[str]
) -> dict[str, Any]:
    """The sharing fields that differ from the stored document's."""
    out: dict[str, Any] = {}
    if readers != list(doc.get("sharedWith") or []):
        out["sharedWith"] = readers
    if editors != list(doc.get("editors") or []):
        out["editors"] = editors
    return out
