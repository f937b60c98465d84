"""Lineage rules: group keys, parent/derived-from edges, the tree of one group.

Pure functions, no I/O. :func:`plan_lineage` takes a set of files (ids and names, plus what
ingest knows from MAST, the storage folder or an association file) and returns each file's
``observation_base_id``, ``parent_id`` and ``derived_from``; the same set in any order gives
the same answer, so ingest can recompute it idempotently after every import.
:func:`build_lineage` turns records already stored into a :class:`Lineage` tree for widgets.

Finer points decided here (see the docstrings below for the details):

- Groups: a file's own key comes from its stage-3 name or from an exposure name made for an
  association (``_o001_crf``; ``_c1027_crfints`` joins the candidate's group), else (asn)
  the product inside the file, else ``known_group`` (MAST obs id / ``mast/{obs_id}/``
  folder), else the provisional key of its exposure name. A provisional key
  ``jw{P}-{acid}_{instrument}`` is upgraded when exactly one full key
  ``jw{P}-{acid}_t{T}_{instrument}`` of that slot is known in the set;
  with two or more (ambiguous) it stays provisional. An association without a product or
  known group joins the single group of its program and association id, if there is one.
- Edges: ``derived_from`` lists every parent (sorted ids); ``parent_id`` is set only when
  there is exactly one. Chain parents come from the nearest lower suffix present; if that
  suffix is present more than once (duplicate names), all copies are parents, except that
  copies in the child's own group win over copies elsewhere. A file made for an association
  never takes a parent made for another association. Edges may cross groups (a candidate's
  crf derives from the cal in its observation's group). A preview or thumbnail picture
  derives from the product it shows.
- A stage-3 product whose association is known but none of whose members are in the set
  falls back to the L2b rule. The L2b rule takes cal, calints, crf and crfints files of the
  same group whose optics match (see :func:`optics_match`; exposure names carry no optics,
  so unless the caller passes ``LineageInput.optics`` all of them match).
- Call :func:`plan_lineage` once per owner scope: two copies of one file name (two users'
  imports) are two candidates, so ``parent_id`` stays None where the choice is ambiguous.
- Roles: an edge made from an association keeps the member's role there (``exptype``:
  science, psf, background, target_acquisition, direct_image, sourcecat, segmap, ...) in
  ``derived_roles`` {parent id: role}. Every product of an association counts. A level-2
  product of an association (the first file of its chain made from the members, e.g. the
  cal of a WFSS spec2 product) derives from every member: its rate, the direct image, the
  source catalog and the segmentation map.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jwstnb.errors import NotFound, invalid
from jwstnb.naming import (
    FileIdentity,
    GroupKey,
    classify,
    group_from_obs_id,
    parse_group_key,
    product_group,
)
from jwstnb.schema import DataType, ProcessingLevel

if TYPE_CHECKING:
    from jwstnb.schema import JwstDataModel

__all__ = [
    "ASN_KINDS",
    "LEVEL_ORDER",
    "AsnMember",
    "AsnProduct",
    "Contributors",
    "Lineage",
    "LineageInput",
    "LineageLinks",
    "LineageNode",
    "asn_products_of",
    "build_lineage",
    "optics_match",
    "plan_lineage",
]

LEVEL_ORDER: tuple[ProcessingLevel, ...] = (
    ProcessingLevel.L1,
    ProcessingLevel.L2A,
    ProcessingLevel.L2B,
    ProcessingLevel.L3,
    ProcessingLevel.UNKNOWN,
)

# Within one exposure chain: the parent suffixes of each product, nearest first.
_CHAIN_PARENTS: dict[str, tuple[str, ...]] = {
    "rate": ("uncal",),
    "rateints": ("uncal",),
    "trapsfilled": ("uncal",),
    "bsub": ("rate", "uncal"),
    "bsubints": ("rateints", "uncal"),
    "cal": ("rate", "uncal"),
    "calints": ("rateints", "uncal"),
    "crf": ("cal", "rate", "uncal"),
    "crfints": ("calints", "rateints", "uncal"),
    "x1dints": ("calints", "rateints", "uncal"),
    "s2d": ("cal", "rate", "uncal"),
    "s3d": ("cal", "rate", "uncal"),
    "x1d": ("cal", "rate", "uncal"),
    "i2d": ("cal", "rate", "uncal"),
}
# Any other L2b product of an exposure (psfalign, psfsub, ...): the nearest calibrated file.
_CHAIN_DEFAULT = ("crfints", "calints", "crf", "cal", "rateints", "rate", "uncal")
# The stage-2 inputs a stage-3 product derives from when its association is not known.
_STAGE3_INPUTS = frozenset({"cal", "calints", "crf", "crfints"})
# Stage-3 products that derive from the i2d of the same product name.
_FROM_I2D = frozenset({"cat", "segm"})
_NEUTRAL_OPTICS = frozenset({"", "clear", "clearp", "none", "opaque"})

#: Association kinds :meth:`Lineage.to_asn` writes: kind -> (pipeline stage, member suffix).
#: Level 2 makes one product per exposure from its count rates; level 3 one product of the
#: group from its calibrated exposures.
ASN_KINDS: dict[str, tuple[int, str]] = {
    "image2": (2, "rate"),
    "spec2": (2, "rate"),
    "image3": (3, "cal"),
    "spec3": (3, "cal"),
    "coron3": (3, "calints"),
    "ami3": (3, "calints"),
    "tso3": (3, "calints"),
}


@dataclass(frozen=True, slots=True)
class AsnMember:
    """One member of an association product: its file name and its role (``exptype``:
    science, psf, background, target_acquisition, direct_image, sourcecat, segmap...;
    None when the stored record predates roles)."""

    expname: str
    exptype: str | None = "science"


@dataclass(frozen=True, slots=True)
class AsnProduct:
    """One product of an association: its name (without suffix) and its members."""

    name: str | None
    members: tuple[AsnMember, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.members, tuple):
            object.__setattr__(self, "members", tuple(self.members))


def asn_products_of(metadata: Mapping[str, Any]) -> tuple[AsnProduct, ...]:
    """The products of an association record from its stored metadata.

    Reads ``asn_product_members`` (each product with its members and roles) when present;
    a record stored before it has ``asn_product`` + ``asn_members`` (+ ``asn_exptypes``),
    read as one product. Malformed entries are skipped: stored metadata is not trusted.
    """
    out: list[AsnProduct] = []
    layout = metadata.get("asn_product_members")
    if isinstance(layout, list):
        for product in layout:
            if not isinstance(product, Mapping):
                continue
            name = product.get("name")
            members = [
                AsnMember(str(m["expname"]), _role(m.get("exptype")))
                for m in product.get("members") or ()
                if isinstance(m, Mapping) and isinstance(m.get("expname"), str)
            ]
            out.append(
                AsnProduct(name if isinstance(name, str) and name else None, tuple(members))
            )
        return tuple(out)
    names = metadata.get("asn_members") or ()
    product = metadata.get("asn_product")
    exptypes = metadata.get("asn_exptypes")
    roles = exptypes if isinstance(exptypes, Mapping) else {}
    members = [AsnMember(m, _role(roles.get(m))) for m in names if isinstance(m, str)]
    if not members and not isinstance(product, str):
        return ()
    name = product if isinstance(product, str) and product else None
    return (AsnProduct(name, tuple(members)),)


def _role(value: Any) -> str | None:
    return (value.strip().lower() or None) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class LineageInput:
    """One file to place: its record id and name, plus what the importer knows about it.

    ``known_group``: the group from the MAST obs_id or the ``mast/{obs_id}/`` folder (a MAST
    obs id with optical elements is accepted too). ``asn``: for an association file, every
    product with its members and their roles (:func:`asn_products_of` reads them from a
    stored record). ``asn_members`` / ``asn_product`` are the older one-product form (member
    names without roles), still accepted. ``optics``: the file's optical elements
    (``"clear-f090w"``, e.g. from the FILTER/PUPIL header) when known; exposure names carry
    none.
    """

    id: str
    file_name: str
    known_group: str | None = None
    asn_members: tuple[str, ...] = ()
    asn_product: str | None = None
    optics: str | None = None
    asn: tuple[AsnProduct, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.asn_members, tuple):  # accept any iterable of names
            object.__setattr__(self, "asn_members", tuple(self.asn_members))
        if not isinstance(self.asn, tuple):
            object.__setattr__(self, "asn", tuple(self.asn))

    @property
    def products(self) -> tuple[AsnProduct, ...]:
        """Every association product this file describes (``asn``, else the older form)."""
        if self.asn:
            return self.asn
        if self.asn_product or self.asn_members:
            members = tuple(AsnMember(m, None) for m in self.asn_members)
            return (AsnProduct(self.asn_product, members),)
        return ()


@dataclass(frozen=True, slots=True)
class LineageLinks:
    """What :func:`plan_lineage` decides for one file. ``derived_roles`` maps the parents
    that came from an association to their role there ({parent id: "psf"}); stored as
    ``derivedRoles`` beside ``derivedFrom``."""

    observation_base_id: str | None
    parent_id: str | None
    derived_from: tuple[str, ...]
    derived_roles: Mapping[str, str] = field(default_factory=dict)


def optics_match(a: str | None, b: str | None) -> bool:
    """Whether two optics descriptions can be the same configuration.

    Unknown on either side matches (exposure names carry no optics). Otherwise both are split
    on ``-``/``_`` into elements, neutral ones (clear, none, ...) dropped, and they match when
    one set contains the other (``clear-f090w`` ~ ``f090w``; ``f090w`` !~ ``f200w``).
    """
    if not a or not b:
        return True
    ta = set(a.lower().replace("_", "-").split("-")) - _NEUTRAL_OPTICS
    tb = set(b.lower().replace("_", "-").split("-")) - _NEUTRAL_OPTICS
    return ta <= tb or tb <= ta


def _member_key(name: str) -> str:
    """A file name as compared with association members: basename, lower case, no .gz."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lower()
    return base[:-3] if base.endswith(".gz") else base


