"""Records as an IVOA ObsCore 1.1 table: the columns every VO tool understands, then ours.

:func:`table` turns records (:class:`jwstnb.schema.JwstDataModel`) into an astropy Table
whose first columns are the ObsCore 1.1 ones (names, units, UCDs and utypes as the standard
gives them, held in each column's ``meta``), followed by jwstnb's own columns (record id,
file name, storage key, level, status, group...). TOPCAT, Aladin and pyvo read such a table
as they read an ObsTAP answer. Pure: no I/O; where the files are downloaded from comes from
the ``access_url`` argument (a Storage, or any callable the session or service passes).

Mapping (see the design notes, section 11): ``obs_id`` is MAST's observation id when the
record came from MAST, else its group (``observationBaseId``), else the file's product name;
``calib_level`` L1 1, L2a/L2b 2, L3 3; ``t_min``/``t_max`` MJD (MAST's when known, else the
observation date plus the exposure time); ``em_min``/``em_max`` in metres from the filter or
grating band (:func:`jwstnb.naming.band`); ``access_estsize`` in kbyte;
``obs_publisher_did`` ``ivo://{authority}/{record id}`` with the configured authority
(:func:`jwstnb.config.publisher_authority`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from astropy.table import Table

    from jwstnb.naming import FileIdentity
    from jwstnb.schema import JwstDataModel

__all__ = [
    "JWSTNB_COLUMNS",
    "OBSCORE_COLUMNS",
    "ObsCoreColumn",
    "access_format",
    "calib_level",
    "dataproduct_type",
    "obs_id",
    "publisher_did",
    "table",
]


@dataclass(frozen=True)
class ObsCoreColumn:
    """One ObsCore column: its name, unit (None: dimensionless), UCD, utype, kind of value
    (``"str"``, ``"int"``, ``"float"``) and description."""

    name: str
    unit: str | None
    ucd: str
    utype: str
    kind: str
    description: str


_C = ObsCoreColumn
#: The ObsCore 1.1 columns jwstnb fills, in the standard's order of its mandatory fields.
OBSCORE_COLUMNS: tuple[ObsCoreColumn, ...] = (
    _C("dataproduct_type", None, "meta.code.class", "obscore:ObsDataset.dataProductType",
       "str", "Data product type: image, cube, spectrum, timeseries or measurements"),
    _C("calib_level", None, "meta.code;obs.calib", "obscore:ObsDataset.calibLevel", "int",
       "Calibration level: 1 raw, 2 calibrated exposure, 3 combined product"),
    _C("obs_collection", None, "meta.id", "obscore:DataID.Collection", "str",
       "Name of the data collection"),
    _C("obs_id", None, "meta.id", "obscore:DataID.observationID", "str",
       "Observation identifier"),
    _C("obs_publisher_did", None, "meta.ref.ivoid", "obscore:Curation.PublisherDID", "str",
       "IVOA dataset identifier given by the publisher"),
    _C("access_url", None, "meta.ref.url", "obscore:Access.Reference", "str",
       "URL to download the file"),
    _C("access_format", None, "meta.code.mime", "obscore:Access.Format", "str",
       "Content type of the file"),
    _C("access_estsize", "kbyte", "phys.size;meta.file", "obscore:Access.Size", "int",
       "Estimated size of the file"),
    _C("target_name", None, "meta.id;src", "obscore:Target.Name", "str",
       "Name of the target of the observation"),
    _C("s_ra", "deg", "pos.eq.ra",
       "obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1", "float",
       "Right ascension of the centre (ICRS)"),
    _C("s_dec", "deg", "pos.eq.dec",
       "obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2", "float",
       "Declination of the centre (ICRS)"),
    _C("s_fov", "deg", "phys.angSize;instr.fov",
       "obscore:Char.SpatialAxis.Coverage.Bounds.Extent.diameter", "float",
       "Diameter of a circle holding the region covered"),
    _C("s_region", None, "pos.outline;obs.field",
       "obscore:Char.SpatialAxis.Coverage.Support.Area", "str",
       "Region covered, as STC-S (ICRS)"),
    _C("t_min", "d", "time.start;obs.exposure",
       "obscore:Char.TimeAxis.Coverage.Bounds.Limits.StartTime", "float",
       "Start time of the observation (MJD)"),
    _C("t_max", "d", "time.end;obs.exposure",
       "obscore:Char.TimeAxis.Coverage.Bounds.Limits.StopTime", "float",
       "End time of the observation (MJD)"),
    _C("t_exptime", "s", "time.duration;obs.exposure",
       "obscore:Char.TimeAxis.Coverage.Support.Extent", "float", "Exposure time"),
    _C("em_min", "m", "em.wl;stat.min", "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit",
       "float", "Shortest wavelength of the filter or grating band"),
    _C("em_max", "m", "em.wl;stat.max", "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit",
       "float", "Longest wavelength of the filter or grating band"),
    _C("facility_name", None, "meta.id;instr.tel", "obscore:Provenance.ObsConfig.Facility.name",
       "str", "Telescope"),
    _C("instrument_name", None, "meta.id;instr", "obscore:Provenance.ObsConfig.Instrument.name",
       "str", "Instrument"),
)

#: jwstnb's own columns, after the ObsCore ones: (name, unit, UCD, description).
JWSTNB_COLUMNS: tuple[tuple[str, str | None, str, str], ...] = (
    ("id", None, "meta.id;meta.main", "jwstnb record id"),
    ("file_name", None, "meta.id;meta.file", "File name"),
    ("file_path", None, "meta.ref;meta.file", "Storage key of the file"),
    ("data_type", None, "meta.code.class", "jwstnb data type"),
    ("processing_level", None, "meta.code;obs.calib", "Pipeline stage (L1, L2a, L2b, L3)"),
    ("status", None, "meta.code.status", "Processing status"),
    ("observation_base_id", None, "meta.id;obs", "Observation group key"),
    ("filter", None, "instr.filter", "Filter or optical elements"),
    ("proposal_id", None, "meta.id;obs.proposal", "Proposal (program) id"),
    ("upload_date", None, "time.creation;meta.file", "When the record was added (ISO, UTC)"),
)

COLLECTION = "JWST"
FACILITY = "JWST"

_SUFFIX_TYPES = {
    "s3d": "cube",
    "x1d": "spectrum", "c1d": "spectrum", "s2d": "spectrum",
    "x1dints": "timeseries", "whtlt": "timeseries",
    "cat": "measurements", "phot": "measurements", "ami-oi": "measurements",
    "amimulti-oi": "measurements", "aminorm-oi": "measurements",
}
_DATA_TYPES = {"image": "image", "sensor": "image", "raw": "image", "spectral": "spectrum",
               "metadata": "measurements"}
_FORMATS = {
    "fits": "application/fits", "asdf": "application/asdf", "json": "application/json",
    "csv": "text/csv", "ecsv": "text/x-ecsv", "png": "image/png", "jpg": "image/jpeg",
    "tiff": "image/tiff",
}
_LEVELS = {"L1": 1, "L2a": 2, "L2b": 2, "L3": 3}

AccessUrl = Callable[["JwstDataModel"], "str | None"]


def _value(enum_or_text: Any) -> str:
    return str(getattr(enum_or_text, "value", enum_or_text) or "")


def _ident(record: JwstDataModel, ident: FileIdentity | None) -> FileIdentity:
    from jwstnb.naming import classify

    return ident if ident is not None else classify(record.file_name)


def dataproduct_type(record: JwstDataModel, ident: FileIdentity | None = None) -> str | None:
    """ObsCore's ``dataproduct_type`` from the file's suffix (``naming``), else its data type."""
    ident = _ident(record, ident)
    if ident.suffix in _SUFFIX_TYPES:
        return _SUFFIX_TYPES[ident.suffix]
    return _DATA_TYPES.get(_value(record.data_type))


def calib_level(record: JwstDataModel) -> int | None:
    """1 for L1, 2 for L2a/L2b, 3 for L3; else the stored calibration level, or None."""
    level = _LEVELS.get(_value(record.processing_level))
    if level is None and record.image_info is not None:
        level = record.image_info.calibration_level
    return level


def obs_id(record: JwstDataModel, ident: FileIdentity | None = None) -> str:
    """MAST's observation id, else the record's group key, else the file's product name."""
    mast = record.metadata.get("mast_obs_id")
    if isinstance(mast, str) and mast.strip():
        return mast.strip()
    if record.observation_base_id:
        return record.observation_base_id
    ident = _ident(record, ident)
    return ident.product or ident.stem


