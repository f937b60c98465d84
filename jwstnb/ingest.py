"""Turn files in storage, and MAST query results, into correct, linked records.

:func:`scan` walks a storage prefix, reads only the headers of FITS files (concurrently),
and upserts one record per file (unique per owner + ``filePath``, so re-running it, or two
processes running it at once, never duplicates a record). :func:`import_mast` does the same
from MAST observation and product rows. Both finish with :func:`relink`, which recomputes
lineage (``observationBaseId``, ``parentId``, ``derivedFrom``, ``derivedRoles``) over every record
of the programs they touched and writes only what changed.

Imports are admin work: records get ``userId`` null and ``isPublic`` true.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jwstnb.documents import DERIVED_FIELDS
from jwstnb.errors import (
    ConnectionFailed,
    FitsError,
    JwstnbError,
    StorageFileNotFound,
    StorageNotConfigured,
    invalid,
)
from jwstnb.keys import join_key, validate_key
from jwstnb.naming import (
    SCAN_EXTENSIONS,
    file_type,
    group_from_key,
    is_scannable,
    program_of,
)
from jwstnb.records import (
    mast_pairs,
    mast_record,
    record_from_asdf,
    record_from_asn,
    record_from_fits,
    record_from_picture,
    record_from_table_head,
    refresh,
    row_items,
)
from jwstnb.schema import JwstDataModel

if TYPE_CHECKING:
    from jwstnb.documents import Prepared
    from jwstnb.lineage import LineageInput
    from jwstnb.session import LineageChange, Session
    from jwstnb.storage import Storage

__all__ = [
    "SCAN_EXTENSIONS",
    "ImportReport",
    "ScanReport",
    "import_mast",
    "import_mast_many",
    "mast_record",
    "read_mast_file",
    "record_from_file",
    "relink",
    "scan",
    "scan_url",
]

log = logging.getLogger(__name__)

# Fields the scan does not compare or overwrite: lineage (relink owns it), what people
# manage (the session keeps those on upsert), and the session's derived fields.
_LINEAGE_FIELDS = ("observationBaseId", "parentId", "derivedFrom", "derivedRoles")
_NOT_COMPARED = frozenset({
    "_id", "uploadDate", "processingStatus", "processingResults", "tags", "description",
    "sharedWith", "isPublic", "archived", "_processed", *DERIVED_FIELDS, *_LINEAGE_FIELDS,
})
_MAX_JSON_BYTES = 16 * 2**20
_TABLE_HEAD_BYTES = 64 * 1024


@dataclass
class ScanReport:
    """What a scan did, by storage key: ``failed`` holds ``(key, reason)`` pairs."""

    imported: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    relinked: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {
            "imported": len(self.imported),
            "updated": len(self.updated),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
        }

    def __str__(self) -> str:
        c = self.counts
        text = (
            f"{c['imported']} imported, {c['updated']} updated, {c['skipped']} unchanged, "
            f"{c['failed']} failed"
        )
        return text + "".join(f"\n  failed: {key}: {why}" for key, why in self.failed)


class ImportReport(ScanReport):
    """What :func:`import_mast` did, by storage key (same fields as :class:`ScanReport`)."""


# --- pure record building ---------------------------------------------------------------------


def _asdf_meta(storage: Storage, key: str) -> dict[str, Any]:
    """The ``meta`` of an asdf file's tree, read with the ``asdf`` library; arrays stay on disk
    (lazy blocks), so only the YAML header is read."""
    import warnings

    import asdf

    with storage.open(key) as handle:
        try:
            with warnings.catch_warnings():
                # JWST trees carry tags of packages jwstnb does not need (gwcs, stdatamodels)
                warnings.simplefilter("ignore")
                with asdf.open(handle, lazy_load=True, memmap=False) as af:
                    meta = af.tree.get("meta")
                    return dict(meta) if isinstance(meta, Mapping) else {}
        except Exception as exc:  # asdf/yaml raise many types for a broken file
            raise FitsError(f"{key!r} is not a readable asdf file: {exc}") from None


def record_from_file(storage: Storage, key: str, size: int | None = None) -> JwstDataModel:
    """Read what a record needs from one file (headers only for FITS and asdf) and build it.

    How a file is read is decided by :func:`jwstnb.naming.file_type`. Raises FitsError with
    the reason when the file cannot be read.
    """
    validate_key(key)
    if size is None:
        size = storage.size(key)
    kind = file_type(key)
    if kind == "fits":
        return record_from_fits(key, size, storage.read_headers(key, size=size))
    if kind == "asdf":
        return record_from_asdf(key, size, _asdf_meta(storage, key))
    if kind == "json":
        if size > _MAX_JSON_BYTES:
            raise FitsError(f"{key!r} is too large for a JSON file ({size} bytes)")
        try:
            data = json.loads(storage.read_bytes(key).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FitsError(f"{key!r} is not valid JSON: {exc}") from None
        if not isinstance(data, Mapping):
            raise FitsError(f"{key!r} is JSON but not an object")
        return record_from_asn(key, size, data)
    if kind == "table":
        with storage.open(key) as f:
            head = f.read(_TABLE_HEAD_BYTES)
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = head.decode("utf-8", "ignore")
            if not text.strip():
                raise FitsError(f"{key!r} is not a text table") from None
        return record_from_table_head(key, size, text)
    if kind == "picture":
        width, height, mode = storage.picture_info(key)  # header only, bounded
        return record_from_picture(
            key, size, width, height, mode, max_pixels=storage.max_image_pixels
        )
    raise FitsError(f"{key!r}: files of this type are not imported")


# --- the database side (through the session's methods only) ---------------------------------


def _comparable(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in _NOT_COMPARED}


def _store(
    session: Session,
    model: JwstDataModel,
    existing: Mapping[str, Any] | None,
    report: ScanReport,
) -> None:
    """Insert or refresh one record; unchanged records are skipped without a write, and a
    record the server refuses goes to ``failed`` with its reason."""
    from pydantic import ValidationError

    key = str(model.file_path)
    if existing is not None:
        stored = JwstDataModel.from_document(dict(existing))
        model = refresh(stored, model, processed=bool(existing.get("_processed")))
        new = _comparable(model.to_document())
        old = _comparable(JwstDataModel.from_document(dict(existing)).to_document())
        if new == old:
            report.skipped.append(key)
            return
    try:
        _rid, created = session.upsert(model)
    except ValidationError as exc:
        report.failed.append((key, f"the server refused the record: {_first_error(exc)}"))
        return
    (report.imported if created else report.updated).append(key)


def _first_error(exc: Any) -> str:
    errors = exc.errors()
    return str(errors[0].get("msg") if errors else exc)[:500]


#: New records filed with one insert command (one round trip, one journal sync). Measured on
#: SecantusDB (benchmarks/ingest.py): 100 -> 140 records/s, 1000 -> 160; 500 keeps a crash's
#: re-run short and a scan's progress visible.
INSERT_BATCH = 500


def _insert_new(session: Session, records: list[Prepared], report: ScanReport) -> None:
    """Insert records for files no record had when the work began, in one round trip.

    A file another process filed meanwhile is refreshed through the one-record path; a
    record the server refuses goes to ``failed`` with the server's reason, and every other
    record of the batch is written.
    """
    if not records:
        return
    records[:] = _with_lineage(records)
    done = session.insert_new(records)
    taken = set(done.taken)
    for i, record in enumerate(records):
        key = str(record.model.file_path)
        if i in done.refused:
            report.failed.append((key, f"the server refused the record: {done.refused[i]}"))
            log.info("%s refused: %s", key, done.refused[i])
        elif i in taken:
            _store(session, record.model, session.records_at([key]).get(key), report)
        else:
            report.imported.append(key)
    records.clear()


#: Batches being written at once: one on the server while the next is made ready (its
#: lineage and documents, on the client), so the server never waits for the client.
BATCHES_IN_FLIGHT = 2


def _write_all(
    session: Session,
    records: Iterable[tuple[Prepared, Mapping[str, Any] | None]],
    report: ScanReport,
) -> None:
    """File records, each with the stored document its storage key had when the work began
    (or None): new ones in batches of :data:`INSERT_BATCH`, known ones one by one (compared
    first: most re-scanned files are unchanged and cost no write).

    Batches are written on threads of their own while the next ones are read, at most
    :data:`BATCHES_IN_FLIGHT` at a time: a crash leaves at most that many unacknowledged
    batches, and running the work again files exactly what they held.
    """
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    new: list[Prepared] = []
    pending: deque[Future[None]] = deque()
    with ThreadPoolExecutor(max_workers=BATCHES_IN_FLIGHT,
                            thread_name_prefix="jwstnb-write") as writer:
        for record, existing in records:
            if existing is not None:
                _store(session, record.model, existing, report)
                continue
            new.append(record)
            if len(new) >= INSERT_BATCH:
                if len(pending) >= BATCHES_IN_FLIGHT:
                    pending.popleft().result()
                pending.append(writer.submit(_insert_new, session, list(new), report))
                new.clear()
        while pending:
            pending.popleft().result()
        _insert_new(session, new, report)


def _programs(texts: Iterable[str | None]) -> set[str]:
    """Every JWST program named by these file names or MAST obs ids."""
    return {p for p in (program_of(t) for t in texts if t) if p}


def _lineage_input(rid: str, doc: Mapping[str, Any]) -> LineageInput:
    """What :func:`jwstnb.lineage.plan_lineage` needs of one stored (camelCase) record."""
    from jwstnb.lineage import LineageInput, asn_products_of

    meta = doc.get("metadata") or {}
    known = group_from_key(doc.get("filePath")) or meta.get("mast_obs_id")
    optics = meta.get("optics")
    return LineageInput(
        id=rid,
        file_name=doc["fileName"],
        known_group=known if isinstance(known, str) else None,
        asn=asn_products_of(meta),
        optics=optics if isinstance(optics, str) else None,
    )


def _with_lineage(records: Sequence[Prepared]) -> list[Prepared]:
    """New records with ids and the lineage they have among themselves.

    A lineage update costs the server as much as an insert (every index), so new records go
    in with the lineage their own batch gives them; :func:`relink` afterwards writes only
    what other batches and stored records change (it recomputes over the whole program).
    """
    from bson import ObjectId

    from jwstnb.documents import Prepared
    from jwstnb.lineage import plan_lineage

    with_ids = [r.model.model_copy(update={"id": ObjectId()}) for r in records]
    docs = {str(m.id): m.to_document() for m in with_ids}
    links = plan_lineage(_lineage_input(rid, doc) for rid, doc in docs.items())
    out = []
    for record, model in zip(records, with_ids, strict=True):
        link = links[str(model.id)]
        linked = model.model_copy(update={
            "observation_base_id": link.observation_base_id,
            "parent_id": link.parent_id,
            "derived_from": list(link.derived_from),
        })
        out.append(Prepared(linked, record.sky, record.source))
    return out


#: Programs a relink reads in one go (their import records, for lineage).
RELINK_BATCH = 50


def relink(session: Session, programs: Iterable[str], *, rounds: int = 5) -> int:
    """Recompute lineage for every import record (userId null) of ``programs``.

    Runs :func:`jwstnb.lineage.plan_lineage` over ALL import records of each program
    (processing outputs keep their own lineage) and writes only the records whose
    ``observationBaseId`` / ``parentId`` / ``derivedFrom`` / ``derivedRoles`` change, each
    update guarded by the values it read. It then reads again and repeats until nothing
    changes, so two importers finishing at once still end consistent. Programs are read
    :data:`RELINK_BATCH` at a time. Returns the number of records changed.
    """
    session.require_admin("recomputing lineage")
    wanted = sorted(p for p in set(programs) if re.fullmatch(r"\d{5}", p))
    changed = 0
    for start in range(0, len(wanted), RELINK_BATCH):
        todo = wanted[start:start + RELINK_BATCH]
        for _round in range(rounds):
            found = session.programs_records(todo)
            changes = {p: _lineage_changes(found.get(p, [])) for p in todo}
            todo = [p for p in todo if changes[p]]
            if not todo:
                break
            changed += session.apply_lineage([c for p in todo for c in changes[p]])
        else:
            log.warning("lineage of programs %s kept changing; run relink again",
                        ", ".join(todo))
    return changed


def _lineage_changes(records: Sequence[Mapping[str, Any]]) -> list[LineageChange]:
    """The lineage writes one program's import records need (none when all are right)."""
    from jwstnb.lineage import plan_lineage
    from jwstnb.session import LineageChange

    docs = {str(d["_id"]): d for d in records}
    changes = []
    for rid, links in plan_lineage(_lineage_input(rid, doc) for rid, doc in docs.items()).items():
        doc = docs[rid]
        want = {
            "observationBaseId": links.observation_base_id,
            "parentId": links.parent_id,
            "derivedFrom": list(links.derived_from),
            "derivedRoles": dict(links.derived_roles),
        }
        have = {k: doc.get(k) for k in _LINEAGE_FIELDS}
        have["derivedFrom"] = list(have["derivedFrom"] or [])
        have["derivedRoles"] = dict(have["derivedRoles"] or {})
        if want != have:
            changes.append(LineageChange(before=doc, after=want))
    return changes


