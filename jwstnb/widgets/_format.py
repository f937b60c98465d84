"""Pure display helpers shared by the widgets: rows, facet labels, sizes, dates, detail HTML.

Nothing here imports ipywidgets or touches the database, so every rule the widgets show on
screen (what a row says, how a facet option is labelled, what the status line reads) is
tested as a plain function.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from jwstnb.criteria import SORT_FIELDS
from jwstnb.errors import invalid
from jwstnb.schema import DataType, ProcessingLevel, ProcessingStatus

__all__ = [
    "ANY",
    "COLUMNS",
    "DEFAULT_ORDER",
    "FACET_LABELS",
    "LEVELS",
    "LEVEL_COLOURS",
    "date_range",
    "detail_html",
    "facet_label",
    "facet_options",
    "format_coordinate",
    "format_datetime",
    "header_html",
    "header_summary",
    "human_size",
    "level_colour",
    "page_summary",
    "parse_date",
    "png_data_url",
    "record_dict",
    "record_row",
    "sort_order",
]

# The value a facet dropdown holds when it does not filter.
ANY = ""

# Pipeline levels in display order; "unknown" always last (the schema's order).
LEVELS: tuple[str, ...] = tuple(level.value for level in ProcessingLevel)

LEVEL_COLOURS: dict[str, str] = {
    "L1": "#ef4444",
    "L2a": "#f59e0b",
    "L2b": "#10b981",
    "L3": "#3b82f6",
    "unknown": "#6b7280",
}

# Labels of the facets in ``jwstnb.criteria.FACETS`` (a facet with no label here shows its key).
FACET_LABELS: dict[str, str] = {
    "data_type": "Data type",
    "processing_level": "Level",
    "instrument": "Instrument",
    "filter": "Filter",
    "target_name": "Target",
    "status": "Status",
    "program": "Program",
    "crds_context": "CRDS context",
}
# Facets with a natural order (the schema's enums); the others by count, then name.
_FIXED_ORDER: dict[str, tuple[str, ...]] = {
    "processing_level": LEVELS,
    "data_type": tuple(t.value for t in DataType),
    "status": tuple(s.value for s in ProcessingStatus),
}

# Results table: [row key, header, search sort key or "", newest/largest first on first click].
# A column sorts only when its sort key is one of ``jwstnb.criteria.SORT_FIELDS``.
_COLUMN_SPEC: tuple[tuple[str, str, str, bool], ...] = (
    ("thumb", "", "", False),
    ("file_name", "File", "fileName", False),
    ("processing_level", "Level", "processingLevel", False),
    ("data_type", "Type", "dataType", False),
    ("instrument", "Instrument", "instrument", False),
    ("filter", "Filter", "filter", False),
    ("target_name", "Target", "targetName", False),
    ("processing_status", "Status", "processingStatus", False),
    ("ra", "RA (deg)", "ra", False),
    ("dec", "Dec (deg)", "dec", False),
    ("observation_date", "Observed", "observationDate", True),
    ("size", "Size", "fileSize", True),
    ("upload_date", "Uploaded", "uploadDate", True),
)
COLUMNS: list[list[Any]] = [
    [key, label, field if field in SORT_FIELDS else "", first_descending]
    for key, label, field, first_descending in _COLUMN_SPEC
]
DEFAULT_ORDER = "-uploadDate"


def sort_order(order: str) -> tuple[str, bool]:
    """A table ``order`` (``"fileName"``, ``"-uploadDate"``) as search's ``(sort, descending)``;
    anything not in ``jwstnb.criteria.SORT_FIELDS`` falls back to newest upload first."""
    descending = order.startswith("-")
    field = order.lstrip("-")
    if field not in SORT_FIELDS:
        return "uploadDate", True
    return field, descending


def facet_label(facet: str) -> str:
    """The label of a facet dropdown: ``Level`` for processing_level, else the key in words."""
    return FACET_LABELS.get(facet) or facet.replace("_", " ").capitalize()


def format_coordinate(value: float | None) -> str:
    """A coordinate in degrees for a table cell (5 decimals, about 0.04 arcsec); None -> ""."""
    return "" if value is None else f"{float(value):.5f}"


def parse_date(text: str, name: str) -> date | None:
    """``YYYY-MM-DD`` from a date box (blank -> None); anything else is a ValidationError
    naming the box and the form it wants."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise invalid(name, f"{name} must be a date written YYYY-MM-DD", text) from None


def level_colour(level: Any) -> str:
    """The display colour of a processing level; anything unrecognised is "unknown" grey."""
    return LEVEL_COLOURS.get(str(level), LEVEL_COLOURS["unknown"])


