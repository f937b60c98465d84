"""The MongoDB session: connect, indexes, scoped CRUD, one-round-trip search, status, results.

``jwstnb.connect()`` resolves where to connect (:mod:`jwstnb.config`; with nothing
configured it starts or reuses the embedded local server, :mod:`jwstnb.localdb`), checks the
server answers, puts the ``$jsonSchema`` validator on the collection and builds the indexes
(:data:`jwstnb.query.INDEXES`). A :class:`Session` is a view with a role (anonymous, user,
admin) over one shared client; every read and write carries the role's scope inside its
Mongo filter: what a session may not read is :class:`NotFound`, what it may read
but not change is :class:`AccessDenied`.

The session keeps two derived fields on every record it writes: ``keywords`` (lowercase
words for text search) and ``readers`` (who may read it), see :mod:`jwstnb.query`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from jwstnb import config
from jwstnb.errors import (
    AccessDenied,
    ConnectionFailed,
    InvalidTransition,
    JwstnbError,
    NotFound,
)
from jwstnb.query import (
    DERIVED_INPUTS,
    FACETS,
    INDEXES,
    Scope,
    SearchPlan,
    count_pipeline,
    derived_fields,
    facet_counts,
    invalid,
    lineage_pipeline,
    observations_pipeline,
    search_pipeline,
    session_validator,
    statistics_pipeline,
    status_transition,
    validate_criteria,
    validate_user,
)
from jwstnb.schema import COLLECTION, DATABASE, JwstDataModel, ProcessingResult

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.collection import Collection

    from jwstnb.lineage import Lineage

__all__ = ["Page", "Session", "connect"]

log = logging.getLogger(__name__)

_HIDDEN = {"keywords": 0, "readers": 0}
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
    "isPublic",
    "archived",
)


@dataclass
class Page:
    """One page of search results, with the total and the facet counts of the whole result."""

    items: list[JwstDataModel]
    total: int
    page: int
    page_size: int
    pages: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[JwstDataModel]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class _Connection:
    """The client shared by every view of one ``connect()``; closed with the last view."""

    def __init__(
        self, client: MongoClient[dict[str, Any]], resolved: config.Resolved, uri: str, local: bool
    ) -> None:
        self.client = client
        self.resolved = resolved
        self.display = "embedded local server" if local else config.redact(uri)
        self.hosts = config.hosts(uri)
        self.password = config.credentials(uri)[1]
        self.local = local
        self.views = 0
        self.lock = threading.Lock()
        self._secantus: bool | None = None
        self.hint_supported = True

    @property
    def is_secantus(self) -> bool:
        """SecantusDB walks a hinted index whole: the session hints only where that is cheap."""
        if self._secantus is None:
            try:
                info = self.client.admin.command("buildInfo")
                self._secantus = "secantusVersion" in info
            except Exception:
                self._secantus = False
        return self._secantus

    def acquire(self) -> None:
        with self.lock:
            self.views += 1

    def release(self) -> None:
        with self.lock:
            self.views -= 1
            last = self.views <= 0
        if last:
            self.client.close()


def _oid(record_id: Any) -> ObjectId:
    if isinstance(record_id, ObjectId):
        return record_id
    if isinstance(record_id, str) and ObjectId.is_valid(record_id):
        return ObjectId(record_id)
    raise NotFound(f"no record {str(record_id)[:80]!r}: a record id is 24 hexadecimal digits")


def _model(doc: Mapping[str, Any]) -> JwstDataModel:
    return JwstDataModel.from_document(dict(doc))


def stored_document(model: JwstDataModel) -> dict[str, Any]:
    """The document the session stores for ``model``: its fields plus the derived ones."""
    doc = model.to_document()
    doc.update(derived_fields(doc))
    return doc


class Session:
    """A scoped view of the jwstnb collection. Create with :func:`connect`.

    Views (:meth:`anonymous`, :meth:`as_user`, :meth:`as_admin`) share the client; the
    client closes when the last view is closed (or use ``with connect() as s:``). The role
    is the toolkit's access model; the database user in the URI is the real
    security boundary.
    """

    def __init__(
        self, connection: _Connection, database: str, collection: str, scope: Scope
    ) -> None:
        self._conn = connection
        self._scope = scope
        self.database_name = database
        self.collection_name = collection
        self._coll: Collection[dict[str, Any]] = connection.client[database][collection]
        self._closed = False
        connection.acquire()

    # --- identity and views -----------------------------------------------------------------

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
        return self._scope

    @property
    def client(self) -> MongoClient[dict[str, Any]]:
        """The pymongo client (shared by every view of this connection)."""
        return self._conn.client

    @property
    def collection(self) -> Collection[dict[str, Any]]:
        """The raw pymongo collection, unscoped: admin only (ingest and backup internals)."""
        if self.role != "admin":
            raise AccessDenied("the raw collection is for admin sessions; use as_admin()")
        return self._coll

    def _view(self, scope: Scope) -> Session:
        return Session(self._conn, self.database_name, self.collection_name, scope)

    def anonymous(self) -> Session:
        """A read-only view that sees public records only."""
        return self._view(Scope("anonymous"))

    def as_user(self, user: str) -> Session:
        """A view as ``user``: reads public, own and shared records; changes own records."""
        return self._view(Scope("user", validate_user(user)))

    def as_admin(self) -> Session:
        """A view that reads and changes everything."""
        return self._view(Scope("admin"))

    def close(self) -> None:
        """Close this view; the client closes with the last open view."""
        if not self._closed:
            self._closed = True
            self._conn.release()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        who = f" user={self.user!r}" if self.user else ""
        return (
            f"<jwstnb.Session role={self.role}{who} {self.database_name}.{self.collection_name} "
            f"on {self._conn.display}>"
        )

    __str__ = __repr__

    # --- errors -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors -> jwstnb errors with one actionable message (never a password)."""
        from pymongo.errors import (
            ConnectionFailure,
            DuplicateKeyError,
            OperationFailure,
            PyMongoError,
        )

        try:
            yield
        except DuplicateKeyError:
            raise invalid(
                "filePath", "a record with this owner and file path already exists"
            ) from None
        except OperationFailure as exc:
            if exc.code == 121:
                detail = config.redact_text(str(exc.details or exc)[:500], self._conn.password)
                raise invalid(
                    "document", f"the server's validator rejected the record: {detail}"
                ) from None
            if exc.code == 13:
                raise AccessDenied(
                    f"the database user of {self._conn.display} may not do this "
                    f"({exc.details.get('errmsg', '') if exc.details else ''}); ask for a role "
                    "with readWrite on this database"
                ) from None
            raise
        except ConnectionFailure as exc:
            raise ConnectionFailed(
                f"lost the database at {self._conn.hosts} ({_reason(exc, self._conn.password)}); "
                "check that the server is still running and reachable"
            ) from None
        except PyMongoError as exc:
            exc.args = tuple(config.redact_text(str(a), self._conn.password) for a in exc.args)
            raise

    def _missing_or_denied(self, oid: ObjectId) -> JwstnbError:
        """NotFound when this session may not read the record, else AccessDenied."""
        with self._errors():
            readable = self._coll.find_one({"_id": oid, **self._scope.read_filter()}, {"_id": 1})
        if readable is None:
            return NotFound(f"no record {str(oid)!r} visible to this {self.role} session")
        return self._denied(oid)

    def _denied(self, oid: ObjectId) -> AccessDenied:
        return AccessDenied(
            f"record {str(oid)!r} can be read but not changed by this {self.role} session: "
            "only its owner or an admin may change it"
        )

    # --- setup ------------------------------------------------------------------------------

    def ensure_collection(self) -> None:
        """Create the collection with the validator, or put the validator on an existing one."""
        from pymongo.errors import CollectionInvalid, OperationFailure

        db = self._conn.client[self.database_name]
        validator = session_validator()
        options = {"validator": validator, "validationLevel": "strict", "validationAction": "error"}
        with self._errors():
            found = list(db.list_collections(filter={"name": self.collection_name}))
            if not found:
                try:
                    db.create_collection(self.collection_name, **options)
                    return
                except (CollectionInvalid, OperationFailure) as exc:
                    if isinstance(exc, OperationFailure) and exc.code != 48:  # NamespaceExists
                        raise
                found = list(db.list_collections(filter={"name": self.collection_name}))
            current = (found[0].get("options") or {}) if found else {}
            if current.get("validator") != validator or current.get("validationLevel") not in (
                None,
                "strict",
            ):
                db.command("collMod", self.collection_name, **options)

    def ensure_indexes(self) -> list[str]:
        """Build every index the toolkit's queries rely on (idempotent); return their names."""
        from pymongo import IndexModel
        from pymongo.errors import OperationFailure

        models = [
            IndexModel(list(spec.keys), name=spec.name, **dict(spec.options)) for spec in INDEXES
        ]
        with self._errors():
            try:
                return list(self._coll.create_indexes(models))
            except OperationFailure as exc:
                if exc.code not in (85, 86):  # IndexOptionsConflict / IndexKeySpecsConflict
                    raise
        # An index of the same keys exists under other options: build the others one by one.
        names = []
        for model in models:
            try:
                with self._errors():
                    names.extend(self._coll.create_indexes([model]))
            except OperationFailure as exc:
                log.warning("index %s not built: %s", model.document["name"], exc)
        return names

    def _prepare(self) -> None:
        """Validator and indexes; a read-only database user just gets a warning."""
        try:
            self.ensure_collection()
            self.ensure_indexes()
        except AccessDenied as exc:
            log.warning("cannot set up %s.%s: %s", self.database_name, self.collection_name, exc)

    # --- reads ------------------------------------------------------------------------------

    def _aggregate(self, pipeline: list[dict[str, Any]], plan: SearchPlan) -> list[dict[str, Any]]:
        from pymongo.errors import OperationFailure

        options: dict[str, Any] = {}
        if self._conn.hint_supported and (plan.hint_required or not self._conn.is_secantus):
            options["hint"] = plan.hint
        with self._errors():
            try:
                return list(self._coll.aggregate(pipeline, **options))
            except OperationFailure as exc:
                if "hint" not in options or exc.code != 2 or "hint" not in str(exc).lower():
                    raise
                # The index is missing (a read-only user could not build it): run unhinted.
                log.warning("index %s is missing; run ensure_indexes() as admin", plan.index.name)
                self._conn.hint_supported = False
                return list(self._coll.aggregate(pipeline))

    def get(self, record_id: str | ObjectId) -> JwstDataModel:
        """The record with this id; :class:`NotFound` if it does not exist or is not readable."""
        oid = _oid(record_id)
        with self._errors():
            doc = self._coll.find_one({"_id": oid, **self._scope.read_filter()}, _HIDDEN)
        if doc is None:
            raise NotFound(f"no record {str(oid)!r} visible to this {self.role} session")
        return _model(doc)

    def search(
        self,
        text: str | None = None,
        data_type: Any = None,
        processing_level: Any = None,
        instrument: Any = None,
        filter: Any = None,
        target_name: Any = None,
        status: Any = None,
        tags: Any = None,
        date_from: Any = None,
        date_to: Any = None,
        is_public: bool | None = None,
        include_archived: bool = False,
        observation_base_id: str | None = None,
        page: int = 1,
        page_size: int = 20,
        sort: str = "uploadDate",
        descending: bool = True,
    ) -> Page:
        """One page of readable records, the total and the facets, in ONE aggregate.

        ``text`` matches word prefixes (all words must match) in names, target, ids, tags and
        description; the other arguments take one value or a list (any of them); ``tags``
        must all be present; ``date_from``/``date_to`` bound ``uploadDate``. Archived records
        are left out unless ``include_archived``. Bad input is a ``ValidationError``.
        """
        criteria = validate_criteria(
            text=text,
            data_type=data_type,
            processing_level=processing_level,
            instrument=instrument,
            filter=filter,
            target_name=target_name,
            status=status,
            tags=tags,
            date_from=date_from,
            date_to=date_to,
            is_public=is_public,
            include_archived=include_archived,
            observation_base_id=observation_base_id,
            page=page,
            page_size=page_size,
            sort=sort,
            descending=descending,
        )
        pipeline, plan = search_pipeline(criteria, self._scope)
        rows = self._aggregate(pipeline, plan)
        result = rows[0] if rows else {}
        total = int(result["total"][0]["n"]) if result.get("total") else 0
        return Page(
            items=[_model(d) for d in result.get("items", [])],
            total=total,
            page=criteria.page,
            page_size=criteria.page_size,
            pages=math.ceil(total / criteria.page_size),
            facets={name: facet_counts(result.get(name, [])) for name in FACETS},
        )

    def count(self, **criteria: Any) -> int:
        """How many readable records match (same arguments and rules as :meth:`search`)."""
        pipeline, plan = count_pipeline(validate_criteria(**criteria), self._scope)
        rows = self._aggregate(pipeline, plan)
        return int(rows[0]["n"]) if rows else 0

    def explain(self, operation: str = "search", **arguments: Any) -> dict[str, Any]:
        """How the server plans one of the session's reads (for tests and tuning).

        ``operation`` is ``"search"`` or ``"count"`` (with :meth:`search`'s arguments),
        ``"lineage"`` (``observation_base_id=``), ``"observations"`` or ``"statistics"``.
        Returns ``{"stages": [...], "indexes": [...], "expected_index": name,
        "hinted": bool, "explain": raw}``; ``stages`` names the winning plan's stages
        (``IXSCAN``, ``FETCH``, ``COLLSCAN``...).
        """
        if operation == "search":
            pipeline, plan = search_pipeline(validate_criteria(**arguments), self._scope)
        elif operation == "count":
            pipeline, plan = count_pipeline(validate_criteria(**arguments), self._scope)
        elif operation == "lineage":
            pipeline, plan = lineage_pipeline(arguments["observation_base_id"], self._scope)
        elif operation == "observations":
            pipeline, plan = observations_pipeline(self._scope)
        elif operation == "statistics":
            pipeline, plan = statistics_pipeline(self._scope)
        else:
            raise invalid(
                "operation",
                "operation is search, count, lineage, observations or statistics",
                operation,
            )
        return self._explain(pipeline, plan)

    def explain_search(self, **criteria: Any) -> dict[str, Any]:
        """:meth:`explain` of :meth:`search` with these arguments."""
        return self.explain("search", **criteria)

    def _explain(self, pipeline: list[dict[str, Any]], plan: SearchPlan) -> dict[str, Any]:
        command: dict[str, Any] = {
            "aggregate": self.collection_name,
            "pipeline": pipeline,
            "cursor": {},
        }
        hinted = plan.hint_required or not self._conn.is_secantus
        if hinted:
            command["hint"] = plan.hint
        with self._errors():
            raw = self._conn.client[self.database_name].command(
                "explain", command, verbosity="queryPlanner"
            )
        stages: list[str] = []
        indexes: list[str] = []
        _walk_plans(raw, stages, indexes, inside=False)
        return {
            "stages": list(dict.fromkeys(stages)),
            "indexes": list(dict.fromkeys(indexes)),
            "expected_index": plan.index.name,
            "hinted": hinted,
            "explain": raw,
        }

    def lineage(self, observation_base_id: str) -> Lineage:
        """The readable files of one observation as a :class:`~jwstnb.lineage.Lineage` tree."""
        from jwstnb.lineage import build_lineage

        pipeline, plan = lineage_pipeline(observation_base_id, self._scope)
        records = [_model(d) for d in self._aggregate(pipeline, plan)]
        if not records:
            raise NotFound(
                f"no readable records of observation {observation_base_id!r}; "
                "see session.observations() for the ones there are"
            )
        return build_lineage(observation_base_id, records)

    def observations(self) -> list[str]:
        """Every observation base id with at least one readable record, sorted."""
        pipeline, plan = observations_pipeline(self._scope)
        return [row["_id"] for row in self._aggregate(pipeline, plan)]

    def statistics(self) -> dict[str, Any]:
        """Counts over everything this session may read (archived included), one aggregate.

        Keys: total, total_size (bytes), public, archived, observations, first_upload,
        last_upload, data_type, processing_level, status, instrument (value -> count).
        """
        pipeline, plan = statistics_pipeline(self._scope)
        rows = self._aggregate(pipeline, plan)
        result = rows[0] if rows else {}
        totals = (result.get("totals") or [{}])[0]
        observations = result.get("observations") or [{}]
        return {
            "total": int(totals.get("n", 0)),
            "total_size": int(totals.get("size", 0)),
            "public": int(totals.get("public", 0)),
            "archived": int(totals.get("archived", 0)),
            "observations": int(observations[0].get("n", 0)),
            "first_upload": totals.get("first"),
            "last_upload": totals.get("last"),
            **{
                name: facet_counts(result.get(name, []))
                for name in ("data_type", "processing_level", "status", "instrument")
            },
        }

    # --- writes -----------------------------------------------------------------------------

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
        with self._errors():
            return str(self._coll.insert_one(doc).inserted_id)

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

                with self._errors():
                    try:
                        inserted = self._coll.insert_one(stored_document(model)).inserted_id
                    except DuplicateKeyError:
                        continue  # inserted by someone else meanwhile: update theirs
                return str(inserted), True

            def refresh(doc: dict[str, Any]) -> dict[str, Any]:
                merged = {**new_doc, **{k: doc[k] for k in KEEP_ON_UPSERT if k in doc}}
                return {k: v for k, v in merged.items() if doc.get(k) != v}

            record = self._modify(existing["_id"], refresh)
            return str(record.id), False
        raise InvalidTransition(f"record {model.file_path!r} kept changing during upsert; retry")

    def _modify(
        self, record_id: Any, mutate: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> JwstDataModel:
        """Read, change and write one record, keeping ``keywords``/``readers`` consistent.

        ``mutate(stored_doc)`` returns the changed top-level fields. The write is guarded by
        the values the derived fields were computed from, and retried if they moved.
        """
        from pymongo import ReturnDocument

        oid = _oid(record_id)
        write = self._scope.write_filter()
        for _attempt in range(8):
            with self._errors():
                doc = self._coll.find_one({"_id": oid, **write})
            if doc is None:
                raise self._missing_or_denied(oid)
            changes = mutate(doc)
            if not changes:
                return _model(doc)
            after = {**doc, **changes}
            for name, value in derived_fields(after).items():
                if doc.get(name) != value:
                    changes[name] = value
            # The derived fields are right only if their inputs did not move meanwhile. (The
            # guard's userId, when present, is the writer's own id: same as the write filter.)
            guard = {k: {"$eq": doc.get(k)} for k in DERIVED_INPUTS}
            with self._errors():
                updated = self._coll.find_one_and_update(
                    {"_id": oid, **write, **guard},
                    {"$set": changes},
                    projection=_HIDDEN,
                    return_document=ReturnDocument.AFTER,
                )
            if updated is not None:
                return _model(updated)
        raise InvalidTransition(f"record {str(oid)!r} kept changing while being updated; retry")

    def update(self, record_id: str | ObjectId, **fields: Any) -> JwstDataModel:
        """Change fields (snake_case or camelCase names) of a record this session may change.

        Values are validated by the model. ``processing_status`` goes through
        :meth:`set_status`, results through :meth:`add_result`; only an admin changes owners.
        """
        names = _field_names(fields)
        if "user_id" in names.values() and self.role != "admin":
            raise AccessDenied("only an admin may change a record's owner")

        def change(doc: dict[str, Any]) -> dict[str, Any]:
            data = _model(doc).model_dump()
            for given, name in names.items():
                data[name] = fields[given]
            new_doc = JwstDataModel.model_validate(data).to_document()
            return {k: v for k, v in new_doc.items() if k != "_id" and doc.get(k) != v}

        return self._modify(record_id, change)

    def delete(self, record_id: str | ObjectId) -> None:
        """Delete a record this session may change."""
        oid = _oid(record_id)
        write = self._scope.write_filter()
        with self._errors():
            deleted = self._coll.delete_one({"_id": oid, **write}).deleted_count
        if not deleted:
            raise self._missing_or_denied(oid)

    def _set(
        self, record_id: Any, update: dict[str, Any], extra: Mapping[str, Any] | None = None
    ) -> JwstDataModel | None:
        from pymongo import ReturnDocument

        oid = _oid(record_id)
        write = self._scope.write_filter()
        with self._errors():
            doc = self._coll.find_one_and_update(
                {"_id": oid, **write, **(extra or {})},
                update,
                projection=_HIDDEN,
                return_document=ReturnDocument.AFTER,
            )
        return None if doc is None else _model(doc)

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
        )
        if record is not None:
            return record
        oid = _oid(record_id)
        with self._errors():
            doc = self._coll.find_one(
                {"_id": oid, **self._scope.read_filter()}, {"processingStatus": 1, "userId": 1}
            )
        if doc is None:
            raise NotFound(f"no record {str(oid)!r} visible to this {self.role} session")
        if not self._scope.can_write(doc):
            raise self._denied(oid)
        raise InvalidTransition(
            f"record {str(oid)!r} is {doc.get('processingStatus')!r}: it cannot move to "
            f"{target!r} (only from {' or '.join(sources)})"
        )

    def add_result(
        self, record_id: str | ObjectId, result: ProcessingResult | Mapping[str, Any]
    ) -> JwstDataModel:
        """Append a processing result to a record this session may change."""
        if not isinstance(result, ProcessingResult):
            result = ProcessingResult.model_validate(result)
        record = self._set(record_id, {"$push": {"processingResults": result.to_document()}})
        if record is None:
            raise self._missing_or_denied(_oid(record_id))
        return record

    def archive(self, record_id: str | ObjectId) -> JwstDataModel:
        """Hide a record from search (``include_archived=True`` shows it); get() still works."""
        return self._archive(record_id, True)

    def unarchive(self, record_id: str | ObjectId) -> JwstDataModel:
        """Bring an archived record back into search."""
        return self._archive(record_id, False)

    def _archive(self, record_id: Any, archived: bool) -> JwstDataModel:
        record = self._set(record_id, {"$set": {"archived": archived}})
        if record is None:
            raise self._missing_or_denied(_oid(record_id))
        return record

    def share(self, record_id: str | ObjectId, *users: str) -> JwstDataModel:
        """Let ``users`` read a record this session may change."""
        names = [validate_user(u) for u in users]

        def add(doc: dict[str, Any]) -> dict[str, Any]:
            current = list(doc.get("sharedWith") or [])
            merged = list(dict.fromkeys([*current, *names]))
            return {"sharedWith": merged} if merged != current else {}

        return self._modify(record_id, add)

    def bulk_tags(
        self, ids: Iterable[str | ObjectId], add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> int:
        """Add and remove tags on many records; returns how many records changed.

        Records this session may not change (or cannot see) are left alone and not counted.
        """
        from jwstnb.query import _strings

        to_add = _strings("add", list(add))
        to_remove = set(_strings("remove", list(remove)))
        for tag in to_add:
            if len(tag) > 100:
                raise invalid("add", "a tag has at most 100 characters", tag)
        oids = []
        for i in ids:
            if isinstance(i, ObjectId) or (isinstance(i, str) and ObjectId.is_valid(i)):
                oids.append(ObjectId(i))
            else:
                raise invalid("ids", "record ids are 24 hexadecimal digits", i)
        write = self._scope.write_filter()
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
                    record = self._modify(doc["_id"], retag)
                    changed += int(record.tags != before)
        return changed


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


def _walk_plans(node: Any, stages: list[str], indexes: list[str], inside: bool) -> None:
    """Collect plan stage names and index names from the winning plans of an explain."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("rejectedPlans", "slotBasedPlan"):
                continue
            now_inside = inside or key in ("winningPlan", "queryPlan")
            if now_inside and key == "stage" and isinstance(value, str):
                stages.append(value)
            if now_inside and key == "indexName" and isinstance(value, str):
                indexes.append(value)
            _walk_plans(value, stages, indexes, now_inside)
    elif isinstance(node, list):
        for item in node:
            _walk_plans(item, stages, indexes, inside)


def _reason(exc: BaseException, password: str | None) -> str:
    text = str(exc).split(", Timeout:")[0].split(" (configured timeouts")[0]
    return config.redact_text(text, password)[:300]


def connect(
    uri: str | None = None,
    *,
    user: str | None = None,
    admin: bool | None = None,
    database: str | None = None,
    collection: str | None = None,
    timeout: float = 5.0,
    **client_options: Any,
) -> Session:
    """Connect and return a :class:`Session` (see :mod:`jwstnb.config` for where to).

    Role: ``user`` given -> that user; ``admin=True`` -> admin; otherwise the embedded local
    database (or its own URI) -> admin (it belongs to the person running it), any other
    configured URI -> anonymous.
    An unreachable server is :class:`ConnectionFailed` after about ``timeout`` seconds.
    """
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure, PyMongoError

    if user is not None and admin:
        raise invalid("admin", "pass user=... or admin=True, not both")
    resolved = config.resolve(uri)
    from jwstnb import localdb

    # The embedded server's own URI (handed to kernels by the server extension) is local too.
    local = resolved.uri is None or localdb.owns(str(resolved.uri))
    if local:
        actual = localdb.ensure_running()
    else:
        actual = str(resolved.uri)
        config.warn_dev_credentials(actual)
    database = database or resolved.database or DATABASE
    collection = collection or resolved.collection or COLLECTION
    if user is not None:
        scope = Scope("user", validate_user(user))
    elif admin or (admin is None and local):
        scope = Scope("admin")
    else:
        scope = Scope("anonymous")

    password = config.credentials(actual)[1]
    where = (
        "the embedded local server" if local else f"{config.hosts(actual)} (from {resolved.origin})"
    )
    ms = max(1, int(timeout * 1000))
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": ms,
        "connectTimeoutMS": ms,
        "tz_aware": True,
        "tzinfo": UTC,
        "appname": "jwstnb",
        # A write reported as done survives a crash: the server acknowledges it only once
        # it is in the journal. Bulk loads that are re-run anyway may pass journal=False.
        "journal": True,
        **client_options,
    }
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(actual, **options)
    except (PyMongoError, ValueError, TypeError) as exc:
        raise ConnectionFailed(
            f"invalid MongoDB URI {config.redact(actual)} (from {resolved.origin}): "
            f"{_reason(exc, password)}"
        ) from None
    try:
        client.admin.command("ping")
    except OperationFailure as exc:
        client.close()
        if exc.code == 18:
            db_user = config.credentials(actual)[0]
            raise ConnectionFailed(
                f"authentication failed for user {db_user!r} at {where}; check the user name, "
                "password and authSource in the URI"
            ) from None
        raise ConnectionFailed(f"{where} refused ping: {_reason(exc, password)}") from None
    except PyMongoError as exc:
        client.close()
        raise ConnectionFailed(
            f"cannot reach MongoDB at {where} within {timeout:g}s: {_reason(exc, password)}. "
            "Check that the server is running and reachable from this machine, and that the "
            "URI names the right host and port" + ("" if local else f" (set by {resolved.origin})")
        ) from None
    conn = _Connection(client, resolved, actual, local)
    session = Session(conn, database, collection, scope)
    log.info("connected to %s as %s", conn.display, scope.role)
    try:
        session._prepare()
    except BaseException:
        session.close()
        raise
    return session
