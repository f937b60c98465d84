"""File headers, association files, table heads, pictures, asdf trees and MAST rows -> records.

Every function here builds a :class:`jwstnb.schema.JwstDataModel` from what a reader already
has in memory (FITS headers, an asn.json mapping, the first bytes of a table, the ``meta`` of
an asdf tree, MAST observation/product rows); none of them touches storage, the network or the
database. :mod:`jwstnb.ingest` reads the bytes and stores the records; tests call these
directly. What a file *is* (level, data type, ids, group) comes from :mod:`jwstnb.naming`.

The sky (``imageInfo.ra``/``dec``/``footprint``) comes from the first source that knows it, in
the order of :data:`SKY_SOURCES`: the file's ``S_REGION`` keyword, the MAST observation row
(``s_ra``/``s_dec``/``s_region``), the WCS of the science extension (its corners), and the
pointing keywords (centre only). :func:`refresh` is the one rule for a record read again:
what the new read knows replaces what it knew, the better sky source wins, and lineage is
kept (and, for records made by processing, their level, type and owner too).
"""

from __future__ import annotations

import math
import re
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from jwstnb.errors import FitsError, invalid
from jwstnb.keys import join_key
from jwstnb.naming import FileIdentity, classify, group_from_obs_id
from jwstnb.schema import (
    Calibration,
    DataType,
    ImageMetadata,
    JwstDataModel,
    ProcessingLevel,
    SensorMetadata,
    WavelengthRange,
    mjd_to_datetime,
)

if TYPE_CHECKING:
    from jwstnb.sky import Footprint

__all__ = [
    "PROCESSING_KEEPS",
    "SKY_SOURCES",
    "HeaderLike",
    "SkyPosition",
    "asdf_header",
    "asn_contents",
    "calibration_from_header",
    "calibration_from_mast",
    "mast_pairs",
    "mast_record",
    "observation_datetime",
    "record_from_asdf",
    "record_from_asn",
    "record_from_fits",
    "record_from_picture",
    "record_from_table_head",
    "refresh",
    "row_items",
    "sky_from_headers",
    "sky_from_mast",
    "wcs_summary",
]


class HeaderLike(Protocol):
    """What the builders read from a header: an astropy ``Header`` or a plain mapping."""

    def __contains__(self, key: Any, /) -> bool: ...

    def __getitem__(self, key: Any, /) -> Any: ...

    def get(self, key: Any, default: Any = ..., /) -> Any: ...


#: Where a record's position came from, best first (DESIGN: the sky).
SKY_SOURCES: Final = ("s_region", "mast", "wcs", "pointing")

