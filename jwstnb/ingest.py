"""Turn files in storage, and MAST query results, into correct, linked records.

:func:`scan` walks a storage prefix, reads only the headers of FITS files (concurrently),
and upserts one record per file (unique per owner + ``filePath``, so re-running it, or two
processes running it at once, never duplicates a record). :func:`import_mast` does the same
from MAST observation and product rows. Both finish with :func:`relink`, which recomputes
lineage (``observationBaseId``, ``parentId``, ``derivedFrom``) over every record
of the programs they touched and writes only what changed.

Imports are admin work: records get ``userId`` null and ``isPublic`` true.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jwstnb.errors import ConnectionFailed, FitsError, JwstnbError
from jwstnb.keys import join_key, validate_key
from jwstnb.naming import FileIdentity, classify, group_from_key
from jwstnb.schema import (
    DataType,
    ImageMetadata,
    JwstDataModel,
    ProcessingLevel,
    SensorMetadata,
    WavelengthRange,
    mjd_to_datetime,
)

if TYPE_CHECKING:
    from astropy.io.fits import Header

    from jwstnb.session import Session
    from jwstnb.storage import Storage

__all__ = [
    "SCAN_EXTENSIONS",
    "ImportReport",
    "ScanReport",
    "import_mast",
    "mast_record",
    "read_mast_file",
    "record_from_file",
    "relink",
    "scan",
]

log = logging.getLogger(__name__)

#: The files a scan imports (lower case; ``.gz`` FITS too).
SCAN_EXTENSIONS = (
    ".fits", ".fits.gz", ".fit", ".fts", ".json", ".ecsv", ".csv", ".png", ".jpg", ".jpeg",
    ".tif", ".tiff",
)
# Fields the scan does not compare or overwrite: lineage (relink owns it), what people
# manage (the session keeps those on upsert), and the session's derived fields.
_LINEAGE_FIELDS = ("observationBaseId", "parentId", "derivedFrom")
_NOT_COMPARED = frozenset({
    "_id", "uploadDate", "processingStatus", "processingResults", "tags", "description",
    "sharedWith", "isPublic", "archived", "keywords", "readers", *_LINEAGE_FIELDS,
})
_PRIMARY_KEYWORDS = (
    "TELESCOP", "INSTRUME", "DETECTOR", "MODULE", "CHANNEL", "FILTER", "PUPIL", "GRATING",
    "FXD_SLIT", "EXP_TYPE", "DATAMODL", "FILETYPE", "PROGRAM", "OBSERVTN", "VISIT",
    "VISIT_ID", "EXPOSURE", "OBS_ID", "TARGNAME", "TARGPROP", "TARG_RA", "TARG_DEC",
    "DATE-OBS", "TIME-OBS", "EXPSTART", "EXPEND", "EFFEXPTM", "NINTS", "NGROUPS",
    "TITLE", "PI_NAME", "CAL_VER", "SYNTHETC",
)
_NEUTRAL = {"", "CLEAR", "CLEARP", "NONE", "N/A", "OPAQUE"}
_LEVEL_NUMBER = {
    ProcessingLevel.L1: 1,
    ProcessingLevel.L2A: 2,
    ProcessingLevel.L2B: 2,
    ProcessingLevel.L3: 3,
}
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


def _plain(value: Any) -> Any:
    """A header/row value as plain BSON-safe Python (None for NaN, masked or undefined)."""
    if value is None:
        return None
    try:
        import numpy as np

        if np.ma.is_masked(value):
            return None
        if isinstance(value, np.generic):
            value = value.item()
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if type(value).__name__ == "Undefined":  # astropy's header "undefined" value
        return None
    return str(value)


def _text(header: Mapping[str, Any], name: str) -> str | None:
    value = _plain(header.get(name))
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    value = _plain(value)
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def observation_datetime(header: Mapping[str, Any]) -> datetime | None:
    """UTC start time from DATE-OBS (+ TIME-OBS), or EXPSTART (MJD); None if neither parses."""
    date = _text(header, "DATE-OBS")
    if date:
        stamp = date if "T" in date else f"{date}T{_text(header, 'TIME-OBS') or '00:00:00'}"
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return mjd_to_datetime(_number(header.get("EXPSTART")))


def _optics(primary: Mapping[str, Any]) -> str | None:
    """``clear-f090w`` style optics from FILTER/PUPIL/GRATING (as MAST obs ids spell them)."""
    parts = [_text(primary, k) for k in ("PUPIL", "FILTER", "GRATING")]
    present = [p.lower() for p in parts if p and p.upper() not in ("N/A",)]
    return "-".join(present) or None


def _filter_name(primary: Mapping[str, Any]) -> str | None:
    filt = _text(primary, "FILTER")
    pupil = _text(primary, "PUPIL")
    if filt and pupil and pupil.upper() not in _NEUTRAL and pupil.upper().startswith("F"):
        return f"{filt}/{pupil}"  # e.g. a narrow-band filter in the pupil wheel
    return filt or (pupil if pupil and pupil.upper() not in _NEUTRAL else None)


def wcs_summary(header: Header) -> dict[str, Any] | None:
    """A small, JSON-friendly description of a header's celestial WCS, or None."""
    from jwstnb.storage import celestial_wcs

    wcs = celestial_wcs(header)
    if wcs is None:
        return None
    try:
        from astropy.wcs.utils import proj_plane_pixel_scales

        nx = int(header.get("NAXIS1", 0) or 0)
        ny = int(header.get("NAXIS2", 0) or 0)
        ra, dec = wcs.pixel_to_world_values((nx - 1) / 2.0, (ny - 1) / 2.0)
        scales = proj_plane_pixel_scales(wcs) * 3600.0
        summary: dict[str, Any] = {
            "ctype": [str(c) for c in wcs.wcs.ctype],
            "crval": [float(v) for v in wcs.wcs.crval],
            "crpix": [float(v) for v in wcs.wcs.crpix],
            "naxis": [nx, ny],
            "center": [round(float(ra), 7), round(float(dec), 7)],
            "pixel_scale_arcsec": [round(float(s), 6) for s in scales],
            "radesys": str(wcs.wcs.radesys or "ICRS"),
        }
    except Exception:  # an odd but parseable WCS: keep what we have
        return None
    region = _text(header, "S_REGION")
    if region:
        summary["s_region"] = region
    return summary


