"""Layout of a lineage graph for the viewer: columns by level, row order, edges by index.

Pure: takes anything shaped like :class:`jwstnb.lineage.Lineage` (``.levels`` mapping level ->
nodes with ``id``/``file_name``/``is_viewable``, and optionally ``external`` with the
``observation_base_id`` of the group they belong to; ``.edges`` as (parent id, child id)
pairs; ``.edge_roles`` the association role of an edge) and returns a compact, JSON-friendly
dict that the browser view draws as one SVG. Each file is labelled with what tells it apart
from the other files of its column (exposure, detector, product type; the full name is the
hover title). Edges whose parent has a role in an association other than science (PSF,
background, target acquisition, direct image, ...) are listed with that role, so they are
drawn distinctly. An association file is drawn as a hub linking its members to its products,
not as a file in a column. Rows are
ordered so children sit near their parents (barycentre of the parents' rows, one pass per
column, children of a same-column parent right after it), which keeps edges short without
an expensive crossing minimisation; it is linear in files + edges, so 2,000 files lay out in
milliseconds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jwstnb.widgets._format import LEVEL_COLOURS, LEVELS

__all__ = [
    "ROLE_COLOURS",
    "association_groups",
    "association_links",
    "layout_graph",
    "node_labels",
]

#: How edges of each association role are drawn (science edges are ordinary edges).
ROLE_COLOURS: dict[str, str] = {
    "psf": "#9333ea",
    "background": "#0891b2",
    "target_acquisition": "#ca8a04",
    "direct_image": "#db2777",
    "sourcecat": "#65a30d",
    "segmap": "#65a30d",
}
_OTHER_ROLE_COLOUR = "#374151"


def _external(node: Any) -> bool:
    return bool(getattr(node, "external", False))


def _level_of(name: str) -> str:
    return name if name in LEVEL_COLOURS else "unknown"


def layout_graph(
    observation_base_id: str,
    levels: Mapping[str, Sequence[Any]],
    edges: Iterable[tuple[str, str]],
    links: Iterable[tuple[str, str]] = (),
    *,
    roles: Mapping[tuple[str, str], str] | None = None,
    associations: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None,
) -> dict[str, Any]:
    """Lay out one observation's files for drawing.

    Returns ``{"observation", "columns", "nodes", "edges", "links", "roles", "legend",
    "associations", "rows"}`` where ``columns`` is the five levels in order (L1, L2a, L2b,
    L3, unknown) with ``count`` (the group's own files), ``external`` (other groups' files)
    and ``colour``, ``nodes`` is a list of ``[id, file_name, column, row, viewable, group,
    label]`` (``group`` is the other group's id for an external node, else ""; ``label``
    from :func:`node_labels`), ``edges`` a list of ``[parent index, child index]`` into
    ``nodes`` (edges to files not drawn are dropped, duplicates removed) and ``links`` the
    same for ``links`` (older association -> member or product pairs, drawn dashed).
    ``roles`` lists ``[parent index, child index, role, colour]`` for the edges whose role
    (from ``roles``, keyed by id pair) is not science; ``legend`` the ``[role, colour]``
    pairs present. ``associations`` (association id -> (member ids, product ids)) are drawn
    as hubs, not files: ``[id, file_name, label, column, row, [member indexes], [product
    indexes]]``, the hub in the gap left of ``column`` at the mean ``row`` of its products;
    an association none of whose members or products is drawn stays a file in its column.
    ``rows`` is the length of the longest column.
    """
    hubs = {
        str(a): (list(map(str, m)), list(map(str, p)))
        for a, (m, p) in (associations or {}).items()
    }
    drawn = {str(n.id) for nodes in levels.values() for n in nodes}
    hub_nodes: dict[str, Any] = {}
    column_nodes: dict[str, list[Any]] = {level: [] for level in LEVELS}
    for level, nodes in levels.items():
        for node in nodes:
            members, products = hubs.get(str(node.id), ((), ()))
            if any(i in drawn and i not in hubs for i in (*members, *products)):
                hub_nodes[str(node.id)] = node
                continue
            column_nodes[_level_of(str(level))].append(node)

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
        labels = node_labels([str(by_id[i].file_name) for i in ordered])
        for row, node_id in enumerate(ordered):
            node = by_id[node_id]
            index[node_id] = len(nodes_out)
            group = str(getattr(node, "observation_base_id", None) or "?")
            nodes_out.append([
                node_id, str(node.file_name), col, row, bool(getattr(node, "is_viewable", True)),
                group if _external(node) else "", labels[row],
            ])
    link_pairs = {
        (index[a], index[b]) for a, b in links if a in index and b in index and a != b
    }
    role_edges: list[list[Any]] = []
    for parent, child in edge_pairs:
        role = (roles or {}).get((parent, child))
        if role and role != "science":
            colour = ROLE_COLOURS.get(role, _OTHER_ROLE_COLOUR)
            role_edges.append([index[parent], index[child], role, colour])
    legend = sorted({(r[2], r[3]) for r in role_edges})
    hubs_out = []
    for hub_id, node in sorted(hub_nodes.items(), key=lambda item: str(item[1].file_name)):
        members, products = hubs[hub_id]
        m = sorted({index[i] for i in members if i in index})
        p = sorted({index[i] for i in products if i in index})
        if p:
            col = min(nodes_out[i][2] for i in p)
            row = sum(nodes_out[i][3] for i in p) / len(p)
        else:
            col = min(len(LEVELS) - 1, max(nodes_out[i][2] for i in m) + 1)
            row = sum(nodes_out[i][3] for i in m) / len(m)
        hubs_out.append([hub_id, str(node.file_name), _hub_label(str(node.file_name)), col,
                         row, m, p])
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
        "roles": role_edges,
        "legend": [list(item) for item in legend],
        "associations": hubs_out,
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


def _short_label(name: str) -> str:
    """What tells a file apart within its column, from its name alone: an exposure's
    number, detector (and segment, association) and product type (``00001_nrca1_uncal``);
    a stage-3 product's source, optics and type (``clear-f090w_i2d``); an association's
    type and number; anything else its name without extension."""
    from jwstnb.naming import classify

    ident = classify(name)
    suffix = ident.suffix + (f"-{ident.activity_id}" if ident.activity_id else "")
    if ident.preview:
        suffix += " thumb" if ident.thumbnail else f" {ident.file_format}"
    if ident.kind == "exposure" and ident.exposure and ident.detector:
        segment = f"-seg{ident.segment}" if ident.segment else ""
        parts = [ident.exposure + segment, ident.detector]
        if ident.association_id:
            parts.append(ident.association_id)
        return "_".join([*parts, suffix])
    if ident.kind == "stage3":
        parts = [p for p in (ident.source_id, ident.epoch, ident.optics or ident.instrument) if p]
        return "_".join([*parts, suffix])
    if ident.kind == "association":
        return _hub_label(name)
    return ident.stem


def _hub_label(name: str) -> str:
    from jwstnb.naming import classify

    ident = classify(name)
    if ident.kind == "association":
        return f"{ident.asn_type} {ident.association_id} #{ident.sequence}"
    return ident.stem


def node_labels(names: Sequence[str]) -> list[str]:
    """Labels for the files of one column, in order: each file's short label (exposure,
    detector, product type, ...), and where two files would read the same, their name
    without the ``jw`` and extension (then the whole name), so no two files of a column
    look alike."""
    labels = [_short_label(n) for n in names]
    counts = Counter(labels)
    for i, name in enumerate(names):
        if counts[labels[i]] > 1:
            stem = name.replace("\\", "/").rsplit("/", 1)[-1]
            stem = stem.rsplit(".", 2 if stem.lower().endswith(".gz") else 1)[0]
            labels[i] = stem[2:] if stem.lower().startswith("jw") else stem
    counts = Counter(labels)
    return [label if counts[label] == 1 else names[i] for i, label in enumerate(labels)]


def association_groups(nodes: Iterable[Any]) -> dict[str, tuple[list[str], list[str]]]:
    """{association id: (member ids, product ids)} for the association files among
    ``nodes``, from what their records keep (every product; see
    :func:`jwstnb.lineage.asn_products_of`). Members match by file name (case and a ``.gz``
    ignored); a product matches every file named the product plus a ``_suffix`` (the
    product's files: a cal, an i2d and its catalog...)."""
    from jwstnb.lineage import asn_products_of

    nodes = list(nodes)
    by_name: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        by_name[_name_key(str(node.file_name))].append(str(node.id))
    out: dict[str, tuple[list[str], list[str]]] = {}
    for node in nodes:
        metadata = getattr(getattr(node, "record", None), "metadata", None) or {}
        products = asn_products_of(metadata)
        if not products:
            continue
        own = str(node.id)
        members = [i for p in products for m in p.members
                   for i in by_name.get(_name_key(m.expname), ())]
        names = [p.name.strip().lower() + "_" for p in products if p.name]
        member_set = set(members)
        named = [o for o in nodes if names and str(o.id) not in member_set | {own}
                 and str(o.file_name).lower().startswith(tuple(names))]
        out[own] = (
            [i for i in dict.fromkeys(members) if i != own],
            _made_from(named, member_set),
        )
    return out


def _made_from(named: list[Any], members: set[str]) -> list[str]:
    """The files of a product's name that were made from the members: derived from a member,
    or from such a file (an i2d, then its catalog). An exposure's earlier files share its
    product name (its uncal) but not its making. Without edges (``parent_ids``), all."""
    def parents(node: Any) -> set[str]:
        found = getattr(node, "parent_ids", None)
        if found is None:
            found = getattr(node, "parents", None)
        return set(map(str, found or ()))

    if not any(hasattr(n, "parent_ids") or hasattr(n, "parents") for n in named):
        return list(dict.fromkeys(str(n.id) for n in named))
    made: set[str] = set()
    grew = True
    while grew:
        grew = False
        for node in named:
            if str(node.id) not in made and parents(node) & (members | made):
                made.add(str(node.id))
                grew = True
    return [str(n.id) for n in named if str(n.id) in made]


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