_PRIMARY_KEYWORDS = (
    "TELESCOP", "INSTRUME", "DETECTOR", "MODULE", "CHANNEL", "FILTER", "PUPIL", "GRATING",
    "FXD_SLIT", "EXP_TYPE", "DATAMODL", "FILETYPE", "PROGRAM", "OBSERVTN", "VISIT",
    "VISIT_ID", "EXPOSURE", "OBS_ID", "TARGNAME", "TARGPROP", "TARG_RA", "TARG_DEC",
    "DATE-OBS", "TIME-OBS", "EXPSTART", "EXPEND", "EFFEXPTM", "NINTS", "NGROUPS",
    "TITLE", "PI_NAME", "CAL_VER", "SYNTHETC",
)
# What a CRDS reference file says about itself (FITS primary keywords / asdf meta).
_CRDS_KEYWORDS = {
    "REFTYPE": "reftype", "INSTRUME": "instrument", "DETECTOR": "detector",
    "PEDIGREE": "pedigree", "USEAFTER": "useafter", "AUTHOR": "author",
    "DESCRIP": "description",
}
# FITS keyword -> path in the ``meta`` tree of a JWST datamodel or CRDS asdf file (the
# keyword <-> attribute pairs of the stdatamodels schemas), so one builder serves both.
_ASDF_PATHS: dict[str, tuple[str, ...]] = {
    "TELESCOP": ("telescope",),
    "INSTRUME": ("instrument", "name"),
    "DETECTOR": ("instrument", "detector"),
    "MODULE": ("instrument", "module"),
    "CHANNEL": ("instrument", "channel"),
    "FILTER": ("instrument", "filter"),
    "PUPIL": ("instrument", "pupil"),
    "GRATING": ("instrument", "grating"),
    "FXD_SLIT": ("instrument", "fixed_slit"),
    "EXP_TYPE": ("exposure", "type"),
    "DATAMODL": ("model_type",),
    "FILETYPE": ("filetype",),
    "PROGRAM": ("observation", "program_number"),
    "OBSERVTN": ("observation", "observation_number"),
    "VISIT": ("observation", "visit_number"),
    "VISIT_ID": ("observation", "visit_id"),
    "EXPOSURE": ("observation", "exposure_number"),
    "OBS_ID": ("observation", "obs_id"),
    "TARGNAME": ("target", "catalog_name"),
    "TARGPROP": ("target", "proposer_name"),
    "TARG_RA": ("target", "ra"),
    "TARG_DEC": ("target", "dec"),
    "DATE-OBS": ("observation", "date"),
    "TIME-OBS": ("observation", "time"),
    "EXPSTART": ("exposure", "start_time"),
    "EXPEND": ("exposure", "end_time"),
    "EFFEXPTM": ("exposure", "effective_exposure_time"),
    "EFFINTTM": ("exposure", "integration_time"),
    "NINTS": ("exposure", "nints"),
    "NGROUPS": ("exposure", "ngroups"),
    "TITLE": ("program", "title"),
    "PI_NAME": ("program", "pi_name"),
    "CAL_VER": ("calibration_software_version",),
    "CRDS_VER": ("ref_file", "crds", "sw_version"),
    "CRDS_CTX": ("ref_file", "crds", "context_used"),
    "S_REGION": ("wcsinfo", "s_region"),
    "RA_REF": ("wcsinfo", "ra_ref"),
    "DEC_REF": ("wcsinfo", "dec_ref"),
    "ROLL_REF": ("wcsinfo", "roll_ref"),
    "RA_V1": ("pointing", "ra_v1"),
    "DEC_V1": ("pointing", "dec_v1"),
    "PA_V3": ("pointing", "pa_v3"),
    "REFTYPE": ("reftype",),
    "PEDIGREE": ("pedigree",),
    "USEAFTER": ("useafter",),
    "AUTHOR": ("author",),
    "DESCRIP": ("description",),
}
_NEUTRAL = {"", "CLEAR", "CLEARP", "NONE", "N/A", "OPAQUE"}
# The R_* keyword of each reference type, as the pipeline's datamodels name them
# (``meta.ref_file.<reftype>.name`` <-> keyword); an R_* keyword not listed here gives its
# own name in lower case (``R_NEWTYP`` -> ``newtyp``).
_REFERENCE_KEYWORDS: dict[str, str] = {
    "R_AREA": "area", "R_BARSHA": "barshadow", "R_BKG": "bkg", "R_CAMERA": "camera",
    "R_CHRCOR": "chromcorr", "R_COLLIM": "collimator", "R_CUBPAR": "cubepar", "R_DARK": "dark",
    "R_DFLAT": "dflat", "R_DISPER": "disperser", "R_DISTOR": "distortion",
    "R_EXTR1D": "extract1d", "R_FFLAT": "fflat", "R_FILOFF": "filteroffset", "R_FLAT": "flat",
    "R_FORE": "fore", "R_FPA": "fpa", "R_FRIFRQ": "fringefreq", "R_FRINGE": "fringe",
    "R_GAIN": "gain", "R_IFUFOR": "ifufore", "R_IFUPOS": "ifupost", "R_IFUSLI": "ifuslicer",
    "R_IPC": "ipc", "R_LASTFR": "lastframe", "R_LINEAR": "linearity", "R_MASK": "mask",
    "R_MIREMI": "emicorr", "R_MRSPT": "mrsptcorr", "R_MRSXAR": "mrsxartcorr", "R_MSA": "msa",
    "R_MSAOPE": "badshutter", "R_NRM": "nrm", "R_OTE": "ote", "R_PERSAT": "persat",
    "R_PHOTOM": "photom", "R_PSFMAS": "psfmask", "R_PSTSOS": "pastasoss",
    "R_PTHLOS": "pathloss", "R_READNO": "readnoise", "R_REFPIX": "refpix",
    "R_REGION": "regions", "R_RESAMP": "resample", "R_RESET": "reset", "R_RESOL": "resolution",
    "R_RSCD": "rscd", "R_SATURA": "saturation", "R_SFLAT": "sflat", "R_SIRSKL": "sirskernel",
    "R_SPCWCS": "specwcs", "R_SPKERN": "speckernel", "R_SPPROF": "specprofile",
    "R_SPTRAC": "spectrace", "R_STRAY": "straylight", "R_SUPERB": "superbias",
    "R_THRPUT": "throughput", "R_TRPDEN": "trapdensity", "R_TRPPAR": "trappars",
    "R_TSPHOT": "tso_photometry", "R_V2V3": "v2v3", "R_WAVCOR": "wavecorr",
    "R_WAVMAP": "wavemap", "R_WAVRAN": "wavelengthrange",
}
_KEYWORD_OF_REFTYPE = {reftype: keyword for keyword, reftype in _REFERENCE_KEYWORDS.items()}
# A reference type as the stored key: lower case, digits, ``-``/``_`` (a MongoDB field name).
_REFTYPE_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# "no reference file was used" as the pipeline writes it
_NO_REFERENCE = frozenset({"", "N/A", "NA", "NONE", "UNDEFINED"})
_CALIBRATION_KEYWORDS = frozenset({"CAL_VER", "CRDS_VER", "CRDS_CTX", "CRDS_CONTEXT"})