def access_format(record: JwstDataModel, ident: FileIdentity | None = None) -> str:
    """The MIME type of the file (``application/fits`` for FITS)."""
    fmt = _ident(record, ident).file_format
    return _FORMATS.get(fmt, _FORMATS.get(record.file_format, "application/octet-stream"))


def publisher_did(record: JwstDataModel, authority: str) -> str:
    """``ivo://{authority}/{record id}`` (empty for a record not stored yet)."""
    return f"ivo://{authority}/{record.id}" if record.id is not None else ""


def _access_url(source: Any) -> AccessUrl:
    """A function record -> URL from a Storage (its redacted full URL), a callable, or None
    (MAST's public cloud URI where the record has one)."""
    if source is None:
        return lambda r: str(r.metadata.get("cloud_uri") or "") or None
    if callable(source):
        return source  # type: ignore[no-any-return]
    full_url = getattr(source, "full_url", None)
    if callable(full_url):

        def from_storage(record: JwstDataModel) -> str | None:
            if not record.file_path:
                return None
            try:
                return str(full_url(record.file_path))
            except Exception:  # a key no mount holds: the public copy, if any
                return str(record.metadata.get("cloud_uri") or "") or None

        return from_storage
    from jwstnb.errors import invalid

    raise invalid("access_url", "give a Storage, a function record -> URL, or None",
                  repr(source))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


