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
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from jwstnb import config
from jwstnb.access import Scope, validate_user
from jwstnb.errors import (
    AccessDenied,
    ConnectionFailed,
    InvalidTransition,
    JwstnbError,
    NotFound,
    QueryTimeout,
)
from jwstnb.query import (
    DERIVED_FIELDS,
    DERIVED_INPUTS,
    FACETS,
    INDEXES,
    Criteria,
    SearchPlan,
    SkyTest,
    count_pipeline,
    counts_pipeline,
    derived_fields,
    facet_counts,
    invalid,
    lineage_pipeline,
    neighbours_pipelines,
    page_hint,
    page_pipeline,
    session_validator,
    sky_candidates_pipeline,
    sky_cells,
    statistics_pipeline,
    status_transition,
    windowed,
)
from jwstnb.schema import (
    COLLECTION,
    DATABASE,
    JwstDataModel,
    ProcessingResult,
    to_object_id,
)

if TYPE_CHECKING:
    from astropy.table import Table
    from pymongo import MongoClient
    from pymongo.collection import Collection

    from jwstnb.lineage import Lineage

__all__ = ["Counts", "Page", "ScaleWarning", "Session", "connect", "records_table"]

log = logging.getLogger(__name__)

_HIDDEN = dict.fromkeys(DERIVED_FIELDS, 0)
#: Records past which the embedded database stops answering unfiltered counts interactively
#: (measured: docs/scale.md); connect() warns once when a collection is bigger.
EMBEDDED_INTERACTIVE_LIMIT = 100_000
_WARNED_SIZE = False


class ScaleWarning(UserWarning):
    """The embedded database has outgrown interactive use; move to a MongoDB server."""


# SecantusDB reads every entry of the index range a query yields: a page of a broad search
# reads the most recent uploads first, in windows this many seconds wide (then unbounded).
_WINDOWS = (1.0, 8.0, 64.0, 512.0, 4096.0, 32768.0, 262144.0, 2097152.0, 16777216.0)
# A selective lead (a word, a tag, a target) may still match much of an archive: its page
# first reads windows of recent uploads while they hold about this many records (estimated
# from the upload rate the newest full page showed), then its own index. Leads matching
# more than a page in this many recent records (4%) come from the windows.
_WINDOW_RECORDS = 500
# Broad leads (the scope, a data type, a short word) read windows up to this many records,
# then their own index: a broad lead whose other clauses match little of the recent uploads
# ("ngc 313") would otherwise widen its windows over the whole collection first.
_BROAD_WINDOW_RECORDS = 5000
# A cone's matches lead its page and counts by id on SecantusDB up to this many (a few MB of
# ids in one command); beyond, its cells lead again, the exact test's misses left out.
_ID_LEAD_LIMIT = 200_000
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

    skipped: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[JwstDataModel]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def to_table(self) -> Table:
        """The items as an astropy Table: one column per field users read, ``coord`` a SkyCoord."""
        return records_table(self.items)

    def to_pandas(self) -> Any:
        """The items as a pandas DataFrame (needs pandas: ``pip install 'jwstnb[pandas]'``)."""
        return _to_pandas(self.to_table())


@dataclass(frozen=True)
class Counts:
    """The total and the facet counts of a search (what the widgets show after the page)."""

    total: int
    facets: dict[str, dict[str, int]]


# Columns of Page.to_table(): (name, getter, unit).
_TABLE_COLUMNS: tuple[tuple[str, Callable[[JwstDataModel], Any], str | None], ...] = (
    ("id", lambda r: str(r.id) if r.id else "", None),
    ("file_name", lambda r: r.file_name, None),
    ("file_path", lambda r: r.file_path or "", None),
    ("data_type", lambda r: str(r.data_type), None),
    ("processing_level", lambda r: str(r.processing_level), None),
    ("status", lambda r: str(r.processing_status), None),
    ("observation_base_id", lambda r: r.observation_base_id or "", None),
    ("target_name", lambda r: _info(r, "target_name") or "", None),
    ("instrument", lambda r: _info(r, "instrument") or "", None),
    ("filter", lambda r: _info(r, "filter") or "", None),
    ("exposure_time", lambda r: _number(_info(r, "exposure_time")), "s"),
    ("observation_date", lambda r: _iso(_info(r, "observation_date")), None),
    ("ra", lambda r: _number(_info(r, "ra")), "deg"),
    ("dec", lambda r: _number(_info(r, "dec")), "deg"),
    ("file_size", lambda r: r.file_size, "byte"),
    ("upload_date", lambda r: _iso(r.upload_date), None),
    ("proposal_id", lambda r: _info(r, "proposal_id") or "", None),
)


