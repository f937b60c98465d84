"""The counts summary's arithmetic (jwstnb.tally): pure, no server."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jwstnb.criteria import Criteria
from jwstnb.tally import (
    COUNTED_FIELDS,
    Change,
    class_of,
    classes_of,
    field_name,
    scope_counts,
    value_of,
)


def doc(readers: list[str], *, archived: bool = False, instrument: str | None = "NIRCAM",
        status: str = "pending", target: str | None = "NGC 3132") -> dict[str, Any]:
    return {
        "readers": readers,
        "archived": archived,
        "dataType": "image",
        "processingLevel": "L3",
        "processingStatus": status,
        "imageInfo": {"instrument": instrument, "targetName": target, "filter": "F090W"},
        "program": "02733",
    }


def apply(inc: dict[str, int]) -> dict[str, Any]:
    """A summary's classes after ``$inc`` of ``inc`` on an empty one (dotted paths)."""
    out: dict[str, Any] = {}
    for path, n in inc.items():
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = node.get(leaf, 0) + n
    return out.get("classes", {})


@given(st.text(max_size=40))
def test_a_facet_value_survives_as_a_field_name(value: str) -> None:
    name = field_name(value)
    assert "." not in name and "$" not in name and "\x00" not in name
    assert value_of(name) == value


def test_readers_are_a_set_and_archived_splits_a_class() -> None:
    assert class_of({"readers": ["user:b", "public", "user:b"]}) == (("public", "user:b"), False)
    assert class_of({"readers": ["public"], "archived": True}) == (("public",), True)
    assert class_of({}) == ((), False)  # nobody but an admin reads it


def test_a_change_that_moves_nothing_writes_nothing() -> None:
    change = Change()
    change.move(doc(["public"]), doc(["public"]))
    assert change.inc == {} and change.settings() == {}


def test_a_status_change_moves_one_facet_value() -> None:
    change = Change()
    change.move(doc(["public"]), doc(["public"], status="processing"))
    assert sorted(change.inc.values()) == [-1, 1]
    assert all(".facets.status." in k for k in change.inc)


def test_newest_upload_is_the_newest_counted_in() -> None:
    change = Change()
    old, new = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1)  # naive: UTC
    change.add({**doc(["public"]), "uploadDate": new})
    change.add({**doc(["public"]), "uploadDate": old})
    change.remove({**doc(["public"]), "uploadDate": datetime(2030, 1, 1)})
    assert change.newest == new.replace(tzinfo=UTC)


def test_scopes_read_the_classes_they_may_read() -> None:
    docs = [
        doc(["public"]), doc(["public"], archived=True), doc(["user:alice"]),
        doc(["group:lab", "user:alice"]), doc(["public", "user:bob"], instrument="MIRI"),
        doc([]),
    ]
    classes = classes_of(docs)
    assert scope_counts(classes, None)[0] == 5  # admin: all but the archived one
    assert scope_counts(classes, None, include_archived=True)[0] == 6
    assert scope_counts(classes, ["public"])[0] == 2
    assert scope_counts(classes, ["public", "user:alice"])[0] == 4
    assert scope_counts(classes, ["public", "user:carol", "group:lab"])[0] == 3
    assert scope_counts(classes, None, is_public=False)[0] == 3
    total, facets = scope_counts(classes, ["public", "user:bob"], is_public=True)
    assert total == 2 and facets["instrument"] == {"NIRCAM": 1, "MIRI": 1}


records = st.builds(
    doc,
    st.lists(st.sampled_from(["public", "user:a", "user:b", "group:g"]), max_size=3),
    archived=st.booleans(),
    instrument=st.sampled_from(["NIRCAM", "MIRI", "a.b$c%", None, ""]),
    status=st.sampled_from(["pending", "processing", "completed"]),
    target=st.text(max_size=6),
)


@settings(max_examples=200)
@given(st.lists(records, max_size=12), st.lists(st.tuples(st.integers(0, 11), records),
                                                 max_size=12))
def test_changes_add_up_to_a_recount(start: list[dict[str, Any]],
                                     edits: list[tuple[int, dict[str, Any]]]) -> None:
    """Inserting, then changing and deleting records through Change deltas gives exactly the
    classes a recount of the final records gives, for every scope."""
    change = Change()
    current = list(start)
    for d in start:
        change.add(d)
    for index, new in edits:
        if not current:
            break
        i = index % len(current)
        if new["imageInfo"]["targetName"] == "":  # some edits delete
            change.remove(current.pop(i))
        else:
            change.move(current[i], new)
            current[i] = new
    kept = apply(change.inc)
    for cid, (readers, archived) in change.classes.items():
        if cid in kept:
            kept[cid].update(readers=list(readers), archived=archived)
    recounted = classes_of(current)
    for readers in (None, ["public"], ["public", "user:a"], ["public", "group:g"]):
        for archived in (False, True):
            assert scope_counts(kept, readers, include_archived=archived) == scope_counts(
                recounted, readers, include_archived=archived)
    assert scope_counts(recounted, None, include_archived=True)[0] == len(current)
    assert Counter(d["processingStatus"] for d in current if d["archived"] is not True) == \
        Counter(scope_counts(kept, None)[1]["status"])


def test_counted_fields_cover_every_facet_and_the_class() -> None:
    assert {"readers", "archived", "imageInfo", "processingStatus", "program"} <= COUNTED_FIELDS
    assert "tags" not in COUNTED_FIELDS and "description" not in COUNTED_FIELDS


def test_only_broad_criteria_are_unfiltered() -> None:
    assert Criteria().unfiltered
    assert Criteria(include_archived=True, is_public=True, page=3, sort="fileName").unfiltered
    assert not Criteria(instrument="MIRI").unfiltered
    assert not Criteria(text="ngc").unfiltered
    assert not Criteria(position=(10.0, 20.0), radius=0.1).unfiltered
    assert not Criteria(made_before_context=1200).unfiltered
