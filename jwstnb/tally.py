"""The counts summary's arithmetic (DESIGN §9): the class a stored record counts in, what a
write adds to and takes from the summary, and a scope's total and facets read back. Pure.

A *class* is the records that share who may read them (``readers``, as a set) and whether
they are archived. Every scope reads all of a class or none of it, so a scope's total is the
sum of the totals of the classes it reads, and each facet the sum of theirs. An archive has
few classes (public imports, each user's own, each distinct share), so a broad view's counts
are a sum over a handful of small maps, whatever the number of records.

The summary is one document: ``classes.<class id>`` holds ``readers``, ``archived``,
``total`` and ``facets.<facet>.<value>`` counts; a facet value is escaped to be a field name
(:func:`field_name`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jwstnb.access import PUBLIC
from jwstnb.criteria import FACETS

__all__ = [
    "COUNTED_FIELDS",
    "COUNTED_PROJECTION",
    "Change",
    "class_of",
    "classes_of",
    "facet_values",
    "field_name",
    "scope_counts",
    "value_of",
]

#: Top-level stored fields whose change can move a record in the summary (its class or one of
#: its facet values): a write that changes none of them leaves the summary alone.
COUNTED_FIELDS = frozenset(
    {"readers", "archived", *(path.split(".")[0] for path in FACETS.values())}
)

#: The projection that reads what the summary counts of a stored record.
COUNTED_PROJECTION = dict.fromkeys(sorted(COUNTED_FIELDS), 1)

_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24", "\x00": "%00"}


def field_name(value: str) -> str:
    """A facet value as a field name: ``%``, ``.``, ``$`` and NUL percent-escaped."""
    return "".join(_ESCAPES.get(c, c) for c in value)


def value_of(name: str) -> str:
    """The facet value a :func:`field_name` stands for."""
    if "%" not in name:
        return name
    out = name
    for char, escaped in _ESCAPES.items():
        if char != "%":
            out = out.replace(escaped, char)
    return out.replace("%25", "%")


def _path(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def facet_values(doc: Mapping[str, Any]) -> dict[str, str]:
    """The facet values a stored record counts under, as a search's facets key them (the
    value as text; missing and empty values are not counted)."""
    out = {}
    for name, path in FACETS.items():
        value = _path(doc, path)
        if value is None or value == "":
            continue
        out[name] = str(value)
    return out


def class_of(doc: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    """The class of a stored record: its readers (sorted, unique) and whether it is archived."""
    readers = doc.get("readers")
    names = readers if isinstance(readers, list) else []
    return tuple(sorted({str(r) for r in names})), doc.get("archived") is True


def class_id(readers: tuple[str, ...], archived: bool) -> str:
    """A class's field name in the summary (a digest: readers may hold any characters)."""
    text = json.dumps([list(readers), archived], ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class Change:
    """What one write does to the summary: ``$inc`` amounts by field, and the classes met."""

    inc: dict[str, int] = field(default_factory=dict)
    classes: dict[str, tuple[tuple[str, ...], bool]] = field(default_factory=dict)
    #: The newest ``uploadDate`` counted in (the summary keeps the newest upload too).
    newest: datetime | None = None

    def add(self, doc: Mapping[str, Any], sign: int = 1) -> None:
        """Count a stored record in (``sign`` 1) or out (-1)."""
        readers, archived = class_of(doc)
        cid = class_id(readers, archived)
        uploaded = doc.get("uploadDate")
        if sign > 0 and isinstance(uploaded, datetime):
            if uploaded.tzinfo is None:  # as the driver reads it back: UTC
                uploaded = uploaded.replace(tzinfo=UTC)
            self.newest = uploaded if self.newest is None else max(self.newest, uploaded)
        self.classes[cid] = (readers, archived)
        self._bump(f"classes.{cid}.total", sign)
        for name, value in facet_values(doc).items():
            self._bump(f"classes.{cid}.facets.{name}.{field_name(value)}", sign)

    def remove(self, doc: Mapping[str, Any]) -> None:
        """Count a stored record out."""
        self.add(doc, -1)

    def move(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        """Count a changed record out as it was and in as it is."""
        self.add(before, -1)
        self.add(after, 1)

    def _bump(self, name: str, amount: int) -> None:
        total = self.inc.get(name, 0) + amount
        if total:
            self.inc[name] = total
        else:
            self.inc.pop(name, None)

    def settings(self) -> dict[str, Any]:
        """The ``$set`` that names the classes this change counts in (readers, archived)."""
        out: dict[str, Any] = {}
        for cid, (readers, archived) in self.classes.items():
            if any(k.startswith(f"classes.{cid}.") for k in self.inc):
                out[f"classes.{cid}.readers"] = list(readers)
                out[f"classes.{cid}.archived"] = archived
        return out


def classes_of(docs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``classes`` of a summary of exactly these stored records (a recount)."""
    classes: dict[str, Any] = {}
    for doc in docs:
        readers, archived = class_of(doc)
        entry = classes.setdefault(
            class_id(readers, archived),
            {"readers": list(readers), "archived": archived, "total": 0, "facets": {}},
        )
        entry["total"] += 1
        for name, value in facet_values(doc).items():
            counts = entry["facets"].setdefault(name, {})
            key = field_name(value)
            counts[key] = counts.get(key, 0) + 1
    return classes


def _reads(entry: Mapping[str, Any], readers: list[str] | None, include_archived: bool,
           is_public: bool | None) -> bool:
    names = set(entry.get("readers") or ())
    if entry.get("archived") is True and not include_archived:
        return False
    if is_public is not None and (PUBLIC in names) != is_public:
        return False
    return readers is None or bool(names & set(readers))


def scope_counts(
    classes: Mapping[str, Any],
    readers: list[str] | None,
    *,
    include_archived: bool = False,
    is_public: bool | None = None,
) -> tuple[int, dict[str, dict[str, int]]]:
    """The total and facets (value -> count, unordered, no zero counts) that a scope with
    ``readers`` (None: an admin, who reads every class) finds with no other criteria."""
    total = 0
    facets: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    for entry in classes.values():
        if not isinstance(entry, Mapping) or not _reads(entry, readers, include_archived,
                                                        is_public):
            continue
        total += int(entry.get("total") or 0)
        for name, counts in (entry.get("facets") or {}).items():
            if name not in facets or not isinstance(counts, Mapping):
                continue
            for key, n in counts.items():
                value = value_of(key)
                facets[name][value] = facets[name].get(value, 0) + int(n)
    return total, {
        name: {v: n for v, n in counts.items() if n} for name, counts in facets.items()
    }