def _info(record: JwstDataModel, name: str) -> Any:
    return getattr(record.image_info, name, None) if record.image_info else None


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def records_table(records: Sequence[JwstDataModel]) -> Table:
    """Records as an astropy Table (units on exposure time, size, RA/Dec; a SkyCoord column
    ``coord`` where every record has a position, masked rows otherwise)."""
    import numpy as np
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import MaskedColumn, Table

    table = Table()
    for name, get, unit in _TABLE_COLUMNS:
        values = [get(r) for r in records]
        if unit is None:
            table[name] = np.array(values, dtype=str) if values else np.array([], dtype=str)
        else:
            data = np.array(values, dtype=float)
            table[name] = MaskedColumn(data, mask=np.isnan(data), unit=u.Unit(unit))
    if len(table) and not np.any(table["ra"].mask | table["dec"].mask):
        table["coord"] = SkyCoord(table["ra"].filled(0), table["dec"].filled(0), frame="icrs")
    return table


def _to_pandas(table: Table) -> Any:
    try:
        import pandas  # noqa: F401
    except ImportError:
        raise ImportError(
            "Page.to_pandas needs pandas: pip install 'jwstnb[pandas]' (or use to_table())"
        ) from None
    plain = table.copy()
    if "coord" in plain.colnames:
        plain.remove_column("coord")
    return plain.to_pandas()


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
        # Where windows of recent uploads start: the oldest upload of the newest full first
        # page a broad search has shown (windows are open towards the future).
        self.newest_upload: datetime | None = None
        # Uploads per second around that point (from the same page); None until seen.
        self.upload_rate: float | None = None

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
    """A record id as an ObjectId; anything else cannot name a record (NotFound)."""
    try:
        return to_object_id(record_id)
    except ValueError:
        raise NotFound(
            f"no record {str(record_id)[:80]!r}: a record id is 24 hexadecimal digits"
        ) from None


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
    def _sky_cells(self) -> bool:
        """Position searches lead with the cell index on SecantusDB (see query.match_plan)."""
        return self._conn.is_secantus

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
            ExecutionTimeout,
            OperationFailure,
            PyMongoError,
        )

        try:
            yield
        except ExecutionTimeout:
            raise QueryTimeout(
                "the server stopped this read at its time limit (max_time_ms); search again "
                "with a narrower filter or a longer limit"
            ) from None
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
        options: dict[str, Any] = {
            "validator": validator, "validationLevel": "strict", "validationAction": "error",
        }
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
        from pymongo.errors import OperationFailure

        with self._errors():
            existing = {ix["name"]: dict(ix["key"]) for ix in self._coll.list_indexes()}
        # An index already there with the same name and keys is built (servers add options
        # of their own, e.g. 2dsphereIndexVersion, which a second create would call a conflict).
        done = [s.name for s in INDEXES if existing.get(s.name) == dict(s.key_pattern)]
        models = [_index_model(s) for s in INDEXES if s.name not in done]
        if not models:
            return done
        if "skyCells_1" not in existing:
            self._fill_sky_cells()  # records written before the cell index existed
        with self._errors():
            try:
                return done + list(self._coll.create_indexes(models))
            except OperationFailure as exc:
                if exc.code not in (85, 86):  # IndexOptionsConflict / IndexKeySpecsConflict
                    raise
        # An index of the same keys exists under other options: build the others one by one.
        names = list(done)
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
        """Validator and indexes; a read-only database user just gets a warning."""
        try:
            self.ensure_collection()
            self.ensure_indexes()
        except AccessDenied as exc:
            log.warning("cannot set up %s.%s: %s", self.database_name, self.collection_name, exc)

    # --- reads ------------------------------------------------------------------------------

    def _aggregate(
        self,
        pipeline: list[dict[str, Any]],
        plan: SearchPlan,
        *,
        hint: Mapping[str, Any] | None = None,
        max_time_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        from pymongo.errors import OperationFailure

        options: dict[str, Any] = {}
        if self._conn.hint_supported and (plan.hint_required or not self._conn.is_secantus):
            options["hint"] = dict(hint or plan.hint)
        if max_time_ms is not None:
            options["maxTimeMS"] = max(1, int(max_time_ms))
        with self._errors():
            try:
                return list(self._coll.aggregate(pipeline, **options))
            except OperationFailure as exc:
                if "hint" not in options or exc.code != 2 or "hint" not in str(exc).lower():
                    raise
                # The index is missing (a read-only user could not build it): run unhinted.
                log.warning("index %s is missing; run ensure_indexes() as admin", plan.index.name)
                self._conn.hint_supported = False
                options.pop("hint")
                return list(self._coll.aggregate(pipeline, **options))

    def _models(self, docs: Iterable[Mapping[str, Any]], skipped: list[str]) -> list[JwstDataModel]:
        """Stored documents as models; one that fails validation is skipped, never fatal.

        A record written by hand or by an older version must not break a search for
        everyone: it is left out with a warning naming its id (and listed in ``skipped``).
        """
        from pydantic import ValidationError

        out = []
        for doc in docs:
            try:
                out.append(_model(doc))
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
        observed_from: Any = None,
        observed_to: Any = None,
        program: Any = None,
        proposal_pi: Any = None,
        position: Any = None,
        radius: Any = 0.0,
        is_public: bool | None = None,
        include_archived: bool = False,
        observation_base_id: str | None = None,
        page: int = 1,
        page_size: int = 20,
        sort: str = "uploadDate",
        descending: bool = True,
    ) -> Page:
        """One page of readable records, the total and the facets (:class:`Page`).

        ``text`` matches word prefixes (all words must match) in names, target, ids, tags and
        description; the other arguments take one value or a list (any of them); ``tags``
        must all be present; ``date_from``/``date_to`` bound ``uploadDate`` and
        ``observed_from``/``observed_to`` the observation date. ``position`` (a SkyCoord,
        an (ra, dec) pair in degrees or a string astropy parses) with ``radius`` (degrees or
        an astropy angle; 0: files that cover the position) finds records whose footprint
        overlaps the cone, or whose centre lies in it. Archived records are left out unless
        ``include_archived``. Bad input is a ``ValidationError``. The page comes from an
        index-sorted query; total and facets from a second one (see :meth:`items`,
        :meth:`counts`).
        """
        arguments = {k: v for k, v in locals().items() if k != "self"}
        criteria = Criteria.model_validate(arguments)
        sky = self._sky_test(criteria)
        skipped: list[str] = []
        items = self._items(criteria, sky, skipped)
        counts = self._counts(criteria, sky, None)
        return Page(
            items=items,
            total=counts.total,
            page=criteria.page,
            page_size=criteria.page_size,
            pages=math.ceil(counts.total / criteria.page_size),
            facets=counts.facets,
            skipped=skipped,
        )

    def items(self, **criteria: Any) -> list[JwstDataModel]:
        """Only the page of items of :meth:`search` (same arguments): fast, no counting."""
        valid = Criteria.model_validate(criteria)
        return self._items(valid, self._sky_test(valid), [])

    def counts(self, *, max_time_ms: int | None = None, **criteria: Any) -> Counts:
        """Total and facet counts of :meth:`search` (same arguments), without the items.

        ``max_time_ms`` lets the server stop a count a newer search made stale
        (:class:`jwstnb.errors.QueryTimeout`).
        """
        valid = Criteria.model_validate(criteria)
        return self._counts(valid, self._sky_test(valid), max_time_ms)

    def count(self, **criteria: Any) -> int:
        """How many readable records match (same arguments and rules as :meth:`search`)."""
        valid = Criteria.model_validate(criteria)
        pipeline, plan = count_pipeline(valid, self._scope, sky=self._sky_test(valid))
        rows = self._aggregate(pipeline, plan)
        return int(rows[0]["n"]) if rows else 0

    def table(self, limit: int | None = None, batch: int = 500, **criteria: Any) -> Table:
        """Every matching record (or the first ``limit``) as one astropy Table, read in pages."""
        valid = Criteria.model_validate({**criteria, "page": 1, "page_size": batch})
        records: list[JwstDataModel] = []
        sky = self._sky_test(valid)
        page = 1
        while limit is None or len(records) < limit:
            chunk = self._items(valid.with_page(page=page), sky, [])
            records.extend(chunk)
            if len(chunk) < batch:
                break
            page += 1
        return records_table(records[:limit] if limit is not None else records)

    def _items(
        self, criteria: Criteria, sky: SkyTest | None, skipped: list[str]
    ) -> list[JwstDataModel]:
        pipeline, plan = self._page(criteria, sky)
        cone = criteria.position is not None  # a cone always leads (query._RANK)
        if self._conn.is_secantus and windowed(criteria) and not cone:
            # Windows of recent uploads, bounded by the records they would hold (about 5,000
            # for a broad lead, 500 for a word, tag or target), then the lead's own index:
            # whichever the archive makes cheap. A cone reads the few cells it names.
            budget: int | None = _WINDOW_RECORDS
            if plan.broad:  # unbounded until the upload rate is known
                budget = _BROAD_WINDOW_RECORDS if self._conn.upload_rate else None
            recent = self._recent_page(criteria, sky, budget)
            if recent is not None:
                if plan.broad and criteria.page == 1:
                    self._learn_uploads(recent)
                return self._models(recent, skipped)
        docs = self._aggregate(pipeline, plan, hint=page_hint(criteria, self._scope, plan))
        if windowed(criteria) and plan.broad and criteria.page == 1 and (
            len(docs) == criteria.page_size
        ):
            self._learn_uploads(docs)
        return self._models(docs, skipped)

    def _learn_uploads(self, page: Sequence[Mapping[str, Any]]) -> None:
        """Later windows start at the oldest upload of a full broad first page (a dense part
        of the collection, even when a few records are far newer than the rest); the page's
        span gives an upload rate."""
        newest, oldest = page[0].get("uploadDate"), page[-1].get("uploadDate")
        if not (isinstance(newest, datetime) and isinstance(oldest, datetime)):
            return
        # The highest rate seen: a page of a sparse search spans more time than the uploads
        # took, and a low rate would let windows grow past their budget.
        rate = (len(page) - 1) / max((newest - oldest).total_seconds(), 1e-3)
        self._conn.upload_rate = max(rate, self._conn.upload_rate or 0.0)
        if self._conn.newest_upload is None or oldest > self._conn.newest_upload:
            self._conn.newest_upload = oldest

    def _page(
        self, criteria: Criteria, sky: SkyTest | None
    ) -> tuple[list[dict[str, Any]], SearchPlan]:
        return page_pipeline(criteria, self._scope, sky=sky)

    def _recent_page(
        self, criteria: Criteria, sky: SkyTest | None, budget: int | None
    ) -> list[dict[str, Any]] | None:
        """The page from the smallest window of recent uploads that holds it (SecantusDB).

        A full page from a window is exactly the unbounded query's page. The windows reach
        back from a known dense point (or now) and are open towards the future. ``budget``:
        stop before a window would hold more records than this (by the learned upload rate;
        none tried while it is unknown). None when no window tried holds a page.
        """
        from jwstnb.schema import utc_now

        anchor = self._conn.newest_upload or utc_now()
        rate = self._conn.upload_rate
        wanted = criteria.page * criteria.page_size
        for seconds in _WINDOWS:
            if budget is not None and (rate is None or seconds * rate > budget):
                return None
            if rate is not None and seconds * rate < wanted and seconds < _WINDOWS[-1]:
                continue  # too few uploads in it to hold the page
            since = anchor - timedelta(seconds=seconds)
            pipeline, plan = page_pipeline(criteria, self._scope, since=since, sky=sky)
            docs = self._aggregate(pipeline, plan)
            if len(docs) >= criteria.page_size:
                return docs
        return None

    def _counts(
        self, criteria: Criteria, sky: SkyTest | None, max_time_ms: int | None
    ) -> Counts:
        pipeline, plan = counts_pipeline(criteria, self._scope, sky=sky)
        rows = self._aggregate(pipeline, plan, max_time_ms=max_time_ms)
        result = rows[0] if rows else {}
        total = int(result["total"][0]["n"]) if result.get("total") else 0
        return Counts(total, {name: facet_counts(result.get(name, [])) for name in FACETS})

    def _sky_test(self, criteria: Criteria) -> SkyTest | None:
        """The cone's candidates (meeting every other criterion) tested exactly on great
        circles: on SecantusDB the ids inside (they lead the page and counts; its ``$nin``
        and GeoJSON tests cost far more than reading the few matches by id), elsewhere the
        candidates outside. None without a position."""
        if criteria.position is None:
            return None
        from jwstnb import sky

        ra, dec = criteria.position
        pipeline, plan = sky_candidates_pipeline(
            criteria, self._scope, sky_cells=self._sky_cells
        )
        shapes: dict[str, Any] = {}
        inside: list[Any] = []
        outside: list[Any] = []
        for doc in self._aggregate(pipeline, plan):
            info = doc.get("imageInfo") or {}
            text = info.get("footprint")
            footprint = None
            if isinstance(text, str) and text.strip():
                if text not in shapes:
                    try:
                        shapes[text] = sky.parse_stcs(text)
                    except (ValueError, TypeError, ArithmeticError):
                        shapes[text] = None
                footprint = shapes[text]
            centre = None
            if isinstance(info.get("ra"), int | float) and isinstance(info.get("dec"), int | float):
                centre = (float(info["ra"]), float(info["dec"]))
            found = sky.matches_cone(footprint, centre, ra, dec, criteria.radius)
            (inside if found else outside).append(doc["_id"])
        if self._sky_cells and len(inside) <= _ID_LEAD_LIMIT:
            return SkyTest(matches=tuple(inside), outside=tuple(outside))
        return SkyTest(outside=tuple(outside), cells=self._sky_cells)

    def target_position(self, name: str) -> tuple[float, float] | None:
        """A readable record's (ra, dec) for target ``name`` (any case/spacing), else None.

        What :func:`jwstnb.sky.resolve` asks first, so known targets resolve offline.
        """
        from jwstnb.query import tokenize

        words = tokenize(name)
        if not words or len(words) > 8:
            return None
        joined = "".join(words)
        criteria = Criteria.model_validate(
            {"text": joined if len(words) > 1 else words[0], "include_archived": True,
             "page_size": 50}
        )
        for record in self._items(criteria, None, []):
            info = record.image_info
            target = (info.target_name if info else None) or ""
            if info and info.ra is not None and info.dec is not None and (
                "".join(tokenize(target)).startswith(joined)
            ):
                return float(info.ra), float(info.dec)
        return None

    def explain(self, operation: str = "search", **arguments: Any) -> dict[str, Any]:
        """How the server plans one of the session's reads (for tests and tuning).

        ``operation`` is ``"search"`` (the page of items) or ``"count"``/``"counts"``
        (with :meth:`search`'s arguments), ``"candidates"`` (a position search's first read:
        the cone's candidates, which the session tests exactly), ``"lineage"``
        (``observation_base_id=``), ``"observations"`` or ``"statistics"``. Returns
        ``{"stages": [...], "indexes": [...], "expected_index": name, "hinted": bool,
        "explain": raw, "pipeline": [...]}``;
        ``stages`` names the winning plan's stages (``IXSCAN``, ``FETCH``, ``COLLSCAN``...).
        """
        hint: Mapping[str, Any] | None = None
        if operation == "candidates":
            criteria = Criteria.model_validate(arguments)
            pipeline, plan = sky_candidates_pipeline(
                criteria, self._scope, sky_cells=self._sky_cells
            )
        elif operation in ("search", "count", "counts"):
            criteria = Criteria.model_validate(arguments)
            test = self._sky_test(criteria)
            if operation == "search":
                pipeline, plan = self._page(criteria, test)
                hint = page_hint(criteria, self._scope, plan)
            elif operation == "count":
                pipeline, plan = count_pipeline(criteria, self._scope, sky=test)
            else:
                pipeline, plan = counts_pipeline(criteria, self._scope, sky=test)
        elif operation == "lineage":
            pipeline, plan = lineage_pipeline(arguments["observation_base_id"], self._scope)
        elif operation == "statistics":
            pipeline, plan = statistics_pipeline(self._scope)
        elif operation == "observations":
            return self._explain_distinct()
        else:
            raise invalid(
                "operation",
                "operation is search, count, counts, candidates, lineage, observations or "
                "statistics",
                operation,
            )
        return self._explain(pipeline, plan, hint)

    def explain_search(self, **criteria: Any) -> dict[str, Any]:
        """:meth:`explain` of :meth:`search` with these arguments."""
        return self.explain("search", **criteria)

    def _explain(
        self,
        pipeline: list[dict[str, Any]],
        plan: SearchPlan,
        hint: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        command: dict[str, Any] = {
            "aggregate": self.collection_name,
            "pipeline": pipeline,
            "cursor": {},
        }
        hinted = plan.hint_required or not self._conn.is_secantus
        expected = plan.index.name
        if hinted:
            command["hint"] = dict(hint or plan.hint)
            expected = "_".join(f"{k}_{v}" for k, v in command["hint"].items())
        return self._explain_command(command, expected, hinted, pipeline)

    def _explain_distinct(self) -> dict[str, Any]:
        command = {"distinct": self.collection_name, "key": "observationBaseId",
                   "query": {"observationBaseId": {"$gt": ""}}}
        return self._explain_command(command, "observationBaseId_1", False, [])

    def _explain_command(
        self, command: dict[str, Any], expected: str, hinted: bool, pipeline: list[Any]
    ) -> dict[str, Any]:
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
            "expected_index": expected,
            "hinted": hinted,
            "explain": raw,
            "pipeline": pipeline,
        }

    def lineage(self, observation_base_id: str) -> Lineage:
        """The readable files of one observation as a :class:`~jwstnb.lineage.Lineage` tree.

        Files of other groups directly linked to this one (the exposures a candidate mosaic
        combines, the mosaics an observation's files feed) come too, marked external.
        """
        from jwstnb.lineage import build_lineage

        pipeline, plan = lineage_pipeline(observation_base_id, self._scope)
        docs = self._aggregate(pipeline, plan)
        if not docs:
            raise NotFound(
                f"no readable records of observation {observation_base_id!r}; "
                "see session.observations() for the ones there are"
            )
        ids = [str(d["_id"]) for d in docs]
        parents = sorted({p for d in docs for p in (d.get("derivedFrom") or ())} - set(ids))
        seen = set(ids)
        for neighbour_pipeline, neighbour_plan in neighbours_pipelines(ids, parents, self._scope):
            for doc in self._aggregate(neighbour_pipeline, neighbour_plan):
                if str(doc["_id"]) not in seen:
                    seen.add(str(doc["_id"]))
                    docs.append(doc)
        return build_lineage(observation_base_id, self._models(docs, []))

    def observations(self) -> list[str]:
        """Every observation base id with at least one readable record, sorted.

        Read from the observationBaseId index (``distinct``); for a user or anonymous
        session each group is then checked for one readable record (an index lookup each).
        """
        with self._errors():
            groups = sorted(
                g
                for g in self._coll.distinct(
                    "observationBaseId", {"observationBaseId": {"$gt": ""}}
                )
                if isinstance(g, str)
            )
        scope = self._scope.read_filter()
        if not scope:
            return groups
        readable = []
        with self._errors():
            for group in groups:
                if self._coll.find_one({"observationBaseId": group, **scope}, {"_id": 1}):
                    readable.append(group)
        return readable

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
                f"{EMBEDDED_INTERACTIVE_LIMIT:,} its unfiltered counts take seconds (pages stay "
                "fast). Move to a MongoDB server: jwstnb export, then JWSTNB_MONGO_URI and "
                "jwstnb restore (docs/scale.md)",
                ScaleWarning,
                stacklevel=3,
            )

    # --- ingest, lineage and backup: the bulk work of admin tools ---------------------------

    def require_admin(self, what: str) -> None:
        """:class:`AccessDenied` unless this is an admin session (``what`` names the work)."""
        self._scope.require_admin(what)

    def records_at(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The record each storage key already has, by key: an import's (userId null), else
        the first user's. Each carries ``_processed`` (see :func:`made_by_processing`)."""
        self.require_admin("reading records by storage key")
        found: dict[str, dict[str, Any]] = {}
        outputs: set[str] = set()
        with self._errors():
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                outputs.update(self._outputs_among(chunk))
                for doc in self._coll.find({"filePath": {"$in": chunk}}, _HIDDEN):
                    have = found.get(doc["filePath"])
                    imported = doc.get("userId") is None
                    if have is None or (imported and have.get("userId") is not None):
                        found[doc["filePath"]] = doc
        for key, doc in found.items():
            doc["_processed"] = made_by_processing(doc, key in outputs)
        return found

    def _outputs_among(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` a processing result names as its output file."""
        rows = self._coll.find(
            {"processingResults.outputFilePath": {"$in": list(keys)}},
            {"processingResults.outputFilePath": 1},
        )
        named = {r.get("outputFilePath") for d in rows for r in d.get("processingResults") or ()}
        return named & set(keys)

    def program_records(self, program: str) -> list[dict[str, Any]]:
        """Every import record (userId null) of a JWST program, except processing outputs:
        the set lineage is recomputed over (one index lookup on the derived program)."""
        self.require_admin("recomputing lineage")
        from jwstnb.query import program_filter

        with self._errors():
            docs = [d for d in self._coll.find(program_filter(program)) if d.get("userId") is None]
            outputs = self._outputs_among([d["filePath"] for d in docs if d.get("filePath")])
        return [d for d in docs if not made_by_processing(d, d.get("filePath") in outputs)]

    def apply_lineage(self, changes: Sequence[LineageChange]) -> int:
        """Write new lineage fields (and the derived fields they feed) in one bulk write.

        Each change is guarded by the lineage values it was computed from, so a concurrent
        relink that got there first wins and the caller simply reads again. Returns how many
        records changed.
        """
        self.require_admin("writing lineage")
        from pymongo import UpdateOne

        updates = []
        for change in changes:
            doc = change.before
            sets = dict(change.after)
            for name, value in derived_fields({**doc, **change.after}).items():
                if doc.get(name) != value:
                    sets[name] = value
            guard = {k: doc.get(k) for k in change.after}
            updates.append(UpdateOne({"_id": doc["_id"], **guard}, {"$set": sets}))
        if not updates:
            return 0
        with self._errors():
            return int(self._coll.bulk_write(updates, ordered=False).modified_count)

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
                target.create_indexes([_index_model(spec) for spec in INDEXES])
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
                    chunk = [_with_derived(doc) for _line, doc in part]
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
        return len(documents)

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

    def insert_new(self, models: Sequence[JwstDataModel]) -> list[int]:
        """Store many new records in one round trip; returns the positions of those whose
        (owner, ``filePath``) another writer filed first (not written: upsert those)."""
        from pymongo.errors import BulkWriteError

        docs = [self.document(m) for m in models]
        if not docs:
            return []
        with self._errors():
            try:
                self._coll.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors") or []
                if any(e.get("code") != 11000 for e in errors):
                    first = next(e for e in errors if e.get("code") != 11000)
                    raise invalid(
                        "document", f"the server refused a record: {first.get('errmsg')}"
                    ) from None
                return sorted(int(e["index"]) for e in errors)
        return []

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

    # --- work queue: claims with leases (processing runs, one or many workers) --------------

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
        taken = {"$or": [
            {"processingStatus": "pending"},
            {"processingStatus": "processing", "processingLease.until": {"$lt": now}},
        ]}
        lease = {"until": now + timedelta(seconds=float(lease_seconds)), "worker": str(worker)}
        return self._set(
            record_id,
            {"$set": {"processingStatus": "processing", "processingLease": lease}},
            taken,
        )

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
            moved = self._coll.update_many(
                expired,
                {"$set": {"processingStatus": "pending"}, "$unset": {"processingLease": ""}},
            )
        return int(moved.modified_count)

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
    """pymongo's IndexModel for one :class:`jwstnb.query.IndexSpec`."""
    from pymongo import IndexModel

    return IndexModel(list(spec.keys), name=spec.name, **dict(spec.options))


def _with_derived(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document with its derived fields recomputed in place (order kept, so a backup of
    an unchanged record restores byte for byte)."""
    derived = derived_fields(doc)
    return {**{k: derived.get(k, v) for k, v in doc.items()}, **derived}


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
    if local:
        session._warn_if_large()
    return session
