"""The bulk work of admin tools: the collection's validator and indexes, records by storage
key and by program (ingest and lineage), lineage written in batches, export and restore
(backups)."""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jwstnb.documents import derived_update, session_validator, sky_cells, with_derived
from jwstnb.errors import AccessDenied, invalid
from jwstnb.session import summary
from jwstnb.session._base import HIDDEN, SessionBase, log, unchanged
from jwstnb.session.planners.indexes import INDEXES, IndexSpec
from jwstnb.session.planners.pipelines import program_filter
from jwstnb.tally import COUNTED_FIELDS

__all__ = ["EMBEDDED_INTERACTIVE_LIMIT", "Bulk", "IndexBuild", "LineageChange",
           "ScaleWarning", "made_by_processing"]

#: Records past which the embedded database stops answering unfiltered counts interactively
#: (measured: docs/scale.md); connect() warns once when a collection is bigger.
EMBEDDED_INTERACTIVE_LIMIT = 100_000
#: Storage keys one ``$in`` read asks about (which records, which processing outputs).
KEYS_PER_READ = 500
_WARNED_SIZE = False


class ScaleWarning(UserWarning):
    """The embedded database has outgrown interactive use; move to a MongoDB server."""


class IndexBuild:
    """Indexes being built on a thread of their own (see :meth:`Bulk.ensure_indexes`).

    ``names`` are the indexes asked for; once ``done``, ``built`` lists those made and
    ``error`` says why the rest were not (also logged). When it ends, reads send index hints
    again (a hint the server refused meanwhile had switched them off).
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.built: list[str] = []
        self.error: str | None = None
        self._finished = threading.Event()

    @classmethod
    def start(cls, session: Bulk, specs: Sequence[IndexSpec]) -> IndexBuild:
        build = cls([s.name for s in specs])
        log.info("building indexes %s in the background", ", ".join(build.names))
        threading.Thread(target=build._run, args=(session, specs), daemon=True,
                         name="jwstnb-index-build").start()
        return build

    def _run(self, session: Bulk, specs: Sequence[IndexSpec]) -> None:
        try:
            self.built = session._build_indexes(specs)
            session.planner.hints_work = True
            log.info("built indexes %s", ", ".join(self.built))
        except Exception as exc:  # a closed session or a lost server: say so, never raise
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("background index build stopped (%s); connect again as admin to "
                        "finish it", self.error)
        finally:
            self._finished.set()

    @property
    def done(self) -> bool:
        """Whether the build has ended (built, or stopped with ``error``)."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the build to end (at most ``timeout`` seconds); whether it has."""
        return self._finished.wait(timeout)

    def __repr__(self) -> str:
        state = ("building" if not self.done else
                 f"stopped: {self.error}" if self.error else "built")
        return f"<IndexBuild {', '.join(self.names)}: {state}>"


