"""LineageViewer's Python side with a fake session (through the LineageSession Protocol):
external nodes dimmed and jumping to their group, association links, counts per group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from jwstnb.schema import JwstDataModel
from jwstnb.widgets._common import LineageSession
from jwstnb.widgets._graph import association_links, layout_graph
from jwstnb.widgets.lineage import LineageViewer

OWN = "jw02733-o001_t001_nircam"
OTHER = "jw02733-o002_t001_nircam"
ASN = "jw02733-o001_20220707t165838_image3_001_asn.json"
PRODUCT = "jw02733-o001_t001_nircam_clear-f090w"


@dataclass(frozen=True)
class Node:
    """A lineage node as the session returns it, with the external flag of cross-group files."""

    id: str
    file_name: str
    processing_level: str
    observation_base_id: str
    parents: tuple[str, ...] = ()
    external: bool = False
    is_viewable: bool = True
    record: Any = field(default=None, compare=False)


class FakeLineage:
    """The part of jwstnb.lineage.Lineage the viewer reads."""

    def __init__(self, group: str, nodes: list[Node]) -> None:
        self.observation_base_id = group
        self.nodes = nodes
        self._by_id = {n.id: n for n in nodes}
        self.edges = [(p, n.id) for n in nodes for p in n.parents if p in self._by_id]

    @property
    def levels(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {k: [] for k in ("L1", "L2a", "L2b", "L3", "unknown")}
        for node in self.nodes:
            out[node.processing_level].append(node)
        return out

    def node(self, id: str) -> Node:
        return self._by_id[id]

    def parents(self, id: str) -> list[Node]:
        return [self._by_id[p] for p in self._by_id[id].parents if p in self._by_id]

    def children(self, id: str) -> list[Node]:
        return [n for n in self.nodes if id in n.parents]


def _record(node: Node, **metadata: Any) -> JwstDataModel:
    return JwstDataModel(
        id=f"{int(node.id[1:]) if node.id[1:].isdigit() else 99:024x}", file_name=node.file_name,
        data_type="image", processing_level=node.processing_level,
        observation_base_id=node.observation_base_id, metadata=metadata,
    )


def _groups() -> dict[str, list[Node]]:
    cal1 = Node("c1", "jw02733001001_02101_00001_nrca1_cal.fits", "L2b", OWN)
    cal2 = Node("c2", "jw02733002001_02101_00001_nrca1_cal.fits", "L2b", OTHER)
    i2d = Node("m1", f"{PRODUCT}_i2d.fits", "L3", OWN, parents=("c1", "c2"))
    asn = Node("a1", ASN, "unknown", OWN, is_viewable=False)
    asn = Node(**{**asn.__dict__, "record": _record(
        asn, asn_members=[cal1.file_name, cal2.file_name], asn_product=PRODUCT)})
    return {
        # The mosaic combines a cal of another observation: that one is external here.
        OWN: [cal1, Node(**{**cal2.__dict__, "external": True}), i2d, asn],
        OTHER: [cal2, Node(**{**i2d.__dict__, "external": True})],
    }


class FakeSession:
    def __init__(self) -> None:
        self.groups = _groups()
        self.loaded: list[str] = []

    def lineage(self, group: str) -> FakeLineage:
        self.loaded.append(group)
        return FakeLineage(group, self.groups[group])

    def observations(self) -> list[str]:
        return sorted(self.groups)

    def get(self, record_id: str) -> JwstDataModel:
        for nodes in self.groups.values():
            for node in nodes:
                if node.id == record_id:
                    return node.record or _record(node)
        raise LookupError(record_id)


@pytest.fixture
def session() -> FakeSession:
    return FakeSession()


def test_the_fake_is_a_lineage_session(session: FakeSession) -> None:
    assert isinstance(session, LineageSession)


def test_external_nodes_are_drawn_marked_and_not_counted(session: FakeSession) -> None:
    viewer = LineageViewer(session, OWN)  # type: ignore[arg-type]
    nodes = {n[0]: n for n in viewer.graph.graph["nodes"]}
    assert nodes["c2"][5] == OTHER and nodes["c1"][5] == "" and nodes["m1"][5] == ""
    # the association is drawn as a hub linking members to the product, not counted as a file
    assert viewer.counts == {"L1": 0, "L2a": 0, "L2b": 1, "L3": 1, "unknown": 0}
    l2b = next(c for c in viewer.graph.graph["columns"] if c["level"] == "L2b")
    assert (l2b["count"], l2b["external"]) == (1, 1)
    names = [n[1] for n in viewer.graph.graph["nodes"]]
    edges = {(names[p], names[c]) for p, c in viewer.graph.graph["edges"]}
    assert (nodes["c2"][1], nodes["m1"][1]) in edges  # the cross-group edge is drawn
    assert "2 files and 1 association" in viewer.summary.value


def test_clicking_an_external_node_opens_its_group(session: FakeSession) -> None:
    viewer = LineageViewer(session, OWN)  # type: ignore[arg-type]
    viewer.graph.selected_id = "c2"  # a click on the dimmed file
    assert viewer.observation_base_id == OTHER == viewer.observation_dropdown.value
    assert viewer.selected_id == "c2" and viewer.selected["file_name"].startswith("jw02733002")
    assert session.loaded[-1] == OTHER
    # and back through the mosaic, external in that group
    viewer.graph.selected_id = "m1"
    assert viewer.observation_base_id == OWN and viewer.selected_id == "m1"


def test_the_association_links_its_members_to_its_product(session: FakeSession) -> None:
    viewer = LineageViewer(session, OWN)  # type: ignore[arg-type]
    graph = viewer.graph.graph
    names = [n[1] for n in graph["nodes"]]
    assert ASN not in names  # not a file in the "unknown" column
    ((hub_id, name, label, column, row, members, products),) = graph["associations"]
    assert (hub_id, name, label) == ("a1", ASN, "image3 o001 #001")
    assert {names[i] for i in members} == {
        "jw02733001001_02101_00001_nrca1_cal.fits", "jw02733002001_02101_00001_nrca1_cal.fits"}
    assert [names[i] for i in products] == [f"{PRODUCT}_i2d.fits"]
    assert column == 3 and row == 0  # in the gap before the L3 column, at its product
    # clicking the hub shows the association's details
    viewer.graph.selected_id = "a1"
    assert viewer.selected["file_name"] == ASN and ASN in viewer.details_html.value


def test_association_links_match_names_case_and_gz_blind() -> None:
    @dataclass
    class N:
        id: str
        file_name: str
        record: Any = None

    asn = N("a", "x_asn.json", _record(Node("a", "x_asn.json", "unknown", OWN),
                                       asn_members=["JW1_CAL.fits"], asn_product="prod"))
    nodes = [asn, N("m", "jw1_cal.fits.gz"), N("p", "prod_i2d.fits"), N("q", "product_i2d.fits")]
    assert association_links(nodes) == [("a", "m"), ("a", "p")]
    assert association_links([N("z", "plain.fits")]) == []


def test_layout_keeps_links_only_between_drawn_files() -> None:
    @dataclass
    class N:
        id: str
        file_name: str

    graph = layout_graph("g", {"L1": [N("a", "a"), N("b", "b")]}, [],
                         links=[("a", "b"), ("a", "gone"), ("b", "b")])
    assert graph["links"] == [[0, 1]]