def _known_group(text: str | None) -> tuple[str, bool] | None:
    """(key, provisional) from a caller's known group: an obs id, a full or short key."""
    if not text or not text.strip():
        return None
    key = group_from_obs_id(text)
    if key is None:
        parsed = parse_group_key(text)
        if parsed is None:
            return text.strip(), False  # not a JWST key: trust the caller, never upgrade it
        key = parsed.key()
    parsed = parse_group_key(key)
    return key, parsed is not None and parsed.target is None


def _own_group(f: LineageInput, ident: FileIdentity) -> tuple[str | None, bool]:
    """The group a file's own data gives, before upgrades: (key, provisional).

    A stage-3 name, or an exposure name made for an association (``_o001_crf``,
    ``_c1027_crfints``), keeps the group its name gives (a known full key of the same slot
    upgrades it): MAST lists such files under other observations too. Other files take the
    association's product, else the known group, else their name's key.
    """
    by_name = ident.kind == "stage3" or (ident.kind == "exposure" and ident.association_id)
    if by_name and ident.observation_base_id:
        known = _known_group(f.known_group)
        if ident.provisional and known and not known[1]:
            own, mast = parse_group_key(ident.observation_base_id), parse_group_key(known[0])
            if own and mast and own.slot == mast.slot:
                return known  # the MAST obs id names the full key of the same slot
        return ident.observation_base_id, ident.provisional
    for product in f.products:  # the first product whose name gives a group
        if product.name and (found := product_group(product.name)):
            return found
    if known := _known_group(f.known_group):
        return known
    if ident.observation_base_id:
        return ident.observation_base_id, ident.provisional
    return None, False