def read_mast_file(
    path: str | os.PathLike[str],
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Read saved MAST rows as ``(observation_row, product_rows)`` pairs for :func:`import_mast`.

    The file is JSON in one of the shapes :func:`jwstnb.records.mast_pairs` accepts. A
    missing or broken file is a ValueError naming it.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: not JSON ({exc})") from None
    return mast_pairs(data, name)


# --- scan ---------------------------------------------------------------------------------------


def _wanted(key: str) -> bool:
    """A file a scan imports (naming decides: no hidden folders such as jwstnb's caches)."""
    return is_scannable(key)


def _reason(key: str, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    prefix = f"{key!r}"
    for lead in (f"cannot read {prefix} as FITS: ", f"{prefix} "):
        if text.startswith(lead):
            text = text[len(lead):]
    return text


def _read_batch(
    storage: Storage, items: Sequence[tuple[str, int]]
) -> list[tuple[str, Prepared | None, str | None]]:
    """Records for a batch of files, each with its sky fields computed here, on the worker
    that read the file (:func:`jwstnb.documents.prepare`): (key, record, None) or
    (key, None, why it failed). Runs on the executor of
    :func:`jwstnb.processing.read_records` (a Dask worker, or a thread here).
    """
    from jwstnb.documents import prepare

    out: list[tuple[str, Prepared | None, str | None]] = []
    for key, size in items:
        try:
            out.append((key, prepare(record_from_file(storage, key, size)), None))
        except (JwstnbError, ValueError, OSError, UnicodeError) as exc:
            if isinstance(exc, ConnectionFailed):
                raise
            out.append((key, None, _reason(key, exc)))
    return out


def _scanned_files(storage: Storage, prefix: str) -> dict[str, int]:
    """Every file a scan of ``prefix`` imports, key -> size; StorageFileNotFound if none.

    One record per file: a file two mounts reach is filed under its canonical key.
    """
    sizes = {storage.canonical_key(k): n for k, n in storage.sizes(prefix).items() if _wanted(k)}
    if not sizes:
        where = f"{storage.url}/{prefix}".rstrip("/") if prefix else storage.url
        raise StorageFileNotFound(
            f"nothing to scan under {where}: no {', '.join(SCAN_EXTENSIONS[:4])}... files "
            "there (check the URL or prefix)"
        )
    return sizes


def scan(
    session: Session,
    storage: Storage,
    prefix: str = "",
    *,
    workers: int = 8,
    progress: bool = True,
    executor: Any = None,
) -> ScanReport:
    """Import every FITS/JSON/ECSV/CSV/PNG/JPG/TIFF file under ``prefix`` as a record.

    Headers are read concurrently: by ``workers`` threads, or with ``executor`` (a
    ``dask.distributed.Client`` or a scheduler address; ``pip install 'jwstnb[dask]'``) on
    the cluster's workers in batches, each worker opening files by storage key. This process
    writes the records: upserted by (owner, ``filePath``), so a re-scan updates in place and
    reports unchanged files as ``skipped``. A file that cannot be read goes to ``failed``
    with the reason and the scan goes on. Lineage is then recomputed for every program
    touched. A lost database raises :class:`jwstnb.errors.ConnectionFailed` (nothing is
    half-written: scan again).
    """
    from tqdm.auto import tqdm

    from jwstnb.processing import read_records

    session.require_admin("a scan")
    report = ScanReport()
    sizes = _scanned_files(storage, prefix)
    keys = sorted(sizes)
    existing = session.records_at(keys)
    touched: set[str] = set()
    bar = tqdm(total=len(keys), desc="scan", unit="file", disable=not progress, leave=False)
    read = read_records(storage, [(k, sizes[k]) for k in keys], _read_batch,
                        executor=executor, workers=workers)

    def records() -> Iterator[Prepared]:
        for key, record, why in read:
            bar.update(1)
            if record is None:
                report.failed.append((key, str(why)))
                log.info("scan: %s failed: %s", key, why)
                continue
            touched.update((record.model.file_name, key))
            yield record

    try:
        _write_all(session, ((r, existing.get(str(r.model.file_path))) for r in records()),
                   report)
    finally:
        read.close()
        bar.close()
    report.relinked = relink(session, _programs(touched))
    return report


def scan_url(
    session: Session,
    url: str,
    *,
    mount: str | None = None,
    storage: Storage | None = None,
    workers: int = 8,
    progress: bool = True,
) -> ScanReport:
    """Scan the files at ``url`` so that every record opens again through ``Storage()``.

    ``url`` is a mount's root or a folder under one (its keys then start with that mount's
    prefix); a URL no mount holds is registered as the mount ``mount`` (persisted in the
    config file, see :func:`jwstnb.config.add_mount`) and scanned under ``mount/``. Without
    ``mount`` such a URL is refused with the command to run
    (:class:`jwstnb.errors.StorageNotConfigured`); a missing or empty folder is
    :class:`jwstnb.errors.StorageFileNotFound`.
    """
    from jwstnb import config
    from jwstnb.storage import Storage

    session.require_admin("a scan")
    url = _plain_file_url(url)
    given = storage is not None
    storage = storage if storage is not None else Storage()
    prefix = storage.mount_of(url)
    if prefix is None and (key := storage.key_for(url)) is not None:
        prefix = key + "/"
    if prefix is None:
        shown = config.redact(url)
        if mount is None:
            raise StorageNotConfigured(
                f"{shown} is not a storage mount, so the records of a scan could not be "
                f"opened again; give it a name: jwstnb scan {shown} --mount NAME"
            )
        config.mount_prefix(mount)  # a bad name fails before anything is looked at
        if not any(_wanted(k) for k in Storage(url).sizes("")):  # StorageError: bucket, access
            raise StorageFileNotFound(
                f"nothing to scan at {shown}: no such folder, or no FITS, asdf, JSON, table "
                "or picture files in it; nothing was mounted"
            )
        config.add_mount(mount, url)
        if given:
            raise StorageNotConfigured(
                f"mounted {shown} as {mount!r}; the Storage passed in does not have that "
                "mount: scan again with Storage() (which reads the config file)"
            )
        storage = Storage()
        prefix = config.mount_prefix(mount)
    elif mount is not None and config.mount_prefix(mount) != prefix:
        raise StorageNotConfigured(
            f"{config.redact(url)} is already reached as {prefix!r}; scan it without --mount "
            f"(or under that name)"
        )
    return scan(session, storage, prefix, workers=workers, progress=progress)


def _plain_file_url(url: str) -> str:
    """``file://`` URLs as paths name them: ``file:///tmp/my%20data`` is ``/tmp/my data``."""
    from urllib.parse import unquote, urlsplit

    if url.lower().startswith("file://"):
        return "file://" + unquote(urlsplit(url).path)
    return url


# --- MAST ---------------------------------------------------------------------------------------


def import_mast(
    session: Session,
    observation_row: Mapping[str, Any] | Any,
    product_rows: Iterable[Mapping[str, Any] | Any],
    storage: Storage | None = None,
    *,
    cloud_uris: Sequence[str | None] | None = None,
) -> ImportReport:
    """One record per MAST product file, at ``mast/{obs_id}/{productFilename}``.

    ``observation_row`` / ``product_rows`` are astroquery rows (dicts, astropy Rows or
    pandas Series). Sizes come from the rows, else from ``storage`` when given; association
    files found in ``storage`` contribute their members to lineage. Re-importing updates the
    same records in place. The obs_id names the lineage group. ``cloud_uris`` (one per
    product row, None where there is none; astroquery's ``get_cloud_uris``) are kept so the
    files can be read from the public JWST bucket when no mount holds them. Many
    observations at once: :func:`import_mast_many`.
    """
    products = [row_items(p) for p in product_rows]
    uris = list(cloud_uris) if cloud_uris is not None else [None] * len(products)
    if len(uris) != len(products):
        raise invalid(
            "cloud_uris", f"expected one cloud URI (or None) per product row: {len(products)} "
            f"rows, {len(uris)} URIs (as astroquery's get_cloud_uris returns them)",
        )
    return _import(session, [(observation_row, products, uris)], storage, progress=False)


def import_mast_many(
    session: Session,
    pairs: Iterable[tuple[Mapping[str, Any] | Any, Iterable[Mapping[str, Any] | Any]]],
    storage: Storage | None = None,
    *,
    progress: bool = True,
) -> ImportReport:
    """:func:`import_mast` for many ``(observation_row, product_rows)`` pairs at once (what
    :func:`read_mast_file` returns; ``jwstnb import-mast`` and the sample use it).

    New records of every observation go to the server in shared batches of
    :data:`INSERT_BATCH`, written while the next batch is built, and lineage is recomputed
    once per program at the end instead of once per observation: a program of many
    observations loads at the rate of its batches. One report covers every pair.
    """
    return _import(session, ((obs, products, None) for obs, products in pairs), storage,
                   progress=progress)


def _mast_models(
    obs: Mapping[str, Any],
    products: Sequence[Mapping[str, Any]],
    uris: Sequence[str | None],
    storage: Storage | None,
    report: ImportReport,
) -> list[JwstDataModel]:
    """The records of one observation's product rows; a bad row goes to ``failed``."""
    models: list[JwstDataModel] = []
    for product, uri in zip(products, uris, strict=True):
        label = str(product.get("productFilename") or "?")
        try:
            size = None
            if product.get("size") in (None, "") and storage is not None:
                key = join_key("mast", str(obs.get("obs_id") or ""), label)
                size = storage.size(key) if storage.exists(key) else None
            model = mast_record(obs, product, size=size, cloud_uri=uri)
            if storage is not None and model.file_name.lower().endswith("_asn.json"):
                model = _with_asn(storage, model)
        except (JwstnbError, ValueError, OSError) as exc:
            if isinstance(exc, ConnectionFailed):
                raise
            report.failed.append((label, str(exc)))
            continue
        models.append(model)
    return models


def _import(
    session: Session,
    observations: Iterable[tuple[Any, Iterable[Any], Sequence[str | None] | None]],
    storage: Storage | None,
    *,
    progress: bool,
) -> ImportReport:
    """Import ``(observation_row, product_rows, cloud_uris or None)`` triples: records built
    here, written in shared batches (:func:`_write_all`), then one relink per program."""
    from tqdm.auto import tqdm

    from jwstnb.documents import prepare

    session.require_admin("a MAST import")
    report = ImportReport()
    texts: set[str] = set()
    bar = tqdm(desc="import", unit="record", disable=not progress, leave=False)

    def ready(models: list[JwstDataModel]) -> Iterator[tuple[Prepared, Mapping[str, Any] | None]]:
        existing = session.records_at([str(m.file_path) for m in models])  # one read a batch
        for model in models:
            yield prepare(model), existing.get(str(model.file_path))

    def records() -> Iterator[tuple[Prepared, Mapping[str, Any] | None]]:
        waiting: list[JwstDataModel] = []
        for observation_row, product_rows, cloud_uris in observations:
            obs = row_items(observation_row)
            products = [row_items(p) for p in product_rows]
            uris = cloud_uris if cloud_uris is not None else [None] * len(products)
            models = _mast_models(obs, products, uris, storage, report)
            texts.update(m.file_name for m in models)
            texts.update(str(row.get("obs_id") or "") for row in (obs, *products))
            waiting.extend(models)
            bar.update(len(products))
            if len(waiting) >= INSERT_BATCH:
                yield from ready(waiting)
                waiting = []
        yield from ready(waiting)

    try:
        _write_all(session, records(), report)
    finally:
        bar.close()
    report.relinked = relink(session, _programs(texts))
    return report


def _with_asn(storage: Storage, model: JwstDataModel) -> JwstDataModel:
    """Add an association file's members and product (read from storage) to its record."""
    key = str(model.file_path)
    if not storage.exists(key):
        return model
    try:
        asn = json.loads(storage.read_bytes(key).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{key!r} is not valid JSON: {exc}") from None
    if not isinstance(asn, Mapping):
        return model
    from_file = record_from_asn(key, model.file_size, asn).metadata
    metadata = {**model.metadata, **{k: v for k, v in from_file.items() if k != "source"}}
    return model.model_copy(update={"metadata": metadata})