_MJD_ZERO = datetime(1858, 11, 17, tzinfo=UTC)


def _mjd(value: datetime | None) -> float | None:
    """The MJD (UTC) of an aware datetime: days since 1858-11-17T00:00Z."""
    if value is None:
        return None
    when = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (when - _MJD_ZERO).total_seconds() / 86400.0


def _times(record: JwstDataModel) -> tuple[float | None, float | None]:
    info = record.image_info
    t_min = _number(record.metadata.get("mast_t_min"))
    t_max = _number(record.metadata.get("mast_t_max"))
    if t_min is None and info is not None:
        t_min = _mjd(info.observation_date)
    if t_max is None and t_min is not None and info is not None and info.exposure_time:
        t_max = t_min + float(info.exposure_time) / 86400.0
    return t_min, t_max


def _band(record: JwstDataModel, ident: FileIdentity) -> tuple[float, float] | None:
    from jwstnb.naming import band

    info = record.image_info
    instrument = (info.instrument if info else None) or (
        record.sensor_info.instrument if record.sensor_info else None)
    instrument = (instrument or "").split("/")[0].strip().lower() or None
    for optics in (info.filter if info else None, record.metadata.get("optics"),
                   ident.optics):
        if isinstance(optics, str) and (found := band(optics, instrument)) is not None:
            return found
    return None


def _fov(footprint: str | None, cache: dict[str, float | None]) -> float | None:
    """The diameter (degrees) of a circle around the footprint; None if it cannot be read."""
    if not footprint:
        return None
    if footprint not in cache:
        from jwstnb import sky

        try:
            cache[footprint] = _diameter(sky.parse_stcs(footprint))
        except (ValueError, TypeError, ArithmeticError):
            cache[footprint] = None
    return cache[footprint]


def _diameter(footprint: Any) -> float:
    """Twice the largest distance (degrees) of the footprint's vertices and circle edges from
    its centre: the diameter of a circle around it (numpy, no per-point astropy calls)."""
    import numpy as np

    def unit(ra: Any, dec: Any) -> Any:
        ra_r, dec_r = np.radians(ra), np.radians(dec)
        return np.stack([np.cos(dec_r) * np.cos(ra_r), np.cos(dec_r) * np.sin(ra_r),
                         np.sin(dec_r)], axis=-1)

    centre = unit(*footprint.centre)
    radius = 0.0
    vertices = [v for ring in footprint.polygons for v in ring]
    if vertices:
        xyz = unit(np.array([v[0] for v in vertices]), np.array([v[1] for v in vertices]))
        radius = float(np.degrees(np.arccos(np.clip(xyz @ centre, -1.0, 1.0))).max())
    for ra, dec, r in footprint.circles:
        sep = float(np.degrees(np.arccos(np.clip(unit(ra, dec) @ centre, -1.0, 1.0))))
        radius = max(radius, sep + r)
    return round(2.0 * radius, 9)