def _hdu_list(headers: Sequence[Header]) -> list[dict[str, Any]]:
    out = []
    for index, header in enumerate(headers):
        naxis = int(header.get("NAXIS", 0) or 0)
        out.append({
            "name": str(header.get("EXTNAME", "PRIMARY" if index == 0 else index)),
            "type": "BINTABLE" if header.get("XTENSION") == "BINTABLE" else (
                "IMAGE" if index else "PRIMARY"
            ),
            "shape": [int(header.get(f"NAXIS{i}", 0) or 0) for i in range(naxis, 0, -1)],
        })
    return out


def _science_header(headers: Sequence[Header]) -> Header | None:
    for header in headers:
        if str(header.get("EXTNAME", "")).upper() == "SCI":
            return header
    for header in headers:
        if int(header.get("NAXIS", 0) or 0) >= 2 and header.get("XTENSION", "IMAGE") == "IMAGE":
            return header
    return None


def _proposal_id(program: str | None) -> str | None:
    if not program:
        return None
    return str(int(program)) if program.isdigit() else program


def _base_record(key: str, size: int, ident: FileIdentity) -> dict[str, Any]:
    return {
        "file_name": ident.name,
        "file_path": key,
        "file_size": int(size),
        "file_format": ident.file_format or "unknown",
        "data_type": ident.data_type,
        "processing_level": ident.processing_level,
        "exposure_id": ident.exposure_id,
        "observation_base_id": ident.observation_base_id,
        "is_viewable": ident.is_viewable,
        "is_public": True,
        "user_id": None,
    }