def _dedupe(files: Iterable[LineageInput]) -> dict[str, LineageInput]:
    items: dict[str, LineageInput] = {}
    for f in files:
        if f.id in items and items[f.id] != f:
            raise ValueError(f"lineage input {f.id!r} is given twice with different data")
        items[f.id] = f
    return items


def _plan_groups(
    items: dict[str, LineageInput], idents: dict[str, FileIdentity]
) -> dict[str, str | None]:
    own = {fid: _own_group(items[fid], idents[fid]) for fid in items}
    full_by_slot: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for key, provisional in own.values():
        if key and not provisional and (parsed := parse_group_key(key)):
            full_by_slot[parsed.slot].add(key)
    for f in items.values():  # a known group counts even where the name wins for the file
        known = _known_group(f.known_group)
        if known and not known[1] and (parsed := parse_group_key(known[0])):
            full_by_slot[parsed.slot].add(known[0])

    groups: dict[str, str | None] = {}
    for fid, (key, provisional) in own.items():
        parsed = parse_group_key(key) if provisional else None
        if parsed is not None:
            candidates = full_by_slot.get(parsed.slot, set())
            if len(candidates) == 1:
                key = next(iter(candidates))
        groups[fid] = key

    # An association without product or known group: the one group of its program and acid.
    for fid, ident in idents.items():
        if groups[fid] is None and ident.kind == "association":
            found = {
                g
                for g in [*groups.values(), *(k for ks in full_by_slot.values() for k in ks)]
                if (p := parse_group_key(g))
                and p.program == ident.program
                and p.acid == ident.association_id
            }
            if len(found) == 1:
                groups[fid] = found.pop()
    return groups