def human_size(size: int | float | None) -> str:
    """Bytes as a short human string: 0 B, 512 B, 1.5 KiB, 23.4 MiB."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_datetime(value: datetime | date | None, *, seconds: bool = False) -> str:
    """A datetime as ``YYYY-MM-DD HH:MM`` in UTC (dates as ``YYYY-MM-DD``); None -> ""."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _enum_text(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def record_row(record: Any) -> dict[str, Any]:
    """One row of the results table for a JwstDataModel: plain, JSON-friendly values."""
    info = getattr(record, "image_info", None)
    sensor = getattr(record, "sensor_info", None)
    instrument = (info.instrument if info else None) or (sensor.instrument if sensor else None)
    return {
        "id": str(record.id) if record.id is not None else "",
        "file_name": record.file_name,
        "file_path": record.file_path or "",
        "data_type": _enum_text(record.data_type),
        "processing_level": _enum_text(record.processing_level),
        "processing_status": _enum_text(record.processing_status),
        "instrument": instrument or "",
        "filter": (info.filter if info else None) or "",
        "target_name": (info.target_name if info else None) or "",
        "ra": format_coordinate(getattr(info, "ra", None)),
        "dec": format_coordinate(getattr(info, "dec", None)),
        "observation_date": format_datetime(info.observation_date if info else None),
        "upload_date": format_datetime(record.upload_date),
        "file_size": int(record.file_size or 0),
        "size": human_size(record.file_size),
        "observation_base_id": record.observation_base_id or "",
        "exposure_id": record.exposure_id or "",
        "tags": list(record.tags or []),
        "is_viewable": bool(record.is_viewable),
        "has_thumbnail": bool(record.thumbnail),
    }


def record_dict(record: Any) -> dict[str, Any]:
    """The whole record as a JSON-friendly dict (snake_case; the thumbnail's bytes left out)."""
    data: dict[str, Any] = record.model_dump(mode="json", exclude={"thumbnail"})
    data["id"] = str(record.id) if record.id is not None else None
    data["has_thumbnail"] = bool(record.thumbnail)
    return data


def facet_options(
    facet: str,
    counts: Mapping[str, int] | None,
    selected: str = ANY,
    *,
    any_label: str = "any",
) -> list[tuple[str, str]]:
    """Dropdown options ``(label, value)`` for one facet, labels with counts: ``image (12)``.

    The first option is ``(any_label, ANY)``. Values with a zero count are left out, except
    the selected one, which stays (with its count, maybe 0) so the dropdown never loses what
    the user chose. Levels, data types and statuses keep their natural order; the rest are
    ordered by count (highest first), then name.
    """
    counts = {str(k): int(v) for k, v in (counts or {}).items() if k not in (None, "")}
    if selected and selected not in counts:
        counts[selected] = 0
    shown = [k for k, v in counts.items() if v > 0 or k == selected]
    order = _FIXED_ORDER.get(facet)
    if order:
        rank = {v: i for i, v in enumerate(order)}
        shown.sort(key=lambda k: (rank.get(k, len(order)), k.lower()))
    else:
        shown.sort(key=lambda k: (-counts[k], k.lower()))
    return [(any_label, ANY)] + [(f"{k} ({counts[k]:,})", k) for k in shown]


