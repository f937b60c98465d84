"""Export and restore the collection as extended JSON lines, to and from any fsspec URL.

One document per line in MongoDB's canonical extended JSON (``bson.json_util``), so
ObjectIds, UTC dates, 32/64-bit integers, doubles and binary fields (thumbnails) come back
exactly. ``.gz``/``.bz2``/... URLs are compressed by their suffix. ``export`` writes what the
session may read (an admin: everything); ``restore`` is admin work (it writes records as
they were, owners included). A restore checks the whole file first and then writes all of
it or nothing; the fields jwstnb derives (who may read, keywords, sky) are recomputed from
each record's own fields, never taken from the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from jwstnb.config import redact
from jwstnb.errors import StorageNotConfigured, invalid

if TYPE_CHECKING:
    from jwstnb.session import Session

__all__ = ["MAX_PROBLEMS", "export", "read_backup", "restore"]

#: A restore that finds problems reports at most this many lines (then "and N more").
MAX_PROBLEMS = 20


def _json_options() -> Any:
    from bson.json_util import CANONICAL_JSON_OPTIONS

    return CANONICAL_JSON_OPTIONS.with_options(tz_aware=True, tzinfo=UTC)


def _local_parent_exists(url: str) -> None:
    """Refuse to create folders for a local export: the parent folder must exist."""
    path = url.removeprefix("file://") if url.startswith("file://") else url
    if "://" in path:
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise StorageNotConfigured(
            f"cannot write {redact(url)}: the folder {parent} does not exist (create it first)"
        )


def export(session: Session, url: str, **storage_options: Any) -> int:
    """Write every record ``session`` may read to ``url`` (JSON lines); returns the count.

    Records are written in ``_id`` order as stored. A local file is written next to its
    final name and moved into place when complete, so a failed export leaves no half file.
    """
    import fsspec
    from bson.json_util import dumps

    _local_parent_exists(url)
    options = _json_options()
    count = 0
    with fsspec.open(
        url, "wt", encoding="utf-8", compression="infer", auto_mkdir=False, **storage_options
    ) as fh:
        for doc in session.export_cursor():
            fh.write(dumps(doc, json_options=options))
            fh.write("\n")
            count += 1
    return count


def _problem(number: int, doc: Any) -> str | None:
    """Why line ``number`` is not a record jwstnb can restore, or None."""
    from pydantic import ValidationError

    from jwstnb.schema import JwstDataModel

    if not isinstance(doc, dict) or "_id" not in doc:
        return f"line {number}: not a record with an _id"
    bad = _operator_key(doc)
    if bad is not None:
        return (
            f"line {number}: {bad}: field names may not start with '$' or contain '.' (dots "
            "only inside metadata, whose keys may be file names)"
        )
    try:
        JwstDataModel.from_document(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "record"
        return f"line {number}: {where}: {first.get('msg')}"
    return None


def _operator_key(value: Any, path: str = "", dots: bool = False) -> str | None:
    """The first key that could act as an operator (``$...``) or, outside ``metadata``
    (free-form: an association's member file names are keys there), a path (``a.b``)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            name = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str) or key.startswith("$") or ("." in key and not dots):
                return name
            found = _operator_key(inner, name, dots or name == "metadata")
            if found:
                return found
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found = _operator_key(inner, f"{path}[{i}]", dots)
            if found:
                return found
    return None


def read_backup(url: str, **storage_options: Any) -> list[tuple[int, dict[str, Any]]]:
    """Read and check a whole backup file: (line number, document) pairs.

    Derived fields stay in place (the restore recomputes them). Every problem (bad JSON, not
    a record, an invalid field, a ``$`` field name, an ``_id`` given twice) is reported as
    ``line N: field: problem`` in one ValidationError.
    """
    import fsspec
    from bson.json_util import loads

    options = _json_options()
    problems: list[str] = []
    documents: list[tuple[int, dict[str, Any]]] = []
    first_line: dict[Any, int] = {}
    with fsspec.open(url, "rt", encoding="utf-8", compression="infer", **storage_options) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                doc = loads(line, json_options=options)
            except ValueError as exc:
                problems.append(f"line {number}: not extended JSON ({str(exc)[:120]})")
                continue
            problem = _problem(number, doc)
            if problem is None and doc["_id"] in first_line:
                problem = f"line {number}: _id: {doc['_id']} is already on line " + str(
                    first_line[doc["_id"]]
                )
            if problem is not None:
                problems.append(problem)
                continue
            first_line[doc["_id"]] = number
            documents.append((number, doc))
    if problems:
        more = len(problems) - MAX_PROBLEMS
        shown = "; ".join(problems[:MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
        raise invalid("line", f"{redact(url)}: nothing restored: {shown}")
    return documents


def restore(session: Session, url: str, **storage_options: Any) -> int:
    """Load the records in ``url`` (written by :func:`export`); returns how many it held.

    The whole file is checked first; then it is written all or nothing
    (:meth:`jwstnb.session.Session.restore_documents`). A record whose ``_id`` exists is
    replaced; the server's validator checks each.
    """
    session.require_admin("restore (it writes records as they were, owners included)")
    return session.restore_documents(read_backup(url, **storage_options))