def record_from_fits(key: str, size: int, headers: Sequence[Header]) -> JwstDataModel:
    """A record for a FITS file from its headers only (pure: no I/O)."""
    ident = classify(key)
    primary = headers[0]
    sci = _science_header(headers)
    fits_meta = {
        k: _plain(primary[k]) for k in _PRIMARY_KEYWORDS if k in primary
    }
    fits_meta = {k: v for k, v in fits_meta.items() if v is not None}
    metadata: dict[str, Any] = {"source": "scan", "fits": fits_meta, "hdus": _hdu_list(headers)}
    optics = _optics(primary)
    if optics:
        metadata["optics"] = optics
    if sci is not None and sci.get("BUNIT"):
        metadata["bunit"] = str(sci["BUNIT"])
    wcs = wcs_summary(sci) if sci is not None else None
    telescope = (_text(primary, "TELESCOP") or "").upper()
    instrument = _text(primary, "INSTRUME")
    image_info = ImageMetadata(
        target_name=_text(primary, "TARGNAME") or _text(primary, "OBJECT"),
        instrument=instrument,
        filter=_filter_name(primary),
        exposure_time=_nonnegative(_number(primary.get("EFFEXPTM", primary.get("EXPTIME")))),
        observation_date=observation_datetime(primary),
        coordinate_system=(wcs or {}).get("radesys"),
        wcs=wcs,
        wavelength_range=WavelengthRange.INFRARED if telescope == "JWST" else None,
        calibration_level=_LEVEL_NUMBER.get(ident.processing_level),
        proposal_id=_proposal_id(_text(primary, "PROGRAM")),
        proposal_pi=_text(primary, "PI_NAME"),
        observation_title=_text(primary, "TITLE"),
    )
    sensor_info = None
    if ident.data_type in (DataType.SENSOR, DataType.RAW) and sci is not None:
        shape = _hdu_list([sci])[0]["shape"]
        sensor_info = SensorMetadata(
            instrument=instrument,
            data_points=math.prod(shape) if shape else None,
            integration_time=_nonnegative(
                _number(primary.get("EFFINTTM", primary.get("EFFEXPTM")))
            ),
            detector_type=_text(primary, "DETECTOR"),
        )
    return JwstDataModel(
        **_base_record(key, size, ident),
        metadata=metadata,
        image_info=image_info,
        sensor_info=sensor_info,
    )


def _nonnegative(value: float | None) -> float | None:
    return value if value is not None and value >= 0 else None


def record_from_asn(key: str, size: int, asn: Mapping[str, Any]) -> JwstDataModel:
    """A record for an association file from its contents (members, product) (pure)."""
    ident = classify(key)
    products = asn.get("products") or []
    if not isinstance(products, list):
        raise ValueError("'products' is not a list")
    product = products[0] if products and isinstance(products[0], Mapping) else {}
    members = [
        str(m.get("expname"))
        for p in products
        if isinstance(p, Mapping)
        for m in (p.get("members") or [])
        if isinstance(m, Mapping) and m.get("expname")
    ]
    metadata: dict[str, Any] = {
        "source": "scan",
        "asn_type": _plain(asn.get("asn_type")),
        "asn_rule": _plain(asn.get("asn_rule")),
        "asn_id": _plain(asn.get("asn_id")),
        "asn_pool": _plain(asn.get("asn_pool")),
        "asn_product": _plain(product.get("name")),
        "asn_members": members,
    }
    metadata = {k: v for k, v in metadata.items() if v not in (None, "")}
    program = _plain(asn.get("program"))
    image_info = ImageMetadata(proposal_id=_proposal_id(str(program) if program else None))
    return JwstDataModel(**_base_record(key, size, ident), metadata=metadata,
                         image_info=image_info)


def record_from_table_head(key: str, size: int, head: str) -> JwstDataModel:
    """A record for an ECSV/CSV table from the start of its text (column names) (pure)."""
    ident = classify(key)
    columns: list[str] = []
    if ident.file_format == "ecsv" or head.startswith("# %ECSV"):
        columns = re.findall(r"^#\s+-\s+\{name:\s*([^,}]+)", head, flags=re.M)
    else:
        first = next((line for line in head.splitlines() if line.strip()), "")
        columns = [c.strip() for c in first.split(",") if c.strip()][:200]
    metadata = {"source": "scan", "columns": [c.strip().strip("'\"") for c in columns]}
    return JwstDataModel(**_base_record(key, size, ident), metadata=metadata)


def record_from_picture(key: str, size: int, width: int, height: int, mode: str) -> JwstDataModel:
    """A record for a PNG/JPG/TIFF picture (pure)."""
    ident = classify(key)
    metadata = {"source": "scan", "width": width, "height": height, "mode": mode}
    base = _base_record(key, size, ident)
    base["data_type"] = DataType.IMAGE
    base["is_viewable"] = True
    return JwstDataModel(**base, metadata=metadata)


