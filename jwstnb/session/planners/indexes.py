"""The indexes the toolkit's reads are built to use: one catalogue, each with the query shape
that needs it. Each planner declares which of them its engine keeps (every index costs
every write). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jwstnb.criteria import SORT_FIELDS

__all__ = ["FALLBACK_INDEX", "INDEXES", "IndexSpec", "lead_index", "sort_index"]

@dataclass(frozen=True)
class IndexSpec:
    """One index the toolkit relies on, and the query shape that needs it."""

    keys: tuple[tuple[str, int | str], ...]
    purpose: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """MongoDB's default name for these keys (``field_1``), so existing indexes match."""
        if self.keys == (("_id", 1),):
            return "_id_"
        return "_".join(f"{k}_{d}" for k, d in self.keys)

    @property
    def key_pattern(self) -> dict[str, int | str]:
        return dict(self.keys)


def _ix(field_name: str, purpose: str, direction: int | str = 1) -> IndexSpec:
    return IndexSpec(((field_name, direction),), purpose)


_SORT_PATHS = tuple(dict.fromkeys(SORT_FIELDS.values()))


def _sort_indexes() -> tuple[IndexSpec, ...]:
    """For each sort key: scope + key + _id (user/anonymous pages) and key + _id (admin).

    A page then walks an index in sort order and stops at its limit on a real MongoDB:
    no blocking in-memory sort over the matches at any collection size.
    """
    out = []
    for path in _SORT_PATHS:
        direction = -1 if path == "uploadDate" else 1
        out.append(IndexSpec((("readers", 1), (path, direction), ("_id", direction)),
                             f"page of a user/anonymous scope sorted by {path}"))
        out.append(IndexSpec(((path, direction), ("_id", direction)),
                             f"page of the admin scope sorted by {path}"))
    return tuple(out)


INDEXES: tuple[IndexSpec, ...] = (
    _ix("keywords", "text search: anchored prefix of each word (multikey)"),
    _ix("readers", "access scope of every read: readers $in [public, user:<id>] (multikey)"),
    _ix("uploadDate", "date range filter; the window of recent records of unfiltered pages", -1),
    _ix("observationBaseId", "lineage(observation), observation list, the group filter"),
    _ix("dataType", "data_type filter"),
    _ix("processingLevel", "processing_level filter"),
    _ix("processingStatus", "status filter (work queues)"),
    _ix("imageInfo.instrument", "instrument filter"),
    _ix("imageInfo.filter", "filter (optical element) filter"),
    _ix("imageInfo.targetName", "target_name filter; offline target positions"),
    _ix("imageInfo.proposalPi", "proposal_pi filter"),
    _ix("imageInfo.observationDate", "observed_from / observed_to range"),
    _ix("program", "program filter and facet"),
    _ix("imageInfo.exposureTime", "exposure_time range"),
    _ix("emMin", "wavelength range: bands starting at or below its maximum (microns)"),
    _ix("emMax", "wavelength range: bands ending at or above its minimum (microns)"),
    _ix("calibration.calVer", "cal_ver filter: which pipeline version made a file"),
    _ix("calibration.contextNumber", "crds_context / made_before_context: stale files"),
    _ix("tags", "tags filter (multikey)"),
    _ix("isPublic", "is_public filter"),
    _ix("parentId", "lineage: children of a group's files in other groups"),
    _ix("derivedFrom", "lineage: products of a group's files in other groups (multikey)"),
    _ix("skyRegion", "position search: footprint or centre overlaps a cone", "2dsphere"),
    _ix("skyCells", "position search on SecantusDB: HEALPix cells of the footprint (multikey)"),
    IndexSpec(
        (("userId", 1), ("filePath", 1)),
        "one record per owner and storage key (idempotent ingest upserts)",
        {"unique": True, "partialFilterExpression": {"filePath": {"$type": "string"}}},
    ),
    IndexSpec((("filePath", 1),), "a storage key's records whatever their owner (scans)"),
    _ix("processingResults.outputFilePath",
        "scans and imports: which storage keys a processing result names as its output "
        "(multikey; without it every batch read the whole collection)"),
    *_sort_indexes(),
)
_INDEX_BY_FIELD = {spec.keys[0][0]: spec for spec in INDEXES if len(spec.keys) == 1}
# Every collection has it; not built by ensure_indexes.
_ID_INDEX = IndexSpec((("_id", 1),), "record ids")
_LEAD_INDEX = {**_INDEX_BY_FIELD, "_id": _ID_INDEX}
FALLBACK_INDEX = _INDEX_BY_FIELD["uploadDate"]


def sort_index(path: str, scoped: bool) -> IndexSpec:
    """The index that gives pages sorted by ``path`` (with the scope first when ``scoped``)."""
    lead = ("readers", 1) if scoped else None
    for spec in INDEXES:
        keys = spec.keys[1:] if scoped else spec.keys
        if (spec.keys[0] == lead or not scoped) and len(keys) == 2 and keys[0][0] == path and (
            keys[1][0] == "_id"
        ):
            return spec
    raise KeyError(path)


def lead_index(field_name: str) -> IndexSpec:
    """The single-field index a read leading with ``field_name`` uses (``_id`` included)."""
    return _LEAD_INDEX[field_name]
