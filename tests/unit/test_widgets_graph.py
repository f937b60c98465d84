"""Lineage graph layout (pure): columns, counts, colours, row order, edges, 2,000 files."""

from __future__ import annotations

import time
from dataclasses import dataclass

from jwstnb.lineage import Lineage, LineageNode
from jwstnb.schema import DataType, ProcessingLevel
from jwstnb.widgets._graph import layout_graph


@dataclass(frozen=True)
class _N:
    id: str
    file_name: str
    is_viewable: bool = True


def _node(id: str, name: str, level: str, parent: str | None = None,
          derived: tuple[str, ...] = ()) -> LineageNode:
    return LineageNode(
        id=id, file_name=name, processing_level=ProcessingLevel(level),
        data_type=DataType.IMAGE, is_viewable=not name.endswith(".ecsv"), exposure_id=None,
        parent_id=parent, derived_from=derived, file_path=None,
    )


def _chain(n: int) -> Lineage:
    """n exposures uncal -> rate -> cal, one i2d from every cal, a catalog from the i2d."""
    nodes = []
    for i in range(n):
        e = f"jw02733001001_02101_{i:05d}_nrca1"
        nodes += [
            _node(f"u{i}", f"{e}_uncal.fits", "L1"),
            _node(f"r{i}", f"{e}_rate.fits", "L2a", parent=f"u{i}"),
            _node(f"c{i}", f"{e}_cal.fits", "L2b", parent=f"r{i}"),
        ]
    nodes.append(_node("i2d", "jw02733-o001_t001_nircam_clear-f090w_i2d.fits", "L3",
                       derived=tuple(f"c{i}" for i in range(n))))
    nodes.append(_node("cat", "jw02733-o001_t001_nircam_clear-f090w_cat.ecsv", "L3",
                       parent="i2d"))
    nodes.append(_node("asn", "jw02733-o001_20220707t165838_image3_001_asn.json", "unknown"))
    return Lineage("jw02733-o001_t001_nircam", nodes)


def test_columns_in_level_order_with_counts_and_colours() -> None:
    lineage = _chain(3)
    graph = layout_graph("obs", lineage.levels, lineage.edges)
    assert [(c["level"], c["count"], c["colour"]) for c in graph["columns"]] == [
        ("L1", 3, "#ef4444"), ("L2a", 3, "#f59e0b"), ("L2b", 3, "#10b981"),
        ("L3", 2, "#3b82f6"), ("unknown", 1, "#6b7280"),
    ]
    assert graph["observation"] == "obs"
    assert graph["rows"] == 3
    columns = {n[0]: n[2] for n in graph["nodes"]}
    assert columns["u0"] == 0 and columns["r0"] == 1 and columns["c0"] == 2
    assert columns["i2d"] == 3 and columns["asn"] == 4


def test_edges_are_index_pairs_parent_to_child() -> None:
    lineage = _chain(2)
    graph = layout_graph("obs", lineage.levels, lineage.edges)
    ids = [n[0] for n in graph["nodes"]]
    pairs = {(ids[p], ids[c]) for p, c in graph["edges"]}
    assert pairs == {
        ("u0", "r0"), ("r0", "c0"), ("u1", "r1"), ("r1", "c1"),
        ("c0", "i2d"), ("c1", "i2d"), ("i2d", "cat"),
    }


def test_non_viewable_flag_is_carried() -> None:
    lineage = _chain(1)
    graph = layout_graph("obs", lineage.levels, lineage.edges)
    flags = {n[0]: n[4] for n in graph["nodes"]}
    assert flags["cat"] is False and flags["i2d"] is True


def test_children_follow_their_parents_rows() -> None:
    # L1 files sorted by name a, b, c; their L2a children come in reverse name order but
    # must be laid out in the rows of their parents.
    levels = {
        "L1": [_N("a", "a"), _N("b", "b"), _N("c", "c")],
        "L2a": [_N("zc", "z-of-c"), _N("yb", "y-of-b"), _N("xa", "x-of-a")],
    }
    edges = [("a", "xa"), ("b", "yb"), ("c", "zc")]
    graph = layout_graph("obs", levels, edges)
    rows = {n[0]: n[3] for n in graph["nodes"]}
    assert rows["xa"] == rows["a"] == 0
    assert rows["yb"] == rows["b"] == 1
    assert rows["zc"] == rows["c"] == 2


def test_same_column_child_goes_right_after_its_parent() -> None:
    # cal -> crf are both L2b: the crf sits just below its cal.
    levels = {
        "L2b": [_N("cal1", "a_cal"), _N("cal2", "b_cal"), _N("crf1", "a_crf"),
                _N("crf2", "b_crf")],
    }
    graph = layout_graph("obs", levels, [("cal1", "crf1"), ("cal2", "crf2")])
    order = [n[0] for n in sorted(graph["nodes"], key=lambda n: n[3])]
    assert order == ["cal1", "crf1", "cal2", "crf2"]


def test_dangling_duplicate_and_self_edges_are_dropped() -> None:
    levels = {"L1": [_N("a", "a")], "L2a": [_N("b", "b")]}
    edges = [("a", "b"), ("a", "b"), ("outside", "b"), ("b", "b")]
    graph = layout_graph("obs", levels, edges)
    assert graph["edges"] == [[0, 1]]


def test_unknown_level_names_go_to_the_unknown_column() -> None:
    graph = layout_graph("obs", {"L9": [_N("x", "x")]}, [])
    assert graph["columns"][-1]["count"] == 1
    assert graph["nodes"][0][2] == 4


def test_empty_observation() -> None:
    graph = layout_graph("obs", {}, [])
    assert graph["nodes"] == [] and graph["edges"] == [] and graph["rows"] == 0
    assert [c["count"] for c in graph["columns"]] == [0, 0, 0, 0, 0]


def test_same_column_cycles_keep_every_file() -> None:
    levels = {"L2b": [_N("a", "a"), _N("b", "b")]}
    graph = layout_graph("obs", levels, [("a", "b"), ("b", "a")])
    assert sorted(n[0] for n in graph["nodes"]) == ["a", "b"]
    assert sorted(n[3] for n in graph["nodes"]) == [0, 1]


def test_two_thousand_files_lay_out_quickly() -> None:
    lineage = _chain(666)  # 1,998 exposure files + i2d + cat + asn = 2,001 files
    assert len(lineage) == 2001
    start = time.perf_counter()
    graph = layout_graph("obs", lineage.levels, lineage.edges)
    elapsed = time.perf_counter() - start
    assert len(graph["nodes"]) == 2001
    assert len(graph["edges"]) == 666 * 2 + 666 + 1
    assert elapsed < 1.0, f"layout took {elapsed:.2f}s"
    # Rows are a permutation within each column.
    for col in range(5):
        rows = sorted(n[3] for n in graph["nodes"] if n[2] == col)
        assert rows == list(range(len(rows)))