def _row(record: JwstDataModel, url: AccessUrl, authority: str,
         cache: dict[str, float | None]) -> dict[str, Any]:
    from jwstnb.naming import classify

    info = record.image_info
    ident = classify(record.file_name)
    t_min, t_max = _times(record)
    band = _band(record, ident)
    instrument = (info.instrument if info else None) or (
        record.sensor_info.instrument if record.sensor_info else None)
    size = record.file_size
    return {
        "dataproduct_type": dataproduct_type(record, ident),
        "calib_level": calib_level(record),
        "obs_collection": COLLECTION,
        "obs_id": obs_id(record, ident),
        "obs_publisher_did": publisher_did(record, authority),
        "access_url": url(record),
        "access_format": access_format(record, ident),
        "access_estsize": math.ceil(size / 1000) if size else None,
        "target_name": info.target_name if info else None,
        "s_ra": info.ra if info else None,
        "s_dec": info.dec if info else None,
        "s_fov": _fov(info.footprint if info else None, cache),
        "s_region": info.footprint if info else None,
        "t_min": t_min,
        "t_max": t_max,
        "t_exptime": (info.exposure_time if info else None) or (
            record.sensor_info.integration_time if record.sensor_info else None),
        "em_min": band[0] * 1e-6 if band else None,
        "em_max": band[1] * 1e-6 if band else None,
        "facility_name": FACILITY,
        "instrument_name": instrument,
        "id": str(record.id) if record.id is not None else "",
        "file_name": record.file_name,
        "file_path": record.file_path or "",
        "data_type": _value(record.data_type),
        "processing_level": _value(record.processing_level),
        "status": _value(record.processing_status),
        "observation_base_id": record.observation_base_id or "",
        "filter": (info.filter if info else None) or "",
        "proposal_id": (info.proposal_id if info else None) or "",
        "upload_date": record.upload_date.isoformat() if record.upload_date else "",
    }


def _column(name: str, values: list[Any], kind: str, unit: str | None, meta: dict[str, str],
            description: str) -> Any:
    import numpy as np
    from astropy.table import MaskedColumn

    missing = np.array([v is None or v == "" for v in values], dtype=bool)
    if kind == "float":
        data: Any = np.array([math.nan if v is None else float(v) for v in values], dtype=float)
    elif kind == "int":
        data = np.array([0 if v is None else int(v) for v in values], dtype=np.int64)
    else:
        data = np.array(["" if v is None else str(v) for v in values], dtype=str)
        if not len(values):
            data = np.array([], dtype="U1")
    return MaskedColumn(data, name=name, mask=missing, unit=unit, meta=dict(meta),
                        description=description)


def table(
    records: Iterable[JwstDataModel],
    *,
    access_url: Any = None,
    authority: str | None = None,
) -> Table:
    """The records as an ObsCore 1.1 table (then jwstnb's columns); see the module notes.

    ``access_url``: a :class:`jwstnb.Storage` (the file's URL in its mount, credentials
    redacted), a function ``record -> URL or None`` (e.g. the service's signed URLs), or None
    (MAST's public cloud URI where known). ``authority`` overrides the configured IVOA
    authority of ``obs_publisher_did``. Unknown values are masked, never made up. Each
    column's ``meta`` holds its ``ucd`` and ``utype``; the table's ``meta`` names the model.
    """
    from astropy.table import Table

    from jwstnb.config import publisher_authority

    records = list(records)
    url = _access_url(access_url)
    authority = authority or publisher_authority()
    cache: dict[str, float | None] = {}
    rows = [_row(r, url, authority, cache) for r in records]
    out = Table(meta={"model": "ivo://ivoa.net/std/ObsCore#core-1.1", "collection": COLLECTION})
    for col in OBSCORE_COLUMNS:
        out.add_column(_column(col.name, [r[col.name] for r in rows], col.kind, col.unit,
                               {"ucd": col.ucd, "utype": col.utype}, col.description))
    for name, unit, ucd, description in JWSTNB_COLUMNS:
        out.add_column(_column(name, [r[name] for r in rows], "str", unit, {"ucd": ucd},
                               description))
    return out


def column_names() -> Sequence[str]:
    """Every column :func:`table` writes, in order."""
    return [c.name for c in OBSCORE_COLUMNS] + [c[0] for c in JWSTNB_COLUMNS]
