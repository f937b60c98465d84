"""File headers, association files, table heads, pictures and MAST rows -> records (pure).

Every function here builds a :class:`jwstnb.schema.JwstDataModel` from what a reader already
has in memory (FITS headers, an asn.json mapping, the first bytes of a table, an asdf tree,
MAST observation/product rows); none of them touches storage, the network or the database.
:mod:`jwstnb.ingest` reads the bytes and stores the records; tests call these directly.
What a file *is* (level, data type, ids, group) comes from :mod:`jwstnb.naming`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jwstnb.keys import join_key
from jwstnb.naming import FileIdentity, classify
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

__all__ = [
    "mast_pairs",
    "mast_record",
    "observation_datetime",
    "record_from_asn",
    "record_from_fits",
    "record_from_picture",
    "record_from_table_head",
    "row_items",
    "wcs_summary",
]

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
    from jwstnb.imaging import celestial_wcs

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



# --- MAST rows -----------------------------------------------------------------------------


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


def mast_pairs(
    data: Any, source: str = "MAST rows"
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Saved MAST rows (parsed JSON) as ``(observation_row, product_rows)`` pairs.

    ``data`` is ``{"observation": {...}, "products": [...]}`` or a list of those, or
    ``{"observations": [...], "products": [...]}`` (products matched to their observation by
    ``parent_obsid``/``obsID`` or ``obs_id``). A wrong shape is a ValueError naming ``source``.
    """
    pairs: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for item in data if isinstance(data, list) else [data]:
        if not isinstance(item, dict):
            raise ValueError(f"{source}: expected objects with 'observation' and 'products'")
        if "observation" in item:
            pairs.append((dict(item["observation"]), list(item.get("products", []))))
        elif "observations" in item:
            products = list(item.get("products", []))
            for obs in item["observations"]:
                pairs.append((dict(obs), _products_of(obs, products, len(item["observations"]))))
        else:
            raise ValueError(f"{source}: expected keys 'observation' and 'products'")
    return pairs


def _products_of(
    obs: Mapping[str, Any], products: list[dict[str, Any]], n_obs: int
) -> list[dict[str, Any]]:
    if n_obs == 1:
        return products
    oid = str(obs.get("obsid", obs.get("obsID", "")))
    mine = [p for p in products if oid and str(p.get("parent_obsid", p.get("obsID"))) == oid]
    return mine or [p for p in products if p.get("obs_id") == obs.get("obs_id")]