_LEVEL_NUMBER = {
    ProcessingLevel.L1: 1,
    ProcessingLevel.L2A: 2,
    ProcessingLevel.L2B: 2,
    ProcessingLevel.L3: 3,
}
_SKY_FIELDS = ("ra", "dec", "footprint")
_MAX_FOOTPRINT = 20000
# Fields a record's lineage consists of: relink (or processing) owns them, never a re-read.
_LINEAGE = ("observation_base_id", "parent_id", "derived_from", "derived_roles")
#: What a record made by processing keeps when its file is read again (attribute names).
PROCESSING_KEEPS: Final = (
    "processing_level", "data_type", "observation_base_id", "exposure_id", "parent_id",
    "derived_from", "derived_roles", "user_id",
)


# --- plain values -------------------------------------------------------------------------------


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


def _opt_text(value: Any) -> str | None:
    value = _plain(value)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _text(header: HeaderLike, name: str) -> str | None:
    return _opt_text(header.get(name))


def _number(value: Any) -> float | None:
    value = _plain(value)
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _nonnegative(value: float | None) -> float | None:
    return value if value is not None and value >= 0 else None


def observation_datetime(header: HeaderLike) -> datetime | None:
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


# --- the sky ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SkyPosition:
    """A centre (degrees ICRS, RA in [0, 360)), an optional STC-S footprint, and its source."""

    ra: float
    dec: float
    footprint: str | None
    source: str

    def fields(self) -> dict[str, Any]:
        """The ``ImageMetadata`` fields this position fills."""
        return {"ra": self.ra, "dec": self.dec, "footprint": self.footprint}


def _position(
    ra: float | None, dec: float | None, footprint: str | None, source: str
) -> SkyPosition | None:
    """A checked position: RA wrapped into [0, 360), Dec within the poles, else None."""
    if ra is None or dec is None or not -90.0 <= dec <= 90.0:
        return None
    ra = ra % 360.0
    if ra >= 360.0:  # -1e-17 % 360 rounds to 360.0
        ra = 0.0
    return SkyPosition(ra=ra, dec=dec, footprint=footprint, source=source)


def _parse_region(text: str | None) -> Footprint | None:
    """An STC-S region as a footprint, or None when it is empty or cannot be read."""
    if not text or len(text) > _MAX_FOOTPRINT:
        return None
    from jwstnb.sky import read_footprint

    return read_footprint(text)  # a broken region falls through to the next source


def _from_region(text: str | None, source: str) -> SkyPosition | None:
    footprint = _parse_region(text)
    if footprint is None or text is None:
        return None
    return _position(*footprint.centre, text.strip(), source)


def sky_from_mast(observation: Mapping[str, Any]) -> SkyPosition | None:
    """The position a MAST observation row gives: ``s_ra``/``s_dec`` and ``s_region`` as MAST
    wrote it (kept only when it parses); the region's centre when the row has no s_ra/s_dec."""
    region = _opt_text(observation.get("s_region"))
    footprint = _parse_region(region)
    kept = region if footprint is not None else None
    ra, dec = _number(observation.get("s_ra")), _number(observation.get("s_dec"))
    if (ra is None or dec is None) and footprint is not None:
        ra, dec = footprint.centre
    return _position(ra, dec, kept, "mast")


#: "Build the WCS from the header" (a caller that built it passes it, None included).
_BUILD: Any = object()


def _celestial(header: HeaderLike, wcs: Any) -> Any:
    """``wcs`` when given, else the header's celestial WCS (astropy's WCS is the slow part of
    a record: one per file)."""
    if wcs is not _BUILD:
        return wcs
    from jwstnb.imaging import celestial_wcs

    return celestial_wcs(header)


def _from_wcs(sci: HeaderLike | None, wcs: Any = _BUILD) -> SkyPosition | None:
    if sci is None:
        return None
    wcs = _celestial(sci, wcs)
    if wcs is None:
        return None
    from jwstnb.sky import footprint_from_wcs

    shape = (int(sci.get("NAXIS2", 0) or 0), int(sci.get("NAXIS1", 0) or 0))
    if min(shape) <= 0:
        return None
    try:
        footprint = footprint_from_wcs(wcs, shape)
    except ValueError:  # a WCS that does not map its corners onto the sky
        return None
    return _position(*footprint.centre, footprint.to_stcs(), "wcs")


def _from_pointing(header: HeaderLike) -> SkyPosition | None:
    from jwstnb.sky import centre_from_pointing

    centre = centre_from_pointing(header)  # type: ignore[arg-type]  # a Header is enough
    return None if centre is None else _position(*centre, None, "pointing")


def sky_from_headers(
    primary: HeaderLike, sci: HeaderLike | None = None, *, wcs: Any = _BUILD
) -> SkyPosition | None:
    """The position a file's headers give: ``S_REGION`` (science extension, then primary),
    else the science WCS's corners, else the pointing keywords (centre only); None if none.
    ``wcs`` is the science header's celestial WCS when the caller built it already."""
    for header in (sci, primary):
        if header is not None:
            found = _from_region(_text(header, "S_REGION"), "s_region")
            if found is not None:
                return found
    pointing: HeaderLike = primary if sci is None else ChainMap(sci, primary)  # type: ignore[arg-type]
    return _from_wcs(sci, wcs) or _from_pointing(pointing)