def _nearest(
    fid: str,
    order: Sequence[str],
    chain: dict[str, list[str]],
    idents: dict[str, FileIdentity],
    groups: dict[str, str | None],
) -> set[str]:
    """The chain parents of one file: the nearest lower suffix present among the files made
    for the same association (or for none); copies in the file's own group win over copies
    elsewhere (one file listed under two MAST observations)."""
    acid = idents[fid].association_id
    for suffix in order:
        found = {
            c for c in chain.get(suffix, ())
            if c != fid and idents[c].association_id in (None, acid)
        }
        if found:
            same = {c for c in found if groups[c] == groups[fid]}
            return same or found
    return set()


def _chain_edges(
    idents: dict[str, FileIdentity], groups: dict[str, str | None]
) -> dict[str, tuple[str, ...]]:
    """Parents within each exposure chain: (exposure_id, detector, segment) -> suffix -> ids."""
    chains: dict[tuple[str, str | None, str | None], dict[str, list[str]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for fid, ident in idents.items():
        if ident.kind == "exposure" and ident.exposure_id and not ident.preview:
            chains[(ident.exposure_id, ident.detector, ident.segment)][ident.suffix].append(fid)
    parents: dict[str, tuple[str, ...]] = {}
    for chain in chains.values():
        for suffix, ids in chain.items():
            level = idents[ids[0]].processing_level
            if suffix in _CHAIN_PARENTS:
                order: tuple[str, ...] = _CHAIN_PARENTS[suffix]
            elif level == ProcessingLevel.L2B:
                order = _CHAIN_DEFAULT
            else:
                order = ()
            for fid in ids:
                parents[fid] = tuple(sorted(_nearest(fid, order, chain, idents, groups)))
    return parents


def _product_key(ident: FileIdentity) -> tuple[str | None, str, str | None]:
    return (ident.product, ident.suffix, ident.activity_id)


def _pick_role(roles: Iterable[str | None]) -> str | None:
    """One role for an edge several association entries give: science wins, else the first
    by name (deterministic whatever the order the files came in)."""
    known = {r for r in roles if r}
    if not known:
        return None
    return "science" if "science" in known else min(known)


_Edges = dict[str, tuple[str, ...]]
_Roles = dict[str, dict[str, str]]


def _asn_members(
    items: dict[str, LineageInput],
) -> tuple[dict[str, dict[str, str | None]], set[str]]:
    """Every association product in the set (lower-case name) -> {member id: role}, and the
    product names that have an association (members present or not)."""
    by_member: dict[str, set[str]] = defaultdict(set)
    for fid, f in items.items():
        by_member[_member_key(f.file_name)].add(fid)
    found: dict[str, dict[str, list[str | None]]] = defaultdict(lambda: defaultdict(list))
    known: set[str] = set()
    for f in items.values():
        for product in f.products:
            if not product.name:
                continue
            name = product.name.strip().lower()
            known.add(name)
            for member in product.members:
                for mid in by_member.get(_member_key(member.expname), ()):
                    found[name][mid].append(member.exptype)
    members = {
        name: {mid: _pick_role(roles) for mid, roles in ids.items()}
        for name, ids in found.items()
    }
    return members, known


def _plan_edges(
    items: dict[str, LineageInput],
    idents: dict[str, FileIdentity],
    groups: dict[str, str | None],
) -> tuple[_Edges, _Roles]:
    # 1. exposure chains
    parents = _chain_edges(idents, groups)
    roles: _Roles = {}
    asn_members, asn_known = _asn_members(items)

    # 2. level-2 products of an association: the first file of the product's chain made from
    # the members (its chain parent is a member, or it has none) derives from every member.
    for fid, ident in idents.items():
        if (
            ident.kind != "exposure"
            or ident.preview
            or ident.processing_level != ProcessingLevel.L2B
            or not ident.product
            or ident.product not in asn_members
        ):
            continue
        members = asn_members[ident.product]
        chain = parents.get(fid, ())
        if fid in members or (chain and not any(c in members for c in chain)):
            continue
        parents[fid] = tuple(sorted(set(chain) | (set(members) - {fid})))
        roles[fid] = {m: r for m, r in members.items() if r and m != fid}

    # 3. stage-3 products
    i2d_by_product: dict[str, set[str]] = defaultdict(set)
    inputs_by_group: dict[str, list[str]] = defaultdict(list)
    products: dict[tuple[str | None, str, str | None], set[str]] = defaultdict(set)
    for fid, ident in idents.items():
        if ident.preview:
            continue
        if ident.kind in ("exposure", "stage3"):
            products[_product_key(ident)].add(fid)
        if ident.kind == "stage3" and ident.suffix == "i2d" and ident.product:
            i2d_by_product[ident.product].add(fid)
        if (
            ident.kind == "exposure"
            and ident.suffix in _STAGE3_INPUTS
            and ident.processing_level == ProcessingLevel.L2B
            and groups[fid]
        ):
            inputs_by_group[groups[fid]].append(fid)  # type: ignore[index]

    for fid, ident in idents.items():
        if ident.preview:  # a picture of a product derives from that product
            parents[fid] = tuple(sorted(products.get(_product_key(ident), set())))
            continue
        if ident.kind != "stage3" or not ident.product:
            continue
        found: set[str] = set()
        if ident.suffix in _FROM_I2D:
            found = i2d_by_product.get(ident.product, set())
        if not found and ident.product in asn_known:
            members = asn_members.get(ident.product, {})
            found = set(members) - {fid}
            if found:
                roles[fid] = {m: r for m, r in members.items() if r and m in found}
        if not found:
            optics = ident.optics or items[fid].optics
            found = {
                c
                for c in inputs_by_group.get(groups[fid] or "", [])
                if optics_match(optics, items[c].optics)
            }
        parents[fid] = tuple(sorted(found - {fid}))
    return parents, roles


def plan_lineage(files: Iterable[LineageInput]) -> dict[str, LineageLinks]:
    """Group keys and edges for a set of files, keyed and ordered by id.

    Deterministic: the same set of files in any order gives the same result. Files of one
    observation share one group once any full key of it is in the set (stage-3 name, known
    group, association product). Chains: uncal -> rate -> cal -> crf; uncal -> rateints ->
    calints -> x1dints; cal -> s2d/s3d/x1d. Stage-3 products derive from their association's
    members (matched by file name), else from the group's cal/crf files of matching optics;
    cat and segm derive from the i2d of the same product. A level-2 product of an
    association derives from every member of its product (every product of every
    association counts). ``parent_id`` is set only when there is exactly one parent;
    ``derived_roles`` gives the association role of the parents that came from one.
    """
    items = _dedupe(files)
    idents = {fid: classify(f.file_name) for fid, f in items.items()}
    groups = _plan_groups(items, idents)
    edges, roles = _plan_edges(items, idents, groups)
    out: dict[str, LineageLinks] = {}
    for fid in sorted(items):
        derived = edges.get(fid, ())
        mine = roles.get(fid, {})
        out[fid] = LineageLinks(
            observation_base_id=groups[fid],
            parent_id=derived[0] if len(derived) == 1 else None,
            derived_from=derived,
            derived_roles={p: mine[p] for p in derived if p in mine},
        )
    return out


# ---------------------------------------------------------------------------------------------
# The tree of one group, from stored records.


@dataclass(frozen=True, slots=True)
class LineageNode:
    """One file in a :class:`Lineage`: what the viewer shows, plus the full record if loaded.

    ``external`` marks a file of another group (``observation_base_id``) that is a direct
    parent or child of the lineage's own files, e.g. the member exposures of a mosaic.
    ``derived_roles`` gives the association role of parents that came from one
    ({parent id: "psf"}).
    """

    id: str
    file_name: str
    processing_level: ProcessingLevel
    data_type: DataType
    is_viewable: bool
    exposure_id: str | None
    parent_id: str | None
    derived_from: tuple[str, ...]
    file_path: str | None
    observation_base_id: str | None = None
    external: bool = False
    record: JwstDataModel | None = field(default=None, compare=False, repr=False)
    derived_roles: Mapping[str, str] = field(default_factory=dict)

    @property
    def parent_ids(self) -> tuple[str, ...]:
        """Every parent id: ``parent_id`` and ``derived_from``, unique and sorted."""
        ids = set(self.derived_from)
        if self.parent_id:
            ids.add(self.parent_id)
        return tuple(sorted(ids))

    @classmethod
    def from_record(cls, record: JwstDataModel, group: str | None = None) -> LineageNode:
        """A node for a stored record (which must have an id); external when ``group`` is
        given and the record belongs to another group."""
        if record.id is None:
            raise ValueError(f"record {record.file_name!r} has no id; store it first")
        return cls(
            id=str(record.id),
            file_name=record.file_name,
            processing_level=ProcessingLevel(record.processing_level),
            data_type=DataType(record.data_type),
            is_viewable=record.is_viewable,
            exposure_id=record.exposure_id,
            parent_id=record.parent_id,
            derived_from=tuple(record.derived_from),
            file_path=record.file_path,
            observation_base_id=record.observation_base_id,
            external=group is not None and record.observation_base_id != group,
            record=record,
            derived_roles=dict(record.derived_roles),
        )


@dataclass(frozen=True, slots=True)
class Contributors:
    """What a product combines: observation group keys and exposure ids, sorted."""

    observations: tuple[str, ...]
    exposures: tuple[str, ...]


class Lineage:
    """The files of one group by level, and the edges between them.

    Nodes are ordered by level (L1, L2a, L2b, L3, unknown), then file name, then id. Nodes
    may include files of other groups marked ``external`` (direct parents and children).
    ``edges`` holds (parent id, child id) pairs whose both ends are in the lineage, external
    nodes included; ``external_edges`` those whose parent is not in it.
    """

    def __init__(self, observation_base_id: str | None, nodes: Iterable[LineageNode]) -> None:
        self.observation_base_id = observation_base_id
        rank = {level: i for i, level in enumerate(LEVEL_ORDER)}
        ordered = sorted(nodes, key=lambda n: (rank[n.processing_level], n.file_name, n.id))
        self._by_id: dict[str, LineageNode] = {}
        for node in ordered:
            if node.id in self._by_id:
                raise ValueError(f"lineage node {node.id!r} is given twice")
            self._by_id[node.id] = node
        self.nodes: tuple[LineageNode, ...] = tuple(ordered)
        all_edges = sorted({(p, n.id) for n in ordered for p in n.parent_ids if p != n.id})
        self.edges: list[tuple[str, str]] = [e for e in all_edges if e[0] in self._by_id]
        self.external_edges: list[tuple[str, str]] = [
            e for e in all_edges if e[0] not in self._by_id
        ]
        self._position = position = {n.id: i for i, n in enumerate(ordered)}
        self._children: dict[str, list[str]] = defaultdict(list)
        for parent, child in sorted(self.edges, key=lambda e: position[e[1]]):
            self._children[parent].append(child)
        #: (parent id, child id) -> the parent's role in the association the edge comes from.
        self.edge_roles: dict[tuple[str, str], str] = {
            (p, n.id): role
            for n in ordered
            for p, role in n.derived_roles.items()
            if p in n.parent_ids and role
        }

    def role(self, parent: str, child: str) -> str | None:
        """The association role (``science``, ``psf``, ``background``...) of the edge
        ``parent`` -> ``child``; None for chain edges and edges made without an association."""
        return self.edge_roles.get((parent, child))

    @property
    def levels(self) -> dict[str, list[LineageNode]]:
        """Nodes by processing level; all five keys present, in pipeline order."""
        out: dict[str, list[LineageNode]] = {str(level): [] for level in LEVEL_ORDER}
        for node in self.nodes:
            out[str(node.processing_level)].append(node)
        return out

    @property
    def external_nodes(self) -> list[LineageNode]:
        """The nodes of other groups, in node order."""
        return [n for n in self.nodes if n.external]

    @property
    def files(self) -> list[str]:
        """File names, in node order (level, then name)."""
        return [n.file_name for n in self.nodes]

    def node(self, id: str) -> LineageNode:
        """The node with this id; :class:`jwstnb.errors.NotFound` if it is not in the lineage."""
        try:
            return self._by_id[id]
        except KeyError:
            raise NotFound(
                f"file {id!r} is not in the lineage of {self.observation_base_id!r}"
            ) from None

    def children(self, id: str) -> list[LineageNode]:
        """The nodes derived from ``id`` (in node order)."""
        self.node(id)
        return [self._by_id[c] for c in self._children.get(id, ())]

    def parents(self, id: str) -> list[LineageNode]:
        """The nodes ``id`` derives from that are in this lineage (in node order)."""
        wanted = self.node(id).parent_ids
        return sorted((self._by_id[p] for p in wanted if p in self._by_id),
                      key=lambda n: self._position[n.id])

    def ancestors(self, id: str) -> list[LineageNode]:
        """Every node ``id`` derives from, directly or not, within this lineage (node order)."""
        seen: set[str] = set()
        stack = list(self.node(id).parent_ids)
        while stack:
            pid = stack.pop()
            if pid in seen or pid not in self._by_id or pid == id:
                continue
            seen.add(pid)
            stack.extend(self._by_id[pid].parent_ids)
        return sorted((self._by_id[p] for p in seen), key=lambda n: self._position[n.id])

    def contributors(self, id: str) -> Contributors:
        """The observations and exposures product ``id`` combines (a stage-3 mosaic's
        answer to "which data went into this").

        Walks every ancestor in this lineage (external nodes included) and the node itself;
        each L1/L2 file gives its exposure id and its observation's group key, the full key
        where a file of that observation has one. Parents outside the lineage are not walked.
        """
        exposures: set[str] = set()
        keys: set[str] = set()
        for node in [self.node(id), *self.ancestors(id)]:
            if node.processing_level not in _EXPOSURE_LEVELS:
                continue
            ident = classify(node.file_name)
            if exposure := node.exposure_id or ident.exposure_id:
                exposures.add(exposure)
            if key := _observation_key(node, ident):
                keys.add(key)
        return Contributors(observations=_prefer_full(keys), exposures=tuple(sorted(exposures)))

    def to_asn(self, kind: str, *, optics: str | None = None) -> dict[str, Any]:
        """An association of this group's files that the calibration pipeline loads
        (``jwst.associations.load_asn``), as a JSON-ready mapping.

        ``kind`` is one of :data:`ASN_KINDS`. Level 3 (``image3``, ``spec3``, ``coron3``,
        ``ami3``, ``tso3``): one product named after the group (and its optics; a group with
        several filters needs ``optics=``), whose members are the group's calibrated exposures
        (``cal`` or ``calints``; for a candidate group, those of other groups its products
        derive from). Level 2 (``image2``, ``spec2``): one product per count-rate file, named
        after its exposure. Members keep the role the lineage knows for them (a PSF reference
        stays ``psf``, a background ``background``; ``science`` otherwise). The product name
        parses back (:func:`jwstnb.naming.product_group`) to this group.
        :class:`jwstnb.errors.NotFound` when the group has no such files.
        """
        if kind not in ASN_KINDS:
            raise invalid("kind", f"must be one of {', '.join(ASN_KINDS)}", kind)
        group = parse_group_key(self.observation_base_id)
        if group is None:
            raise invalid("observation_base_id", "is not a JWST group key",
                          self.observation_base_id)
        stage, suffix = ASN_KINDS[kind]
        if stage == 2:
            products = self._level2_products(suffix)
        else:
            products = [self._level3_product(suffix, group, optics)]
        if not products or not any(p["members"] for p in products):
            raise NotFound(
                f"no {suffix} files in {self.observation_base_id!r} to make a {kind} "
                "association of"
            )
        asn: dict[str, Any] = {
            "asn_type": kind,
            "asn_rule": "DMS_Level3_Base" if stage == 3 else "DMS_Level2b_Base",
            "version_id": None,
            "code_version": "jwstnb",
            "degraded_status": "No known degraded exposures in association.",
            "program": group.program,
            "constraints": f"made by jwstnb from the lineage of {group.key()}",
            "asn_id": group.acid,
            "asn_pool": "none",
            "products": products,
        }
        if group.target:
            asn["target"] = group.target
        return asn

    def _inputs(self, suffix: str) -> list[LineageNode]:
        """The group's exposure files with ``suffix``, and those of other groups that the
        group's own files derive from (a candidate's members), in node order."""
        own_parents = {p for n in self.nodes if not n.external for p in n.parent_ids}
        found = []
        for node in self.nodes:
            ident = classify(node.file_name)
            if ident.kind != "exposure" or ident.suffix != suffix or ident.preview:
                continue
            if not node.external or node.id in own_parents:
                found.append(node)
        return found

    def _input_optics(self, node: LineageNode) -> str | None:
        """An input's optics: its own (record), else the one its stage-3 products name."""
        if own := _node_optics(node):
            return own
        named = {
            ident.optics for c in self.children(node.id)
            if (ident := classify(c.file_name)).kind == "stage3" and ident.optics
        }
        return named.pop() if len(named) == 1 else None

    def _member_role(self, node_id: str) -> str:
        """The role an input has in the lineage's association edges from it (science wins)."""
        roles = [r for (p, _c), r in self.edge_roles.items() if p == node_id]
        return _pick_role(roles) or "science"

    def _level3_product(
        self, suffix: str, group: GroupKey, optics: str | None
    ) -> dict[str, Any]:
        if group.target is None:
            raise invalid(
                "observation_base_id",
                "is a provisional group (no t###): a stage-3 product needs its full key",
                self.observation_base_id,
            )
        inputs = self._inputs(suffix)
        found = {n.id: self._input_optics(n) for n in inputs}
        if optics:
            inputs = [n for n in inputs if optics_match(optics, found[n.id])]
        else:
            seen = {o for o in map(_optics_key, found.values()) if o}
            if len(seen) > 1:
                names = ", ".join(sorted("-".join(sorted(o)) for o in seen))
                raise invalid("optics", f"the group has several ({names}): choose one",
                              optics)
            optics = next((o for o in found.values() if _optics_key(o)), None)
        name = group.key() + (f"_{optics.lower()}" if optics else "")
        members = [
            {"expname": n.file_name, "exptype": self._member_role(n.id)}
            for n in inputs
        ]
        members.sort(key=lambda m: (m["exptype"] != "science", m["exptype"], m["expname"]))
        return {"name": name, "members": members}

    def _level2_products(self, suffix: str) -> list[dict[str, Any]]:
        out = []
        for node in self._inputs(suffix):
            if node.external:
                continue
            product = classify(node.file_name).product
            members = [{"expname": node.file_name, "exptype": "science"}]
            for child in self.children(node.id):  # the exposure's product: its other members
                if classify(child.file_name).product != product:
                    continue
                for parent_id, role in child.derived_roles.items():
                    if parent_id in self and parent_id != node.id and role != "science":
                        member = {"expname": self.node(parent_id).file_name, "exptype": role}
                        if member not in members:
                            members.append(member)
            out.append({"name": product, "members": members})
        return out

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[LineageNode]:
        return iter(self.nodes)

    def __contains__(self, id: object) -> bool:
        return id in self._by_id

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.levels.items() if v)
        return f"Lineage({self.observation_base_id!r}: {len(self)} files; {counts})"


_EXPOSURE_LEVELS = frozenset({ProcessingLevel.L1, ProcessingLevel.L2A, ProcessingLevel.L2B})


def _node_optics(node: LineageNode) -> str | None:
    """A file's optics: its name's (stage 3), else what its record keeps (FILTER/PUPIL or the
    MAST obs id it was listed under)."""
    ident = classify(node.file_name)
    if ident.optics:
        return ident.optics
    metadata = node.record.metadata if node.record is not None else {}
    value = metadata.get("optics")
    return value if isinstance(value, str) and value else None


def _optics_key(optics: str | None) -> frozenset[str]:
    """Optics as a set of elements without the neutral ones (``clear-f090w`` -> {f090w})."""
    if not optics:
        return frozenset()
    return frozenset(set(optics.lower().replace("_", "-").split("-")) - _NEUTRAL_OPTICS)


def _observation_key(node: LineageNode, ident: FileIdentity) -> str | None:
    """The observation group of an exposure file: its own group when that is an observation
    (``o###``), else the provisional key its name gives (a file made for a candidate)."""
    parsed = parse_group_key(node.observation_base_id)
    if parsed is not None and parsed.acid.startswith("o"):
        return parsed.key()
    if ident.program and ident.observation and ident.instrument:
        return f"jw{ident.program}-o{ident.observation}_{ident.instrument}"
    return node.observation_base_id


def _prefer_full(keys: set[str]) -> tuple[str, ...]:
    """Sorted keys, a provisional key dropped where exactly one full key of its slot is there."""
    full: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for key in keys:
        if (parsed := parse_group_key(key)) and parsed.target:
            full[parsed.slot].add(key)
    out = {
        key for key in keys
        if not ((parsed := parse_group_key(key)) and not parsed.target
                and len(full.get(parsed.slot, ())) == 1)
    }
    return tuple(sorted(out))


def build_lineage(observation_base_id: str, records: Sequence[JwstDataModel]) -> Lineage:
    """The :class:`Lineage` of stored records (the caller has already selected them).

    Edges come from each record's ``parent_id`` and ``derived_from``; nothing is recomputed.
    Records whose ``observationBaseId`` is not ``observation_base_id`` (the direct parents
    and children the caller added from other groups) become external nodes.
    """
    return Lineage(
        observation_base_id,
        [LineageNode.from_record(r, observation_base_id) for r in records],
    )
