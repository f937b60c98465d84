"""Layout of a lineage graph for the viewer: columns by level, row order, edges by index.

Pure: takes anything shaped like :class:`jwstnb.lineage.Lineage` (``.levels`` mapping level ->
nodes with ``id``/``file_name``/``is_viewable``, and optionally ``external`` with the
``observation_base_id`` of the group they belong to; ``.edges`` as (parent id, child id)
pairs) and returns a compact, JSON-friendly dict that the browser view draws as one SVG. Rows are
ordered so children sit near their parents (barycentre of the parents' rows, one pass per
column, children of a same-column parent right after it), which keeps edges short without
an expensive crossing minimisation; it is linear in files + edges, so 2,000 files lay out in
milliseconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jwstnb.widgets._format import LEVEL_COLOURS, LEVELS

__all__ = ["association_links", "layout_graph"]


def _external(node: Any) -> bool:
    return bool(getattr(node, "external", False))


def _level_of(name: str) -> str:
    return name if name in LEVEL_COLOURS else "unknown"


def layout_graph(
    observation_base_id: str,
    levels: Mapping[str, Sequence[Any]],
    edges: Iterable[tuple[str, str]],
    links: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Lay out one observation's files for drawing.

    Returns ``{"observation", "columns", "nodes", "edges", "links", "rows"}`` where
    ``columns`` is the five levels in order (L1, L2a, L2b, L3, unknown) with ``count`` (the
    group's own files), ``external`` (other groups' files) and ``colour``, ``nodes`` is a
    list of ``[id, file_name, column, row, viewable, group]`` (``group`` is the other
    group's id for an external node, else ""), ``edges`` a list of
    ``[parent index, child index]`` into ``nodes`` (edges to files not drawn are dropped,
    duplicates removed) and ``links`` the same for ``links`` (association -> member or
    product, drawn dashed). ``rows`` is the length of the longest column.
    """
    column_nodes: dict[str, list[Any]] = {level: [] for level in LEVELS}
    for level, nodes in levels.items():
        column_nodes[_level_of(str(level))].extend(nodes)

    column_of: dict[str, int] = {}
    by_id: dict[str, Any] = {}
    for col, level in enumerate(LEVELS):
        for node in column_nodes[level]:
            node_id = str(node.id)
            if node_id in by_id:  # a file listed twice keeps its first (lower) level
                continue
            by_id[node_id] = node
            column_of[node_id] = col

    parents: dict[str, list[str]] = defaultdict(list)
    edge_pairs: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for parent, child in edges:
        pair = (str(parent), str(child))
        if pair in seen or pair[0] not in by_id or pair[1] not in by_id or pair[0] == pair[1]:
            continue
        seen.add(pair)
        edge_pairs.append(pair)
        parents[pair[1]].append(pair[0])

    row_of: dict[str, int] = {}
    ordered_columns: list[list[str]] = []
    for col, level in enumerate(LEVELS):
        ids = [str(n.id) for n in column_nodes[level] if column_of.get(str(n.id)) == col]
        ids = list(dict.fromkeys(ids))
        ordered = _order_column(ids, col, by_id, parents, column_of, row_of)
        for row, node_id in enumerate(ordered):
            row_of[node_id] = row
        ordered_columns.append(ordered)

    index: dict[str, int] = {}
    nodes_out: list[list[Any]] = []
    for col, ordered in enumerate(ordered_columns):
        for row, node_id in enumerate(ordered):
            node = by_id[node_id]
            index[node_id] = len(nodes_out)
            group = str(getattr(node, "observation_base_id", None) or "?")
            nodes_out.append([
                node_id, str(node.file_name), col, row, bool(getattr(node, "is_viewable", True)),
                group if _external(node) else "",
            ])
    link_pairs = {
        (index[a], index[b]) for a, b in links if a in index and b in index and a != b
    }
    return {
        "observation": observation_base_id,
        "columns": [
            {
                "level": level,
                "count": sum(1 for n in ordered_columns[i] if not _external(by_id[n])),
                "external": sum(1 for n in ordered_columns[i] if _external(by_id[n])),
                "colour": LEVEL_COLOURS[level],
            }
            for i, level in enumerate(LEVELS)
        ],
        "nodes": nodes_out,
        "edges": [[index[p], index[c]] for p, c in edge_pairs],
        "links": [list(pair) for pair in sorted(link_pairs)],
        "rows": max((len(c) for c in ordered_columns), default=0),
    }


def _order_column(
    ids: list[str],
    col: int,
    by_id: Mapping[str, Any],
    parents: Mapping[str, list[str]],
    column_of: Mapping[str, int],
    row_of: Mapping[str, int],
) -> list[str]:
    """Order one column: files placed by the mean row of their parents in earlier columns,
    then files whose parent is in this column right after that parent (depth first)."""

    def name(node_id: str) -> str:
        return str(by_id[node_id].file_name).lower()

    inner_children: dict[str, list[str]] = defaultdict(list)
    roots: list[tuple[float, str, str]] = []
    for node_id in ids:
        same = [p for p in parents.get(node_id, ()) if column_of.get(p) == col]
        if same:
            inner_children[min(same, key=name)].append(node_id)
            continue
        earlier = [row_of[p] for p in parents.get(node_id, ()) if p in row_of]
        # Files without parents go after the placed ones, by name (exposure order for L1).
        key = sum(earlier) / len(earlier) if earlier else float("inf")
        roots.append((key, name(node_id), node_id))
    roots.sort()

    ordered: list[str] = []
    placed: set[str] = set()

    def place(node_id: str) -> None:
        stack = [node_id]
        while stack:
            current = stack.pop()
            if current in placed:
                continue
            placed.add(current)
            ordered.append(current)
            stack.extend(sorted(inner_children.get(current, ()), key=name, reverse=True))

    for _, _, node_id in roots:
        place(node_id)
    # Same-column cycles (not expected from the lineage rules) would leave files out: keep them.
    for node_id in sorted((i for i in ids if i not in placed), key=name):
        place(node_id)
    return ordered


def association_links(nodes: Iterable[Any]) -> list[tuple[str, str]]:
    """(association id, file id) pairs linking each association file to its members and its
    product, from the ``asn_members`` / ``asn_product`` a scan stores in the record's metadata.

    Members match by file name (case and a ``.gz`` ignored); the product matches every file
    whose name is the product name plus a ``_suffix`` (the i2d, its catalog, segmentation map).
    """
    nodes = list(nodes)
    by_name: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        by_name[_name_key(str(node.file_name))].append(str(node.id))
    out: list[tuple[str, str]] = []
    for node in nodes:
        metadata = getattr(getattr(node, "record", None), "metadata", None) or {}
        members = metadata.get("asn_members") or ()
        product = str(metadata.get("asn_product") or "").strip().lower()
        if not members and not product:
            continue
        targets = [i for m in members if isinstance(m, str) for i in by_name.get(_name_key(m), ())]
        if product:
            targets += [
                str(other.id) for other in nodes
                if str(other.file_name).lower().startswith(product + "_")
            ]
        out += [(str(node.id), t) for t in dict.fromkeys(targets) if t != str(node.id)]
    return out


def _name_key(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lower()
    return base[:-3] if base.endswith(".gz") else base