def _sky_rank(source: Any) -> int:
    return SKY_SOURCES.index(source) if source in SKY_SOURCES else len(SKY_SOURCES)


# --- FITS and asdf ------------------------------------------------------------------------------


def _optics(primary: HeaderLike) -> str | None:
    """``clear-f090w`` style optics from FILTER/PUPIL/GRATING (as MAST obs ids spell them)."""
    parts = [_text(primary, k) for k in ("PUPIL", "FILTER", "GRATING")]
    present = [p.lower() for p in parts if p and p.upper() not in ("N/A",)]
    return "-".join(present) or None


def _filter_name(primary: HeaderLike) -> str | None:
    filt = _text(primary, "FILTER")
    pupil = _text(primary, "PUPIL")
    if filt and pupil and pupil.upper() not in _NEUTRAL and pupil.upper().startswith("F"):
        return f"{filt}/{pupil}"  # e.g. a narrow-band filter in the pupil wheel
    return filt or (pupil if pupil and pupil.upper() not in _NEUTRAL else None)


def wcs_summary(header: HeaderLike, *, wcs: Any = _BUILD) -> dict[str, Any] | None:
    """A small, JSON-friendly description of a header's celestial WCS, or None (``wcs``:
    that WCS when the caller built it already)."""
    wcs = _celestial(header, wcs)
    if wcs is None:
        return None
    try:
        from astropy.wcs.utils import (  # type: ignore[import-untyped, unused-ignore]
            proj_plane_pixel_scales,
        )

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


def _hdu_list(headers: Sequence[HeaderLike]) -> list[dict[str, Any]]:
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


def _science_header(headers: Sequence[HeaderLike]) -> HeaderLike | None:
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


def _crds(primary: HeaderLike, ident: FileIdentity) -> dict[str, Any]:
    """What a CRDS reference file says about itself (reference type, instrument, pedigree...)."""
    found = {name: _opt_text(primary.get(k)) for k, name in _CRDS_KEYWORDS.items()}
    named = {"reftype": ident.reftype, "instrument": ident.instrument}
    for name, value in named.items():
        if not found.get(name) and value:
            found[name] = str(value).upper() if name == "instrument" else str(value)
    if found.get("reftype"):
        found["reftype"] = str(found["reftype"]).lower()
    return {k: v for k, v in found.items() if v}


def _reference_name(value: Any) -> str | None:
    """The file name of a reference as a header writes it (``crds://jwst_nircam_dark_0342.fits``
    -> ``jwst_nircam_dark_0342.fits``); None for "N/A" and empty values."""
    text = _opt_text(value)
    if text is None or text.upper() in _NO_REFERENCE:
        return None
    if text.lower().startswith("crds://"):
        text = text[len("crds://"):]
    name = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:255] or None


def calibration_from_header(header: HeaderLike | Mapping[str, Any]) -> Calibration | None:
    """How a calibrated file was made, from its primary header: CAL_VER, CRDS_VER, CRDS_CTX
    and every R_* reference keyword (``R_DARK='crds://jwst_nircam_dark_0342.fits'`` ->
    ``{"dark": "jwst_nircam_dark_0342.fits"}``). None when the header says none of it
    (raw files, reference files, pictures).

    Reference types are the pipeline's names (``R_SATURA`` -> ``saturation``); "N/A" entries
    (a step that used no reference) are left out. Keyword names are matched in any case, so a
    MAST row with ``cal_ver``/``crds_ctx`` columns reads the same.
    """
    upper: dict[str, Any] = {}
    for name in list(header.keys()) if hasattr(header, "keys") else []:
        text = str(name).strip().upper()
        if (text.startswith("R_") or text in _CALIBRATION_KEYWORDS) and text not in upper:
            upper[text] = header[name]
    references: dict[str, str] = {}
    for keyword in sorted(k for k in upper if k.startswith("R_") and len(k) > 2):
        reference = _reference_name(upper[keyword])
        reftype = _REFERENCE_KEYWORDS.get(keyword, keyword[2:].lower())
        if reference and _REFTYPE_KEY.fullmatch(reftype):
            references[reftype] = reference
    calibration = Calibration(
        cal_ver=_short(upper.get("CAL_VER")),
        crds_ver=_short(upper.get("CRDS_VER")),
        crds_context=_short(upper.get("CRDS_CTX", upper.get("CRDS_CONTEXT"))),
        reference_files=references,
    )
    return None if calibration.is_empty() else calibration


def _short(value: Any) -> str | None:
    """A version or context string as stored (at most 64 characters)."""
    text = _opt_text(value)
    return text[:64] if text else None


