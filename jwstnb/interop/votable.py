"""ObsCore (and other) tables to and from VOTable, UCDs and utypes kept.

astropy writes a column's ``meta["ucd"]`` and ``meta["utype"]`` as the FIELD's ``ucd`` and
``utype`` attributes only when the table goes through :class:`astropy.io.votable.tree`; a
plain ``Table.write(format="votable")`` drops the utype. :func:`write` sets both on every
FIELD, and :func:`read` puts them back into ``meta``, so a table read back carries the same
names, units, UCDs and utypes it was written with.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from astropy.table import Table

__all__ = ["read", "to_bytes", "write"]


def _votable(table: Table) -> Any:
    """An astropy VOTableFile of ``table`` with each FIELD's ucd/utype from column meta."""
    from astropy.coordinates import SkyCoord
    from astropy.io.votable import from_table
    from astropy.table import Table as _Table

    plain = _Table(table, copy=False)
    mixins = [n for n in plain.colnames if isinstance(plain[n], SkyCoord)]
    if mixins:  # VOTable holds plain columns: positions travel as their ra/dec columns
        plain = plain.copy(copy_data=False)
        plain.remove_columns(mixins)
    votable = from_table(plain)
    resource_table = votable.get_first_table()
    for field in resource_table.fields:
        meta = plain[field.name].meta or {}
        if meta.get("ucd"):
            field.ucd = meta["ucd"]
        if meta.get("utype"):
            field.utype = meta["utype"]
        description = getattr(plain[field.name], "description", None)
        if description:
            field.description = description
    if plain.meta.get("model"):
        resource_table.utype = "obscore:Obs" if "ObsCore" in str(plain.meta["model"]) else None
    return votable


def write(table: Table, target: str | os.PathLike[str] | Any) -> None:
    """Write ``table`` as a VOTable (TABLEDATA serialisation, read by every VO tool) to a
    path or a binary file object, with every column's UCD, utype, unit and description."""
    from jwstnb.errors import JwstnbError

    votable = _votable(table)
    try:
        votable.to_xml(target if not isinstance(target, os.PathLike) else os.fspath(target))
    except (OSError, ValueError) as exc:
        raise JwstnbError(f"cannot write the VOTable to {target!r}: {exc}") from None


def to_bytes(table: Table) -> bytes:
    """``table`` as VOTable XML bytes (what :func:`write` would write)."""
    buffer = io.BytesIO()
    _votable(table).to_xml(buffer)
    return buffer.getvalue()


def read(source: str | os.PathLike[str] | bytes | Any) -> Table:
    """A VOTable (path, bytes or file object) as an astropy Table; each column's ``meta``
    holds its ``ucd`` and ``utype`` as written."""
    from astropy.io.votable import parse

    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(bytes(source))
    elif isinstance(source, os.PathLike):
        source = os.fspath(source)
    votable = parse(source)
    resource_table = votable.get_first_table()
    table = resource_table.to_table(use_names_over_ids=True)
    for field in resource_table.fields:
        column = table[field.name]
        if field.ucd:
            column.meta["ucd"] = field.ucd
        if field.utype:
            column.meta["utype"] = field.utype
    return table
