"""What a search returns: a :class:`Page` of records with its total and facets, the
:class:`Counts` alone, and records as an astropy Table."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jwstnb.schema import JwstDataModel

if TYPE_CHECKING:
    from astropy.table import Table

__all__ = ["Counts", "Page", "records_table"]


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

    def to_table(self, schema: str = "default", access_url: Any = None) -> Table:
        """The items as an astropy Table: one column per field users read, ``coord`` a
        SkyCoord; ``schema="obscore"`` gives ObsCore 1.1 columns first (see
        :func:`records_table`)."""
        return records_table(self.items, schema=schema, access_url=access_url)

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


def records_table(
    records: Sequence[JwstDataModel], schema: str = "default", access_url: Any = None
) -> Table:
    """Records as an astropy Table (units on exposure time, size, RA/Dec; a SkyCoord column
    ``coord`` where every record has a position, masked rows otherwise).

    ``schema="obscore"``: the IVOA ObsCore 1.1 columns (``s_ra``, ``s_dec``, ``s_region``,
    ``t_min``...) with units and UCDs, then jwstnb's own (:mod:`jwstnb.interop.obscore`);
    ``access_url`` is a Storage or a function record -> URL for its ``access_url`` column.
    """
    if schema == "obscore":
        from jwstnb.interop import obscore

        return obscore.table(records, access_url=access_url)
    if schema != "default":
        from jwstnb.errors import invalid

        raise invalid("schema", "schema is 'default' or 'obscore'", schema)
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

