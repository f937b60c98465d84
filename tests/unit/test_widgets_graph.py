"""Lineage graph layout (pure): columns, counts, colours, row order, edges, 2,000 files."""

from __future__ import annotations

from dataclasses import dataclass

from jwstnb.lineage import Lineage, LineageNode
from jwstnb.schema import DataType, ProcessingLevel
from jwstnb.widgets._graph import ROLE_COLOURS, layout_graph


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


def test_two_thousand_files_are_all_laid_out() -> None:
    """Every file and edge of a big group is drawn (its speed: ``benchmarks/widgets.py``)."""
    lineage = _chain(666)  # 1,998 exposure files + i2d + cat + asn = 2,001 files
    assert len(lineage) == 2001
    graph = layout_graph("obs", lineage.levels, lineage.edges)
    assert len(graph["nodes"]) == 2001
    assert len(graph["edges"]) == 666 * 2 + 666 + 1
    # Rows are a permutation within each column.
    for col in range(5):
        rows = sorted(n[3] for n in graph["nodes"] if n[2] == col)
        assert rows == list(range(len(rows)))


# --- labels, roles, associations ----------------------------------------------------------------


def test_labels_tell_the_files_of_a_column_apart() -> None:
    """The sample's four L1 files used to read the same once elided (``jw027…_uncal.fits``)."""
    from jwstnb.widgets._graph import node_labels

    uncal = [f"jw02733001001_02101_{e}_{d}_uncal.fits"
             for e in ("00001", "00002") for d in ("nrca1", "nrcb1")]
    assert node_labels(uncal) == ["00001_nrca1_uncal", "00001_nrcb1_uncal",
                                  "00002_nrca1_uncal", "00002_nrcb1_uncal"]
    assert node_labels(["jw02733001001_02101_00001_nrca1_o001_crf.fits",
                        "jw02733-o001_t001_nircam_clear-f090w_i2d.fits",
                        "jw01538-o161_t002-s000000001_nirspec_f290lp-g395h_s2d.fits",
                        "jw01366004001_04101_00001-seg002_nrs1_x1dints.fits",
                        "notes.txt"]) == [
        "00001_nrca1_o001_crf", "clear-f090w_i2d", "s000000001_f290lp-g395h_s2d",
        "00001-seg002_nrs1_x1dints", "notes"]
    # exposures of two observations in one column (external parents): more of the name
    two = node_labels(["jw02733001001_02101_00001_nrca1_cal.fits",
                       "jw02733002001_02101_00001_nrca1_cal.fits"])
    assert two == ["02733001001_02101_00001_nrca1_cal", "02733002001_02101_00001_nrca1_cal"]
    assert node_labels(["a/x_cal.fits", "b/x_cal.fits"]) == ["a/x_cal.fits", "b/x_cal.fits"]


def test_nodes_carry_their_label_and_the_full_name() -> None:
    graph = layout_graph("obs", _chain(2).levels, _chain(2).edges)
    by_id = {n[0]: n for n in graph["nodes"]}
    assert by_id["u1"][1] == "jw02733001001_02101_00001_nrca1_uncal.fits"
    assert by_id["u1"][6] == "00001_nrca1_uncal" and by_id["i2d"][6] == "clear-f090w_i2d"


def _coronagraphy() -> Lineage:
    sci = _node("s", "jw01386001001_04101_00001_nrcalong_calints.fits", "L2b")
    psf = _node("p", "jw01386002001_04101_00001_nrcalong_calints.fits", "L2b")
    i2d = LineageNode(
        id="m", file_name="jw01386-a3001_t001_nircam_f444w-maskrnd_i2d.fits",
        processing_level=ProcessingLevel.L3, data_type=DataType.IMAGE, is_viewable=True,
        exposure_id=None, parent_id=None, derived_from=("p", "s"), file_path=None,
        derived_roles={"s": "science", "p": "psf"},
    )
    return Lineage("jw01386-a3001_t001_nircam", [sci, psf, i2d])


def test_role_edges_are_listed_with_their_colour_and_a_legend() -> None:
    lineage = _coronagraphy()
    graph = layout_graph("g", lineage.levels, lineage.edges, roles=lineage.edge_roles)
    ids = [n[0] for n in graph["nodes"]]
    assert [(ids[p], ids[c], role) for p, c, role, _ in graph["roles"]] == [("p", "m", "psf")]
    assert graph["legend"] == [["psf", ROLE_COLOURS["psf"]]]
    assert len(graph["edges"]) == 2  # the science edge is an ordinary edge, the PSF one too
    plain = layout_graph("g", lineage.levels, lineage.edges)
    assert plain["roles"] == [] and plain["legend"] == []


def test_an_association_is_a_hub_between_members_and_products() -> None:
    lineage = _chain(2)
    hubs = {"asn": (["c0", "c1"], ["i2d", "cat"])}
    graph = layout_graph("obs", lineage.levels, lineage.edges, associations=hubs)
    ids = [n[0] for n in graph["nodes"]]
    assert "asn" not in ids and graph["columns"][4]["count"] == 0
    ((hub, name, label, column, row, members, products),) = graph["associations"]
    assert hub == "asn" and label == "image3 o001 #001" and name.endswith("_asn.json")
    assert sorted(ids[i] for i in members) == ["c0", "c1"]
    assert sorted(ids[i] for i in products) == ["cat", "i2d"]
    assert column == 3 and row == 0.5  # before L3, between the i2d and its catalog
    # an association none of whose files is drawn stays a file of the unknown column
    alone = layout_graph("obs", lineage.levels, lineage.edges,
                         associations={"asn": (["gone"], [])})
    assert alone["associations"] == [] and "asn" in [n[0] for n in alone["nodes"]]


def test_association_groups_take_every_product_made_from_the_members() -> None:
    from bson import ObjectId

    from jwstnb.schema import JwstDataModel
    from jwstnb.widgets._graph import association_groups

    exp = "jw01536028001_03102_0000{}_mirimage"
    meta = {"asn_product_members": [
        {"name": exp.format(1), "members": [{"expname": f"{exp.format(1)}_rate.fits",
                                             "exptype": "science"},
                                            {"expname": f"{exp.format(2)}_rate.fits",
                                             "exptype": "background"}]},
        {"name": exp.format(2), "members": [{"expname": f"{exp.format(2)}_rate.fits",
                                             "exptype": "science"}]},
    ]}
    asn_name = "jw01536-o028_20230101t000000_spec2_00001_asn.json"
    record = JwstDataModel(_id=ObjectId(), file_name=asn_name, data_type="metadata",
                           metadata=meta)
    nodes = [
        _node("u1", f"{exp.format(1)}_uncal.fits", "L1"),
        _node("r1", f"{exp.format(1)}_rate.fits", "L2a", parent="u1"),
        _node("r2", f"{exp.format(2)}_rate.fits", "L2a"),
        _node("c1", f"{exp.format(1)}_cal.fits", "L2b", derived=("r1", "r2")),
        _node("c2", f"{exp.format(2)}_cal.fits", "L2b", parent="r2"),
        _node("x1", f"{exp.format(1)}_x1d.fits", "L2b", parent="c1"),
        LineageNode(id="asn", file_name=asn_name, processing_level=ProcessingLevel.UNKNOWN,
                    data_type=DataType.METADATA, is_viewable=False, exposure_id=None,
                    parent_id=None, derived_from=(), file_path=None, record=record),
    ]
    members, products = association_groups(nodes)["asn"]
    assert members == ["r1", "r2"]
    # both products' files, made from the members (the uncal shares the name, not the making)
    assert sorted(products) == ["c1", "c2", "x1"]