def record_from_file(storage: Storage, key: str, size: int | None = None) -> JwstDataModel:
    """Read what a record needs from one file (headers only for FITS) and build it.

    Raises FitsError (or ValueError) with the reason when the file cannot be read.
    """
    validate_key(key)
    if size is None:
        size = storage.size(key)
    lower = key.lower()
    if lower.endswith((".fits", ".fits.gz", ".fit", ".fts")):
        return record_from_fits(key, size, storage.read_headers(key, size=size))
    if lower.endswith(".json"):
        if size > _MAX_JSON_BYTES:
            raise ValueError(f"{key!r} is too large for a JSON file ({size} bytes)")
        try:
            data = json.loads(storage.read_bytes(key).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{key!r} is not valid JSON: {exc}") from None
        if not isinstance(data, Mapping):
            raise ValueError(f"{key!r} is JSON but not an object")
        return record_from_asn(key, size, data)
    if lower.endswith((".ecsv", ".csv")):
        with storage.open(key) as f:
            head = f.read(_TABLE_HEAD_BYTES)
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = head.decode("utf-8", "ignore")
            if not text.strip():
                raise ValueError(f"{key!r} is not a text table") from None
        return record_from_table_head(key, size, text)
    if lower.endswith((".png", ".jpg", ".jpeg", ".tif", ".tiff")):
        from PIL import Image, UnidentifiedImageError

        try:
            with storage.open(key) as f, Image.open(f) as image:
                width, height = image.size
                mode = image.mode
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise FitsError(f"{key!r} is not a readable image: {exc}") from None
        return record_from_picture(key, size, width, height, mode)
    raise ValueError(f"{key!r}: files of this type are not imported")


# --- the database side ------------------------------------------------------------------------


@contextmanager
def _database(what: str) -> Iterator[None]:
    """pymongo connection errors -> ConnectionFailed with what to do (no password)."""
    from pymongo.errors import ConnectionFailure

    try:
        yield
    except ConnectionFailure as exc:
        reason = type(exc).__name__
        raise ConnectionFailed(
            f"lost the database while {what} ({reason}); the records written so far are "
            "complete and an import is idempotent: run it again when the server is back"
        ) from None


def _comparable(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in _NOT_COMPARED}


def _existing(session: Session, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Stored admin-import records (userId null) by filePath, in chunks."""
    coll = session.collection
    found: dict[str, dict[str, Any]] = {}
    with _database("reading the records already imported"):
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            for doc in coll.find({"userId": None, "filePath": {"$in": chunk}}):
                found[doc["filePath"]] = doc
    return found


def _store(
    session: Session,
    model: JwstDataModel,
    existing: Mapping[str, Any] | None,
    report: ScanReport,
) -> None:
    """Insert or refresh one record; unchanged records are skipped without a write."""
    key = str(model.file_path)
    if existing is not None:
        # Lineage is relink's business: keep the stored links on a refresh. Metadata from
        # the other importer (MAST's ``mast_*`` keys vs. a scan's header keys) is kept, and
        # MAST's image facts do not blank out what a scan read from the headers.
        stored = JwstDataModel.from_document(dict(existing))
        from_mast = model.metadata.get("source") == "mast"
        kept = {
            k: v for k, v in stored.metadata.items()
            if k != "source" and k.startswith("mast_") != from_mast
        }
        image_info = model.image_info
        if from_mast and stored.image_info is not None and image_info is not None:
            image_info = stored.image_info.model_copy(
                update=image_info.model_dump(exclude_none=True)
            )
        model = model.model_copy(update={
            "observation_base_id": existing.get("observationBaseId"),
            "parent_id": existing.get("parentId"),
            "derived_from": list(existing.get("derivedFrom") or []),
            "metadata": {**kept, **model.metadata},
            "image_info": image_info,
            "sensor_info": model.sensor_info or stored.sensor_info,
        })
        new = _comparable(model.to_document())
        old = _comparable(JwstDataModel.from_document(dict(existing)).to_document())
        if new == old:
            report.skipped.append(key)
            return
    with _database(f"importing {key!r}"):
        _rid, created = session.upsert(model)
    (report.imported if created else report.updated).append(key)


def _programs(names: Iterable[str]) -> set[str]:
    return {p for p in (classify(n).program for n in names) if p}


def relink(session: Session, programs: Iterable[str], *, rounds: int = 5) -> int:
    """Recompute lineage for every import record (userId null) of ``programs``.

    Runs :func:`jwstnb.lineage.plan_lineage` over ALL records of each program and writes only
    the records whose ``observationBaseId`` / ``parentId`` / ``derivedFrom`` change, in one
    bulk write, each update guarded by the values it read. It then reads again and repeats
    until nothing changes, so two importers finishing at once still end consistent.
    Returns the number of records changed.
    """
    from bson import ObjectId
    from pymongo import UpdateOne

    from jwstnb.lineage import LineageInput, plan_lineage
    from jwstnb.query import derived_fields, program_filter

    coll = session.collection
    changed = 0
    for program in sorted(set(programs)):
        if not re.fullmatch(r"\d{5}", program):
            continue
        # One index range on keywords (file-name and group words); imports only (userId null)
        # are kept client-side so the server needs no multi-field plan.
        query = program_filter(program)
        for _round in range(rounds):
            with _database(f"reading program {program} for lineage"):
                docs = {
                    str(d["_id"]): d for d in coll.find(query) if d.get("userId") is None
                }
            inputs = []
            for rid, doc in docs.items():
                meta = doc.get("metadata") or {}
                known = group_from_key(doc.get("filePath")) or meta.get("mast_obs_id")
                members = meta.get("asn_members") or ()
                inputs.append(LineageInput(
                    id=rid,
                    file_name=doc["fileName"],
                    known_group=known if isinstance(known, str) else None,
                    asn_members=tuple(str(m) for m in members if isinstance(m, str)),
                    asn_product=meta.get("asn_product") if isinstance(
                        meta.get("asn_product"), str) else None,
                    optics=meta.get("optics") if isinstance(meta.get("optics"), str) else None,
                ))
            plan = plan_lineage(inputs)
            updates = []
            for rid, links in plan.items():
                doc = docs[rid]
                want = {
                    "observationBaseId": links.observation_base_id,
                    "parentId": links.parent_id,
                    "derivedFrom": list(links.derived_from),
                }
                have = {k: doc.get(k) for k in _LINEAGE_FIELDS}
                have["derivedFrom"] = list(have["derivedFrom"] or [])
                if want == have:
                    continue
                changes = dict(want)
                for name, value in derived_fields({**doc, **want}).items():
                    if doc.get(name) != value:
                        changes[name] = value
                guard = {k: doc.get(k) for k in _LINEAGE_FIELDS}
                updates.append(UpdateOne({"_id": ObjectId(rid), **guard}, {"$set": changes}))
            if not updates:
                break
            with _database(f"writing lineage of program {program}"):
                result = coll.bulk_write(updates, ordered=False)
            changed += result.modified_count
        else:
            log.warning("lineage of program %s kept changing; run relink again", program)
    return changed


def read_mast_file(
    path: str | os.PathLike[str],
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Read saved MAST rows as ``(observation_row, product_rows)`` pairs for :func:`import_mast`.

    The file is JSON: ``{"observation": {...}, "products": [...]}`` or a list of those, or
    ``{"observations": [...], "products": [...]}`` (products matched to their observation by
    ``parent_obsid``/``obsID`` or ``obs_id``). A broken file is a ValueError naming it.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: not JSON ({exc})") from None
    pairs: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for item in data if isinstance(data, list) else [data]:
        if not isinstance(item, dict):
            raise ValueError(f"{name}: expected objects with 'observation' and 'products'")
        if "observation" in item:
            pairs.append((dict(item["observation"]), list(item.get("products", []))))
        elif "observations" in item:
            products = list(item.get("products", []))
            for obs in item["observations"]:
                pairs.append((dict(obs), _products_of(obs, products, len(item["observations"]))))
        else:
            raise ValueError(f"{name}: expected keys 'observation' and 'products'")
    return pairs


def _products_of(
    obs: Mapping[str, Any], products: list[dict[str, Any]], n_obs: int
) -> list[dict[str, Any]]:
    if n_obs == 1:
        return products
    oid = str(obs.get("obsid", obs.get("obsID", "")))
    mine = [p for p in products if oid and str(p.get("parent_obsid", p.get("obsID"))) == oid]
    return mine or [p for p in products if p.get("obs_id") == obs.get("obs_id")]


# --- scan ---------------------------------------------------------------------------------------


def _wanted(key: str) -> bool:
    return key.lower().endswith(SCAN_EXTENSIONS)


def _reason(key: str, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    prefix = f"{key!r}"
    for lead in (f"cannot read {prefix} as FITS: ", f"{prefix} "):
        if text.startswith(lead):
            text = text[len(lead):]
    return text


def scan(
    session: Session,
    storage: Storage,
    prefix: str = "",
    *,
    workers: int = 8,
    progress: bool = True,
) -> ScanReport:
    """Import every FITS/JSON/ECSV/CSV/PNG/JPG/TIFF file under ``prefix`` as a record.

    Headers are read concurrently (``workers`` threads); records are upserted by
    (owner, ``filePath``), so a re-scan updates in place and reports unchanged files as
    ``skipped``. A file that cannot be read goes to ``failed`` with the reason and the scan
    goes on. Lineage is then recomputed for every program touched. A lost database raises
    :class:`jwstnb.errors.ConnectionFailed` (nothing is half-written: scan again).
    """
    from tqdm.auto import tqdm

    session.collection  # noqa: B018 - admin only: AccessDenied before any work
    report = ScanReport()
    sizes = storage.sizes(prefix)
    keys = [k for k in sizes if _wanted(k)]
    existing = _existing(session, keys)
    touched: set[str] = set()
    bar = tqdm(total=len(keys), desc="scan", unit="file", disable=not progress, leave=False)
    pool = ThreadPoolExecutor(max_workers=max(1, int(workers)), thread_name_prefix="jwstnb-scan")
    try:
        pending: dict[Future[JwstDataModel], str] = {}
        queue = iter(keys)

        def submit() -> None:
            key = next(queue, None)
            if key is not None:
                pending[pool.submit(record_from_file, storage, key, sizes[key])] = key

        for _ in range(max(1, int(workers)) * 2):
            submit()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f]):
                key = pending.pop(future)
                try:
                    model = future.result()
                except (JwstnbError, ValueError, OSError, UnicodeError) as exc:
                    if isinstance(exc, ConnectionFailed):
                        raise
                    report.failed.append((key, _reason(key, exc)))
                    log.info("scan: %s failed: %s", key, exc)
                else:
                    _store(session, model, existing.get(key), report)
                    touched.add(model.file_name)
                bar.update(1)
                submit()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    report.relinked = relink(session, _programs(touched))
    return report


# --- MAST ---------------------------------------------------------------------------------------


def _row_items(row: Mapping[str, Any] | Any) -> dict[str, Any]:
    """A MAST row (dict, astropy Row, pandas Series) as {column: plain value}."""
    if hasattr(row, "colnames"):  # astropy Row
        items = {name: row[name] for name in row.colnames}
    elif hasattr(row, "items"):
        items = dict(row.items())
    else:
        items = dict(row)
    return {str(k): _plain(v) for k, v in items.items()}


def _mast_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _wavelength(value: Any) -> WavelengthRange | None:
    text = str(value or "").strip().upper()
    aliases = {"IR": "INFRARED", "INFRARED": "INFRARED", "OPTICAL": "OPTICAL", "UV": "UV"}
    name = aliases.get(text)
    return WavelengthRange(name) if name else None


def _mast_filter(filters: Any) -> str | None:
    parts = [p.strip() for p in str(filters or "").split(";") if p.strip()]
    useful = [p for p in parts if p.upper() not in _NEUTRAL]
    return (useful or parts or [None])[0]


def mast_record(
    observation: Mapping[str, Any], product: Mapping[str, Any], size: int | None = None
) -> JwstDataModel:
    """The record of one MAST product file (pure): key ``mast/{obs_id}/{productFilename}``.

    Every non-null column becomes metadata: the observation row's as ``mast_<column>``, the
    product row's as ``mast_product_<column>``. ImageMetadata comes from the observation row
    (MJD dates, wavelength_region, calib_level, proposal id/PI, title).
    """
    obs = observation
    filename = str(product.get("productFilename") or "").strip()
    if not filename:
        raise ValueError("the product row has no productFilename")
    obs_id = str(obs.get("obs_id") or product.get("obs_id") or "").strip()
    if not obs_id:
        raise ValueError(f"no obs_id for {filename!r}")
    key = join_key("mast", obs_id, filename)
    ident = classify(filename)
    metadata: dict[str, Any] = {"source": "mast"}
    for column, value in obs.items():
        if value is not None:
            metadata[f"mast_{_mast_key(column)}"] = value
    for column, value in product.items():
        if value is not None:
            metadata[f"mast_product_{_mast_key(column)}"] = value
    instrument = str(obs.get("instrument_name") or "").split("/")[0].strip() or None
    level = product.get("calib_level", obs.get("calib_level"))
    try:
        calib = int(level) if level is not None else None
    except (TypeError, ValueError):
        calib = None
    if calib is not None and not 0 <= calib <= 4:
        calib = None
    proposal = obs.get("proposal_id")
    exptime = _number(obs.get("t_exptime"))
    image_info = ImageMetadata(
        target_name=_opt_text(obs.get("target_name")),
        instrument=instrument,
        filter=_mast_filter(obs.get("filters")),
        exposure_time=_nonnegative(exptime),
        observation_date=mjd_to_datetime(_number(obs.get("t_min"))),
        coordinate_system="ICRS" if obs.get("s_ra") is not None else None,
        wcs=_mast_wcs(obs),
        wavelength_range=_wavelength(obs.get("wavelength_region")),
        calibration_level=calib,
        proposal_id=_opt_text(proposal),
        proposal_pi=_opt_text(obs.get("proposal_pi")),
        observation_title=_opt_text(obs.get("obs_title")),
    )
    if size is None:
        size = int(_number(product.get("size")) or 0)
    base = _base_record(key, max(0, int(size)), ident)
    return JwstDataModel(**base, metadata=metadata, image_info=image_info)


def _opt_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _mast_wcs(obs: Mapping[str, Any]) -> dict[str, Any] | None:
    ra, dec = _number(obs.get("s_ra")), _number(obs.get("s_dec"))
    if ra is None or dec is None:
        return None
    out: dict[str, Any] = {"center": [ra, dec], "radesys": "ICRS"}
    if obs.get("s_region"):
        out["s_region"] = str(obs["s_region"])
    return out


def import_mast(
    session: Session,
    observation_row: Mapping[str, Any] | Any,
    product_rows: Iterable[Mapping[str, Any] | Any],
    storage: Storage | None = None,
) -> ImportReport:
    """One record per MAST product file, at ``mast/{obs_id}/{productFilename}``.

    ``observation_row`` / ``product_rows`` are astroquery rows (dicts, astropy Rows or
    pandas Series). Sizes come from the rows, else from ``storage`` when given; association
    files found in ``storage`` contribute their members to lineage. Re-importing updates the
    same records in place. The obs_id names the lineage group.
    """
    session.collection  # noqa: B018 - admin only: AccessDenied before any work
    obs = _row_items(observation_row)
    products = [_row_items(p) for p in product_rows]
    report = ImportReport()
    models: list[JwstDataModel] = []
    for product in products:
        label = str(product.get("productFilename") or "?")
        try:
            size = None
            if product.get("size") in (None, "") and storage is not None:
                key = join_key("mast", str(obs.get("obs_id") or ""), label)
                size = storage.size(key) if storage.exists(key) else None
            model = mast_record(obs, product, size=size)
            if storage is not None and model.file_name.lower().endswith("_asn.json"):
                model = _with_asn(storage, model)
        except (JwstnbError, ValueError, OSError) as exc:
            if isinstance(exc, ConnectionFailed):
                raise
            report.failed.append((label, str(exc)))
            continue
        models.append(model)
    keys = [str(m.file_path) for m in models]
    existing = _existing(session, keys)
    for model in models:
        _store(session, model, existing.get(str(model.file_path)), report)
    report.relinked = relink(session, _programs(m.file_name for m in models))
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