def date_range(
    date_from: date | datetime | None, date_to: date | datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Picker dates -> UTC datetimes for search(): from the start of ``date_from`` to the last
    millisecond of ``date_to`` (both days included)."""

    def start(d: date | datetime) -> datetime:
        if isinstance(d, datetime):
            return d if d.tzinfo else d.replace(tzinfo=UTC)
        return datetime.combine(d, time.min, tzinfo=UTC)

    lo = start(date_from) if date_from is not None else None
    hi = None
    if date_to is not None:
        hi = (
            start(date_to)
            if isinstance(date_to, datetime)
            else start(date_to) + timedelta(days=1) - timedelta(milliseconds=1)
        )
    return lo, hi


def page_summary(total: int | None, page: int, page_size: int, shown: int | None = None) -> str:
    """The status line under the table: ``Records 21-40 of 134 · page 2 of 7``.

    ``total=None`` while the counts are still on their way: ``Records 21-40 of ... (counting)``
    (``shown`` rows are on the page). An empty result says nothing here: the table says why.
    """
    if total is None:
        first = (page - 1) * page_size + 1
        last = first + max(0, (shown if shown is not None else page_size) - 1)
        if not shown:
            return "Counting..."
        return f"Records {first:,}-{last:,} of ... (counting)"
    if total <= 0:
        return "0 records"
    pages = max(1, -(-total // page_size))
    first = (page - 1) * page_size + 1
    last = min(total, page * page_size)
    noun = "record" if total == 1 else "records"
    return f"{noun.capitalize()} {first:,}-{last:,} of {total:,} · page {page:,} of {pages:,}"


def png_data_url(png: bytes | None) -> str:
    """PNG bytes as a ``data:`` URL for an <img>; empty string for no image."""
    if not png:
        return ""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# Inline styles: compact tables whatever the notebook's HTML styles (Lab, Voila, classic).
_TABLE_STYLE = "border-collapse:collapse;font-size:12px;line-height:1.3;margin:2px 0"
_TH_STYLE = "text-align:right;padding:1px 8px 1px 0;font-weight:600;vertical-align:top"
_TD_STYLE = "text-align:left;padding:1px 0;word-break:break-all"


def _table(rows: Iterable[tuple[str, Any]], css_class: str) -> str:
    cells = "".join(
        f'<tr><th style="{_TH_STYLE}">{html.escape(str(k))}</th>'
        f'<td style="{_TD_STYLE}">{html.escape(str(v))}</td></tr>'
        for k, v in rows
        if v not in (None, "", [])
    )
    return f'<table class="{css_class}" style="{_TABLE_STYLE}">{cells}</table>'


def _calibration_rows(calibration: Any) -> list[tuple[str, Any]]:
    """The details' provenance rows: pipeline version, CRDS version and context, and the
    reference file of each type (what tells a stale calibration from a current one)."""
    if calibration is None:
        return []
    context = getattr(calibration, "crds_context", None)
    crds = " ".join(p for p in (getattr(calibration, "crds_ver", None),
                                f"({context})" if context else None) if p)
    references = getattr(calibration, "reference_files", None) or {}
    return [
        ("Pipeline", getattr(calibration, "cal_ver", None) or ""),
        ("CRDS", crds),
        ("Reference files", "; ".join(f"{k}: {v}" for k, v in sorted(references.items()))),
    ]


def detail_html(record: Any) -> str:
    """The details of one record as a small HTML table (every value escaped)."""
    row = record_row(record)
    info = getattr(record, "image_info", None)
    rows: list[tuple[str, Any]] = [
        ("File", row["file_name"]),
        ("Storage key", row["file_path"]),
        ("Size", row["size"]),
        ("Format", getattr(record, "file_format", "")),
        ("Data type", row["data_type"]),
        ("Level", row["processing_level"]),
        ("Status", row["processing_status"]),
        ("Instrument", row["instrument"]),
        ("Filter", row["filter"]),
        ("Target", row["target_name"]),
        ("RA, Dec", f"{row['ra']}, {row['dec']} deg" if row["ra"] and row["dec"] else ""),
        ("Observed", row["observation_date"]),
        ("Exposure time", f"{info.exposure_time:g} s" if info and info.exposure_time else ""),
        ("Observation", row["observation_base_id"]),
        ("Exposure", row["exposure_id"]),
        ("Proposal", (info.proposal_id if info else None) or ""),
        ("PI", (getattr(info, "proposal_pi", None) if info else None) or ""),
        *_calibration_rows(getattr(record, "calibration", None)),
        ("Tags", ", ".join(row["tags"])),
        ("Description", getattr(record, "description", None) or ""),
        ("Uploaded", row["upload_date"]),
        ("Record id", row["id"]),
    ]
    title = html.escape(row["file_name"])
    colour = level_colour(row["processing_level"])
    badge = (
        f'<span class="jwstnb-badge" style="background:{colour}">'
        f"{html.escape(row['processing_level'] or 'unknown')}</span>"
    )
    return f'<div class="jwstnb-details"><b>{title}</b> {badge}{_table(rows, "jwstnb-meta")}</div>'


# Keywords worth a glance, in display order (the primary header and the first SCI header).
HEADER_KEYWORDS: tuple[str, ...] = (
    "TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "PUPIL", "EXP_TYPE", "TARGPROP", "TARGNAME",
    "RA_TARG", "DEC_TARG", "DATE-OBS", "TIME-OBS", "EFFEXPTM", "PROGRAM", "OBSERVTN", "VISIT",
    "CAL_VER", "BUNIT", "NAXIS1", "NAXIS2",
)


def header_summary(
    header: Mapping[str, Any] | Any, keywords: Sequence[str] = HEADER_KEYWORDS
) -> list[tuple[str, str]]:
    """The interesting ``(keyword, value)`` pairs of a FITS header, in ``keywords`` order."""
    out: list[tuple[str, str]] = []
    for key in keywords:
        try:
            present = key in header
        except TypeError:
            present = False
        if present:
            value = header[key]
            out.append((key, f"{value:g}" if isinstance(value, float) else str(value)))
    return out


def header_html(pairs: Sequence[tuple[str, str]]) -> str:
    """A header summary as an HTML table; a readable note when there is nothing to show."""
    if not pairs:
        return '<div class="jwstnb-note">No header summary.</div>'
    return _table(pairs, "jwstnb-header")