class Bulk(SessionBase):
    """Setup and the bulk work of admin tools (mixed into :class:`~jwstnb.session.Session`)."""

    def ensure_collection(self) -> None:
        """Create the collection with the validator, or put the validator on an existing one."""
        from pymongo.errors import CollectionInvalid, OperationFailure

        db = self._conn.client[self.database_name]
        validator = session_validator()
        options: dict[str, Any] = {
            "validator": validator, "validationLevel": "strict", "validationAction": "error",
        }
        with self._errors():
            found = list(db.list_collections(filter={"name": self.collection_name}))
            if not found:
                try:
                    db.create_collection(self.collection_name, **options)
                    summary.reset(self._coll)  # a new collection: its counts are all zero
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

    def ensure_indexes(self, *, background: bool = False) -> list[str]:
        """Build the indexes this engine's planner declares (idempotent); return their names.

        Indexes of the toolkit's catalogue that the planner does not declare (left by an
        earlier version, or by the other engine's restore) are dropped: every index costs
        every write. Indexes someone else made are left alone. With ``background`` (what
        :func:`~jwstnb.session.connect` asks for) and records already stored, the unique
        index is built before returning (ingest relies on it) and the others on a thread of
        their own (:attr:`index_build`): the session answers meanwhile, reads that would use a
        missing index plan without it, and a scan or import goes on (the server adds its
        records to the indexes it is building). The names returned are those built now.
        """
        from pymongo.errors import OperationFailure

        with self._errors():
            existing = {ix["name"]: dict(ix["key"]) for ix in self._coll.list_indexes()}
        # An index already there with the same name and keys is built (servers add options
        # of their own, e.g. 2dsphereIndexVersion, which a second create would call a conflict).
        wanted = self.planner.indexes
        unused = {s.name for s in INDEXES} - {s.name for s in wanted}
        for name in sorted(unused & set(existing)):
            with self._errors(), contextlib.suppress(OperationFailure):
                self._coll.drop_index(name)
                log.info("dropped index %s: this engine's plans do not use it", name)
        done = [s.name for s in wanted if existing.get(s.name) == dict(s.key_pattern)]
        missing = [s for s in wanted if s.name not in done]
        if not missing:
            return done
        if "skyCells_1" not in existing and "skyCells_1" in {s.name for s in missing}:
            self._fill_sky_cells()  # records written before the cell index existed
        if background and self._has_records():
            now = [s for s in missing if s.options.get("unique")]
            later = [s for s in missing if not s.options.get("unique")]
            built = self._build_indexes(now)
            if later:
                self._conn.index_build = IndexBuild.start(self, later)
            return done + built
        return done + self._build_indexes(missing)

    @property
    def index_build(self) -> IndexBuild | None:
        """The background build :meth:`ensure_indexes` started at connect (None: every index
        was there, or built before connect returned); ``wait()`` for it to end."""
        build: IndexBuild | None = self._conn.index_build
        return build

    def _has_records(self) -> bool:
        with self._errors():
            return self._coll.find_one({}, {"_id": 1}) is not None

    def _build_indexes(self, specs: Sequence[IndexSpec]) -> list[str]:
        """Create ``specs``' indexes in one command; their names (one by one, and without
        those that fail, when an index of the same keys exists under other options)."""
        from pymongo.errors import OperationFailure

        models = [_index_model(s) for s in specs]
        if not models:
            return []
        with self._errors():
            try:
                return list(self._coll.create_indexes(models))
            except OperationFailure as exc:
                if exc.code not in (85, 86):  # IndexOptionsConflict / IndexKeySpecsConflict
                    raise
        names: list[str] = []
        for model in models:
            try:
                with self._errors():
                    names.extend(self._coll.create_indexes([model]))
            except OperationFailure as exc:
                log.warning("index %s not built: %s", model.document["name"], exc)
        return names

    def _fill_sky_cells(self, batch: int = 1000) -> int:
        """Give ``skyCells`` to stored records that have a position but no cells (written by
        an earlier jwstnb); once, when the cell index is first built. Returns how many."""
        from pymongo import UpdateOne

        query = {"skyRegion": {"$type": "object"}, "skyCells": {"$exists": False}}
        fields = {"imageInfo.ra": 1, "imageInfo.dec": 1, "imageInfo.footprint": 1}
        filled = 0
        with self._errors():
            updates = []
            for doc in self._coll.find(query, fields):
                cells = sky_cells(doc)
                updates.append(UpdateOne({"_id": doc["_id"]}, {"$set": {"skyCells": cells}}))
                if len(updates) >= batch:
                    filled += self._coll.bulk_write(updates, ordered=False).modified_count
                    updates = []
            if updates:
                filled += self._coll.bulk_write(updates, ordered=False).modified_count
        if filled:
            log.info("gave %d stored records their sky cells", filled)
        return int(filled)

    def _prepare(self) -> None:
        """Validator and indexes (those a stored collection lacks built in the background);
        a read-only database user just gets a warning."""
        try:
            self.ensure_collection()
            self.ensure_indexes(background=True)
        except AccessDenied as exc:
            log.warning("cannot set up %s.%s: %s", self.database_name, self.collection_name, exc)


    def _warn_if_large(self) -> None:
        """Warn once per process when the embedded database outgrows interactive use."""
        global _WARNED_SIZE
        if _WARNED_SIZE:
            return
        with self._errors():
            n = int(self._coll.estimated_document_count())
        if n > EMBEDDED_INTERACTIVE_LIMIT:
            _WARNED_SIZE = True
            warnings.warn(
                f"the embedded database holds {n:,} records; past "
                f"{EMBEDDED_INTERACTIVE_LIMIT:,} counts of filtered views take seconds (pages "
                "and broad views stay fast). Move to a MongoDB server: jwstnb export, then "
                "JWSTNB_MONGO_URI and jwstnb restore (docs/scale.md)",
                ScaleWarning,
                stacklevel=3,
            )


    def recount(self) -> summary.Recount:
        """Count every record again and put the exact counts in the counts summary (DESIGN
        §9): what ``jwstnb doctor --recount`` runs. Needed after writes that bypassed the
        session (pymongo by hand) or a write cut off by a lost server; the result says where
        the summary differed."""
        self.require_admin("recounting the counts summary")
        with self._errors():
            return summary.recount(self._coll)

    def summary_state(self) -> str:
        """Whether broad views are counted from the summary: ``"exact"``, or why not."""
        with self._errors():
            return summary.state(self._coll)

    def records_at(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The record each storage key already has, by key: an import's (userId null), else
        the first user's. Each carries ``_processed`` (see :func:`made_by_processing`)."""
        self.require_admin("reading records by storage key")
        found: dict[str, dict[str, Any]] = {}
        outputs: set[str] = set()
        with self._errors():
            for start in range(0, len(keys), KEYS_PER_READ):
                chunk = list(keys[start : start + KEYS_PER_READ])
                outputs.update(self._outputs_among(chunk))
                for doc in self._coll.find({"filePath": {"$in": chunk}}, HIDDEN):
                    have = found.get(doc["filePath"])
                    imported = doc.get("userId") is None
                    if have is None or (imported and have.get("userId") is not None):
                        found[doc["filePath"]] = doc
        for key, doc in found.items():
            doc["_processed"] = made_by_processing(doc, key in outputs)
        return found

    def _outputs_among(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` a processing result names as its output file (asked
        :data:`KEYS_PER_READ` keys at a time)."""
        named: set[Any] = set()
        for start in range(0, len(keys), KEYS_PER_READ):
            chunk = list(keys[start:start + KEYS_PER_READ])
            rows = self._coll.find(
                {"processingResults.outputFilePath": {"$in": chunk}},
                {"processingResults.outputFilePath": 1},
            )
            named |= {r.get("outputFilePath") for d in rows for r in d.get("processingResults")
                      or ()}
        return named & set(keys)

    def program_records(self, program: str) -> list[dict[str, Any]]:
        """Every import record (userId null) of a JWST program, except processing outputs:
        the set lineage is recomputed over (one index lookup on the derived program)."""
        return self.programs_records([program]).get(program, [])

    def programs_records(self, programs: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """:meth:`program_records` of several programs in one read, by program (a relink of
        a many-program import reads them together rather than one round trip each)."""
        self.require_admin("recomputing lineage")
        wanted = [program_filter(p)["program"] for p in programs]  # five digits each
        query = {"program": wanted[0] if len(wanted) == 1 else {"$in": wanted}}
        with self._errors():
            docs = [d for d in self._coll.find(query) if d.get("userId") is None]
            outputs = self._outputs_among([d["filePath"] for d in docs if d.get("filePath")])
        found: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            if not made_by_processing(doc, doc.get("filePath") in outputs):
                found.setdefault(str(doc.get("program")), []).append(doc)
        return found

    def apply_lineage(self, changes: Sequence[LineageChange]) -> int:
        """Write new lineage fields (and the derived fields they feed) in one bulk write.

        Each change is guarded by the lineage values it was computed from, so a concurrent
        relink that got there first wins and the caller simply reads again. Returns how many
        records changed.
        """
        self.require_admin("writing lineage")
        from pymongo import UpdateOne

        updates, counted = [], []
        for change in changes:
            doc = change.before
            sets = dict(change.after)
            sets.update(derived_update(doc, {**doc, **change.after}))
            guard = {k: doc.get(k) for k in change.after}
            if COUNTED_FIELDS.isdisjoint(sets):
                updates.append(UpdateOne({"_id": doc["_id"], **guard}, {"$set": sets}))
            else:  # a new program: the summary moves it from the record as read (guarded)
                counted.append((doc, {"_id": doc["_id"], **guard, **unchanged(doc)}, sets))
        written = 0
        if counted:
            with self._errors(), summary.keeping(self._coll) as moved:
                for doc, guarded, sets in counted:
                    if self._coll.update_one(guarded, {"$set": sets}).modified_count:
                        moved.move(doc, {**doc, **sets})
                        written += 1
        if updates:
            with self._errors():
                written += int(self._coll.bulk_write(updates, ordered=False).modified_count)
        return written

    def export_cursor(self, batch_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every record this session may read, in ``_id`` order, as stored (for backups)."""
        with self._errors():
            cursor = self._coll.find(self._scope.read_filter()).sort("_id", 1)
            cursor.batch_size(batch_size)
            yield from cursor

    def restore_documents(self, documents: Sequence[tuple[int, dict[str, Any]]]) -> int:
        """Write backup documents all or nothing; returns how many records the file held.

        ``documents`` are (line number, document) pairs already checked by
        :func:`jwstnb.backup.restore` (valid records, no duplicate ids). A record whose
        ``_id`` exists is replaced; the rest of the collection stays. Derived fields
        (``keywords``, ``readers``, ``program``, ``skyRegion``) are recomputed from each
        record's own fields, never taken from the file. The new collection is built beside
        the old one (same validator and indexes) and swapped in with one rename, so a
        failure or a crash on the way leaves the collection exactly as it was.
        """
        self.require_admin("restore (it writes records as they were, owners included)")
        import secrets as _secrets

        from pymongo.errors import BulkWriteError

        db = self._conn.client[self.database_name]
        staging = f"{self.collection_name}_restore_{_secrets.token_hex(4)}"
        replaced = {doc["_id"] for _line, doc in documents}
        lines = [line for line, _doc in documents]
        with self._errors():
            db.create_collection(
                staging, validator=session_validator(), validationLevel="strict",
                validationAction="error",
            )
            target = db[staging]
            try:
                target.create_indexes([_index_model(spec) for spec in self.planner.indexes])
                batch: list[dict[str, Any]] = []
                for doc in self._coll.find({}):
                    if doc["_id"] not in replaced:
                        batch.append(doc)
                    if len(batch) >= 500:
                        target.insert_many(batch, ordered=True)
                        batch = []
                if batch:
                    target.insert_many(batch, ordered=True)
                for start in range(0, len(documents), 500):
                    part = documents[start : start + 500]
                    chunk = [with_derived(doc) for _line, doc in part]
                    try:
                        target.insert_many(chunk, ordered=True)
                    except BulkWriteError as exc:
                        first = (exc.details.get("writeErrors") or [{}])[0]
                        line = lines[start + int(first.get("index", 0))]
                        raise invalid(
                            "line", f"line {line} was rejected by the server: "
                            f"{str(first.get('errmsg', exc))[:300]}"
                        ) from None
                self._conn.client.admin.command(
                    "renameCollection", f"{self.database_name}.{staging}",
                    to=f"{self.database_name}.{self.collection_name}", dropTarget=True,
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    target.drop()
                raise
            # Some servers (SecantusDB) drop collection options on rename: put them back.
            self.ensure_collection()
            summary.recount(self._coll)  # the swapped-in records, counted afresh
        return len(documents)



@dataclass(frozen=True)
class LineageChange:
    """New lineage fields for one stored record (``before``: the document as read)."""

    before: Mapping[str, Any]
    after: Mapping[str, Any]


def made_by_processing(doc: Mapping[str, Any], named_as_output: bool) -> bool:
    """A record made by processing: a user's record, or the output a processing result names.

    Such a record keeps :data:`jwstnb.records.PROCESSING_KEEPS` through any scan or import.
    """
    return doc.get("userId") is not None or named_as_output


def _index_model(spec: Any) -> Any:
    """pymongo's IndexModel for one :class:`~jwstnb.session.planners.indexes.IndexSpec`."""
    from pymongo import IndexModel

    return IndexModel(list(spec.keys), name=spec.name, **dict(spec.options))