def calibration_from_mast(*rows: Mapping[str, Any]) -> Calibration | None:
    """The calibration MAST rows carry: a product row's ``prvversion`` is the pipeline
    version (CAL_VER) that made the file, and a JWST keyword search returns ``cal_ver``,
    ``crds_ver``, ``crds_ctx`` and ``r_*`` columns. The first row that has a value wins, field
    by field. None when no row carries any of it."""
    merged: dict[str, Any] = {}
    for row in rows:
        for name, value in row.items():
            key = str(name).strip().upper()
            if key == "PRVVERSION":
                key = "CAL_VER_PRV"
            if key not in merged and _plain(value) not in (None, ""):
                merged[key] = value
    if "CAL_VER" not in merged and "CAL_VER_PRV" in merged:
        merged["CAL_VER"] = merged["CAL_VER_PRV"]
    return calibration_from_header(merged)


def _header_record(
    key: str,
    size: int,
    primary: HeaderLike,
    sci: HeaderLike | None,
    metadata: dict[str, Any],
) -> JwstDataModel:
    """The record of a file whose facts are FITS-keyword shaped (FITS headers, asdf meta)."""
    ident = classify(key)
    fits_meta = {k: _plain(primary[k]) for k in _PRIMARY_KEYWORDS if k in primary}
    metadata["fits"] = {k: v for k, v in fits_meta.items() if v is not None}
    optics = _optics(primary)
    if optics:
        metadata["optics"] = optics
    if sci is not None and sci.get("BUNIT"):
        metadata["bunit"] = str(sci["BUNIT"])
    instrument = _text(primary, "INSTRUME")
    if ident.data_type == DataType.CALIBRATION or "REFTYPE" in primary:
        metadata["crds"] = _crds(primary, ident)
        instrument = instrument or metadata["crds"].get("instrument")
    from jwstnb.imaging import celestial_wcs

    celestial = celestial_wcs(sci) if sci is not None else None  # built once: costly
    wcs = wcs_summary(sci, wcs=celestial) if sci is not None else None
    sky = sky_from_headers(primary, sci, wcs=celestial)
    if sky is not None:
        metadata["sky_source"] = sky.source
    telescope = (_text(primary, "TELESCOP") or "").upper()
    image_info = ImageMetadata(
        target_name=_text(primary, "TARGNAME") or _text(primary, "OBJECT"),
        instrument=instrument,
        filter=_filter_name(primary),
        exposure_time=_nonnegative(_number(primary.get("EFFEXPTM", primary.get("EXPTIME")))),
        observation_date=observation_datetime(primary),
        coordinate_system=(wcs or {}).get("radesys") or ("ICRS" if sky else None),
        wcs=wcs,
        wavelength_range=WavelengthRange.INFRARED if telescope == "JWST" else None,
        calibration_level=_LEVEL_NUMBER.get(ident.processing_level),
        proposal_id=_proposal_id(_text(primary, "PROGRAM")),
        proposal_pi=_text(primary, "PI_NAME"),
        observation_title=_text(primary, "TITLE"),
        **(sky.fields() if sky else {}),
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
    calibration = None
    if ident.data_type != DataType.CALIBRATION and "REFTYPE" not in primary:
        calibration = calibration_from_header(primary)
    return JwstDataModel(
        **_base_record(key, size, ident),
        metadata=metadata,
        image_info=image_info,
        sensor_info=sensor_info,
        calibration=calibration,
    )


def record_from_fits(key: str, size: int, headers: Sequence[HeaderLike]) -> JwstDataModel:
    """A record for a FITS file from its headers only (pure: no I/O)."""
    if not headers:
        raise FitsError(f"{key!r} has no FITS header")
    metadata: dict[str, Any] = {"source": "scan", "hdus": _hdu_list(headers)}
    return _header_record(key, size, headers[0], _science_header(headers), metadata)


def _meta_value(meta: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = meta
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return None if isinstance(node, Mapping | list | tuple) else node


def asdf_header(tree_meta: Mapping[str, Any]) -> dict[str, Any]:
    """The FITS keywords a JWST asdf ``meta`` tree holds (``meta.instrument.name`` ->
    ``INSTRUME`` ..., ``meta.ref_file.dark.name`` -> ``R_DARK``), as plain values, so asdf
    files get the same record as FITS ones."""
    header: dict[str, Any] = {}
    for keyword, path in _ASDF_PATHS.items():
        value = _plain(_meta_value(tree_meta, path))
        if value is not None:
            header[keyword] = value
    ref_file = tree_meta.get("ref_file")
    if isinstance(ref_file, Mapping):  # meta.ref_file.<reftype>.name, as R_<keyword>
        for reftype, entry in ref_file.items():
            if reftype == "crds" or not isinstance(entry, Mapping):
                continue
            value = _plain(entry.get("name"))
            if value is not None:
                keyword = _KEYWORD_OF_REFTYPE.get(str(reftype), f"R_{str(reftype).upper()}")
                header[keyword] = value
    return header


def record_from_asdf(key: str, size: int, tree_meta: Mapping[str, Any]) -> JwstDataModel:
    """A record for an asdf file (a JWST datamodel or a CRDS reference file) from the
    ``meta`` of its tree (pure; arrays are never needed). Its gwcs is not read: the sky
    comes from ``meta.wcsinfo.s_region`` or the pointing."""
    header = asdf_header(tree_meta)
    metadata: dict[str, Any] = {"source": "scan"}
    return _header_record(key, size, header, header, metadata)


# --- association files, tables, pictures --------------------------------------------------------


def asn_contents(key: str, asn: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The products of an association mapping as plain data (pure): one
    ``{"name": product name or None, "members": [{"expname", "exptype"}]}`` per product, in
    the file's order. Member names are basenames; a member without ``exptype`` has
    ``"science"`` (the pipeline's default role). Not an association: :class:`FitsError`."""
    products = asn.get("products")
    if not isinstance(products, list):
        raise FitsError(f"{key!r} is not an association: 'products' is not a list")
    out: list[dict[str, Any]] = []
    for product in products:
        if not isinstance(product, Mapping):
            continue
        members = []
        for member in product.get("members") or []:
            if not isinstance(member, Mapping):
                continue
            expname = _opt_text(member.get("expname"))
            if expname is None:
                continue
            exptype = (_opt_text(member.get("exptype")) or "science").lower()[:64]
            members.append({
                "expname": expname.replace("\\", "/").rsplit("/", 1)[-1],
                "exptype": exptype,
            })
        out.append({"name": _opt_text(product.get("name")), "members": members})
    return out


def record_from_asn(key: str, size: int, asn: Mapping[str, Any]) -> JwstDataModel:
    """A record for an association file from its contents (pure).

    Its metadata keeps every product: ``asn_products`` (product names, in order; ``asn_product``
    is the first, as before), ``asn_members`` (every member file name once),
    ``asn_exptypes`` ({member file name: role}, a member listed with several roles keeps
    ``science`` if it is one, else its first) and ``asn_product_members`` (each product with
    its own members and their roles: a nodded spectrum's exposure is the science of one
    product and the background of another).
    """
    ident = classify(key)
    contents = asn_contents(key, asn)
    members: list[str] = []
    exptypes: dict[str, str] = {}
    for product in contents:
        for member in product["members"]:
            name, role = member["expname"], member["exptype"]
            if name not in exptypes:
                members.append(name)
                exptypes[name] = role
            elif role == "science":
                exptypes[name] = role
    names = [p["name"] for p in contents if p["name"]]
    metadata: dict[str, Any] = {
        "source": "scan",
        "asn_type": _plain(asn.get("asn_type")),
        "asn_rule": _plain(asn.get("asn_rule")),
        "asn_id": _plain(asn.get("asn_id")),
        "asn_pool": _plain(asn.get("asn_pool")),
        "asn_product": names[0] if names else None,
        "asn_products": names,
        "asn_members": members,
        "asn_exptypes": exptypes,
        "asn_product_members": contents,
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


def record_from_picture(
    key: str, size: int, width: int, height: int, mode: str, *, max_pixels: int | None = None
) -> JwstDataModel:
    """A record for a PNG/JPG/TIFF picture from its header's size and mode (pure).

    A picture that claims more than ``max_pixels`` pixels (default
    :data:`jwstnb.storage.MAX_IMAGE_PIXELS`, the bound every picture read obeys) is a
    :class:`FitsError`: it would inflate past that bound when drawn.
    """
    from jwstnb.storage import MAX_IMAGE_PIXELS

    limit = MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    if width < 0 or height < 0 or width * height > limit:
        raise FitsError(
            f"{key!r} claims {width}x{height} pixels, more than the limit of {limit} pixels; "
            "it is not imported (shrink the picture, or keep it outside the scanned prefix)"
        )
    ident = classify(key)
    metadata = {"source": "scan", "width": width, "height": height, "mode": mode}
    base = _base_record(key, size, ident)
    base["data_type"] = DataType.IMAGE
    base["is_viewable"] = True
    return JwstDataModel(**base, metadata=metadata)


# --- MAST rows ----------------------------------------------------------------------------------


def row_items(row: Mapping[str, Any] | Any) -> dict[str, Any]:
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
    useful = [p for p in parts if p.upper() not in _NEUTRAL] or parts
    return useful[0] if useful else None


def _cloud_uri(value: Any, filename: str) -> str | None:
    """A public-bucket S3 URI for the product, or None; anything else is refused."""
    from jwstnb.storage import PUBLIC_BUCKET_URL

    uri = _opt_text(value)
    if uri is None:
        return None
    if not uri.startswith(PUBLIC_BUCKET_URL) or ".." in uri.split("/"):
        raise invalid("cloud_uri", f"must be a file under {PUBLIC_BUCKET_URL}", uri)
    if uri.rsplit("/", 1)[-1] != filename:
        raise invalid("cloud_uri", f"names another file than {filename!r}", uri)
    return uri


def _obs_id_optics(obs_id: str) -> str | None:
    """The optical elements of a stage-3 MAST obs_id (``..._nircam_clear-f090w`` ->
    ``clear-f090w``): classify reads them from a product name made of the obs_id."""
    ident = classify(f"{obs_id}_i2d.fits")
    return ident.optics if ident.kind == "stage3" else None


def mast_record(
    observation: Mapping[str, Any],
    product: Mapping[str, Any],
    size: int | None = None,
    *,
    cloud_uri: str | None = None,
) -> JwstDataModel:
    """The record of one MAST product file (pure): key ``mast/{obs_id}/{productFilename}``.

    Every non-null column becomes metadata: the observation row's as ``mast_<column>``, the
    product row's as ``mast_product_<column>`` (``mast_product_dataURI`` included).
    ``cloud_uri`` (astroquery's ``Observations.get_cloud_uris``, or a ``cloud_uri``/``cloudURI``
    column of the product row) is kept as ``metadata["cloud_uri"]``: the file in the public
    bucket ``s3://stpubdata/jwst/public/``. ImageMetadata comes from the observation row (MJD
    dates, wavelength_region, calib_level, proposal id/PI, title, s_ra/s_dec/s_region). An
    exposure-level obs_id (``jw01410001001_02101_00001_guider1``) gives its observation's
    provisional group.
    """
    obs = observation
    filename = str(product.get("productFilename") or "").strip()
    if not filename:
        raise invalid("productFilename", "the MAST product row has no productFilename")
    obs_id = str(obs.get("obs_id") or product.get("obs_id") or "").strip()
    if not obs_id:
        raise invalid("obs_id", f"no obs_id in the MAST rows of {filename!r}")
    key = join_key("mast", obs_id, filename)
    ident = classify(filename)
    metadata: dict[str, Any] = {"source": "mast"}
    for column, value in obs.items():
        if value is not None:
            metadata[f"mast_{_mast_key(column)}"] = value
    for column, value in product.items():
        if value is not None:
            metadata[f"mast_product_{_mast_key(column)}"] = value
    uri = _cloud_uri(
        cloud_uri or product.get("cloud_uri") or product.get("cloudURI"), ident.name
    )
    if uri:
        metadata["cloud_uri"] = uri
    optics = _obs_id_optics(obs_id)
    if optics and ident.kind == "exposure":
        metadata["optics"] = optics
    sky = sky_from_mast(obs)
    if sky is not None:
        metadata["sky_source"] = sky.source
    instrument = str(obs.get("instrument_name") or "").split("/")[0].strip() or None
    level = product.get("calib_level", obs.get("calib_level"))
    try:
        calib = int(level) if level is not None else None
    except (TypeError, ValueError):
        calib = None
    if calib is not None and not 0 <= calib <= 4:
        calib = None
    image_info = ImageMetadata(
        target_name=_opt_text(obs.get("target_name")),
        instrument=instrument,
        filter=_mast_filter(obs.get("filters")),
        exposure_time=_nonnegative(_number(obs.get("t_exptime"))),
        observation_date=mjd_to_datetime(_number(obs.get("t_min"))),
        coordinate_system="ICRS" if sky is not None else None,
        wcs=_mast_wcs(obs),
        wavelength_range=_wavelength(obs.get("wavelength_region")),
        calibration_level=calib,
        proposal_id=_opt_text(obs.get("proposal_id")),
        proposal_pi=_opt_text(obs.get("proposal_pi")),
        observation_title=_opt_text(obs.get("obs_title")),
        **(sky.fields() if sky else {}),
    )
    if size is None:
        size = int(_number(product.get("size")) or 0)
    base = _base_record(key, max(0, int(size)), ident)
    base["observation_base_id"] = ident.observation_base_id or group_from_obs_id(obs_id)
    # Raw files (L1) are not calibrated: their row's prvversion is the version of the software
    # that wrote the ramps, not of a calibration.
    calibrated = ident.data_type != DataType.CALIBRATION and ident.processing_level not in (
        ProcessingLevel.L1,
    )
    calibration = calibration_from_mast(product, obs) if calibrated else None
    return JwstDataModel(**base, metadata=metadata, image_info=image_info,
                         calibration=calibration)


def _mast_wcs(obs: Mapping[str, Any]) -> dict[str, Any] | None:
    ra, dec = _number(obs.get("s_ra")), _number(obs.get("s_dec"))
    if ra is None or dec is None:
        return None
    out: dict[str, Any] = {"center": [ra, dec], "radesys": "ICRS"}
    if obs.get("s_region"):
        out["s_region"] = str(obs["s_region"])
    return out


def mast_pairs(
    data: Any, source: str = "MAST rows"
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Saved MAST rows (parsed JSON) as ``(observation_row, product_rows)`` pairs.

    ``data`` is ``{"observation": {...}, "products": [...]}`` or a list of those, or
    ``{"observations": [...], "products": [...]}`` (products matched to their observation by
    ``parent_obsid``/``obsID`` or ``obs_id``). A wrong shape is a ValidationError (a ValueError)
    naming ``source``.
    """
    pairs: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for item in data if isinstance(data, list) else [data]:
        if not isinstance(item, dict):
            raise invalid("mast_rows", f"{source}: expected objects with 'observation' and "
                          "'products'")
        if "observation" in item:
            pairs.append((dict(item["observation"]), list(item.get("products", []))))
        elif "observations" in item:
            products = list(item.get("products", []))
            for obs in item["observations"]:
                pairs.append((dict(obs), _products_of(obs, products, len(item["observations"]))))
        else:
            raise invalid("mast_rows", f"{source}: expected keys 'observation' and 'products'")
    return pairs


def _products_of(
    obs: Mapping[str, Any], products: list[dict[str, Any]], n_obs: int
) -> list[dict[str, Any]]:
    if n_obs == 1:
        return products
    oid = str(obs.get("obsid", obs.get("obsID", "")))
    mine = [p for p in products if oid and str(p.get("parent_obsid", p.get("obsID"))) == oid]
    return mine or [p for p in products if p.get("obs_id") == obs.get("obs_id")]


# --- reading a file again -----------------------------------------------------------------------


def refresh(
    stored: JwstDataModel, incoming: JwstDataModel, *, processed: bool = False
) -> JwstDataModel:
    """``incoming`` (a new read of the file ``stored`` describes) merged onto ``stored``.

    The one rule for every re-read, scan or MAST import: lineage (``observationBaseId``,
    ``parentId``, ``derivedFrom``, ``derivedRoles``) stays as stored, since relink owns it.
    Metadata of the other importer (MAST's ``mast_*`` keys vs. a scan's header keys) is kept;
    image facts the new read does not know keep their stored value; the position comes from the
    better of the two sky sources (:data:`SKY_SOURCES`). A record made by processing
    (``processed``: a user's record, or the output a ProcessingResult names; the session knows
    which) also keeps :data:`PROCESSING_KEEPS` and all its metadata: a read updates only what it
    read.
    """
    from_mast = incoming.metadata.get("source") == "mast"
    kept = {
        k: v for k, v in stored.metadata.items()
        if k not in ("source", "sky_source") and (processed or k.startswith("mast_") != from_mast)
    }
    metadata = {**kept, **incoming.metadata}
    if processed:
        metadata["source"] = stored.metadata.get("source", "processing")
    image_info = _merged_image(stored, incoming, metadata)
    keep = PROCESSING_KEEPS if processed else _LINEAGE
    update: dict[str, Any] = {name: getattr(stored, name) for name in keep}
    update["derived_from"] = list(stored.derived_from or [])
    update["derived_roles"] = dict(stored.derived_roles or {})
    update.update(
        metadata=metadata,
        image_info=image_info,
        sensor_info=incoming.sensor_info or stored.sensor_info,
        calibration=_merged_calibration(stored.calibration, incoming.calibration, from_mast),
    )
    return incoming.model_copy(update=update)


def _merged_calibration(
    stored: Calibration | None, incoming: Calibration | None, from_mast: bool
) -> Calibration | None:
    """The calibration after a re-read: what the new read knows replaces what was known,
    except that a MAST row (at most a version) never replaces what the file's headers said
    (a context or reference files): it only fills the gaps. A read that knows nothing keeps
    what was known."""
    if incoming is None or stored is None:
        return incoming or stored
    if not from_mast or not (stored.crds_context or stored.reference_files):
        return incoming
    fields = {"cal_ver", "crds_ver", "crds_context", "reference_files"}
    theirs = incoming.model_dump(include=fields, exclude_none=True)
    mine = {k: v for k, v in stored.model_dump(include=fields).items() if v}
    return Calibration(**{**theirs, **mine})


def _merged_image(
    stored: JwstDataModel, incoming: JwstDataModel, metadata: dict[str, Any]
) -> ImageMetadata | None:
    """Field-wise merge of two ImageMetadata: incoming wins, except for the sky, where the
    better source (per ``metadata["sky_source"]`` of each side) wins; sets the winner there."""
    old, new = stored.image_info, incoming.image_info
    if new is None:
        if old is not None and stored.metadata.get("sky_source"):
            metadata["sky_source"] = stored.metadata["sky_source"]
        return old
    if old is None:
        return new
    merged = old.model_copy(update=new.model_dump(exclude_none=True))
    old_source = stored.metadata.get("sky_source") if old.ra is not None else None
    new_source = incoming.metadata.get("sky_source") if new.ra is not None else None
    if old_source is not None and _sky_rank(old_source) < _sky_rank(new_source):
        merged = merged.model_copy(update={f: getattr(old, f) for f in _SKY_FIELDS})
        metadata["sky_source"] = old_source
    elif new_source is not None:
        metadata["sky_source"] = new_source
    return merged
