"""LineageViewer: one group's files in level columns, edges parent -> child, details.

The layout is computed in Python (``_graph.layout_graph``, pure) and drawn by a small
anywidget view as one SVG sized to the notebook's width, so a group of 2,000 files is one
message and one DOM update. Each file is labelled with what tells it apart in its column
(exposure, detector, product type). An association is drawn as a hub linking (dashed) its
members to its products; edges from a PSF reference, a background, a target acquisition or a
WFSS direct image, catalog or segmentation map are drawn in that role's colour, with a
legend, and the details name them. Files of other groups that are direct parents or children
(external nodes) are drawn dimmed, and clicking one opens its group. Clicking a file sets
``selected_id`` (the same trait :meth:`LineageViewer.select` sets), which shows the file's
details and thumbnail and scrolls it into view; a dropdown switches groups
(``Session.observations()``).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import traitlets

from jwstnb.widgets._common import (
    LineageSession,
    WidgetStorage,
    error_text,
    fetch_record,
    run_in_background,
    show_thumbnail,
    thumbnail_layout,
)
from jwstnb.widgets._format import LEVEL_COLOURS, LEVELS, detail_html, record_dict
from jwstnb.widgets._graph import association_groups, layout_graph
from jwstnb.widgets._views import LineageGraph

__all__ = ["LineageViewer"]

_PICK = '<div class="jwstnb-note">Click a file to see its details.</div>'
# How the details name the parents of each association role (science parents are "From").
_ROLE_TITLES = {
    "psf": "PSF references", "background": "Backgrounds",
    "target_acquisition": "Target acquisitions", "direct_image": "Direct image",
    "sourcecat": "Source catalog", "segmap": "Segmentation map",
}


class LineageViewer(widgets.VBox):  # type: ignore[misc]
    """The lineage of one observation (``observationBaseId``), L1 -> L2a -> L2b -> L3.

    ``LineageViewer(session, observation_base_id, *, storage=None, selected_id=None,
    observations=None)``; ``storage`` lets the viewer generate thumbnails for files whose
    record has none; ``observations`` offers a known list in the selector instead of
    asking ``Session.observations()``.
    """

    observation_base_id = traitlets.Unicode("", help="the observation shown")
    selected_id = traitlets.Unicode("", help="id of the chosen file ('' for none)")
    selected = traitlets.Dict(allow_none=True, default_value=None, help="the chosen record")
    counts = traitlets.Dict(help="level -> number of files, for L1, L2a, L2b, L3, unknown")
    observations: traitlets.List[str] = traitlets.List(help="observation ids the selector offers")
    status_text = traitlets.Unicode("")
    state = traitlets.Unicode("idle", help="idle | loading | ready | empty | error")

    def __init__(
        self,
        session: LineageSession,
        observation_base_id: str,
        *,
        storage: WidgetStorage | None = None,
        selected_id: str | None = None,
        observations: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.storage = storage
        self.lineage: Any = None
        self.observations_ready = threading.Event()
        self._quiet = 0
        self.add_class("jwstnb-lineage")

        self.observation_dropdown = widgets.Dropdown(
            description="Observation", layout=widgets.Layout(width="auto", min_width="380px"),
            style={"description_width": "initial"},
        )
        self.observation_dropdown.add_class("jwstnb-observation")
        self.summary = widgets.HTML()
        self.summary.add_class("jwstnb-lineage-summary")
        self.graph = LineageGraph(message="Loading lineage...")
        self.details_html = widgets.HTML(_PICK)
        self.details_html.add_class("jwstnb-lineage-details")
        self.thumbnail_image = widgets.Image(format="png", layout=thumbnail_layout())
        details = widgets.HBox([self.thumbnail_image, self.details_html])
        self.children = [
            widgets.HBox(
                [self.observation_dropdown, self.summary],
                layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
            ),
            self.graph,
            details,
        ]

        self.observation_dropdown.observe(self._on_dropdown, "value")
        if observations is not None:
            self._apply_observations(list(observations), observation_base_id)
        else:
            self.refresh_observations(include=observation_base_id)
        self.graph.observe(self._on_graph_select, "selected_id")
        self.observe(self._on_observation, "observation_base_id")
        self.observe(self._on_selected_id, "selected_id")
        self.observation_base_id = observation_base_id
        if selected_id:
            self.select(selected_id)

    # --- public ------------------------------------------------------------------------

    def select(self, node_id: str | None) -> None:
        """Choose a file of the observation by record id (None/"" clears the choice)."""
        self.selected_id = node_id or ""

    def show(self, observation_base_id: str) -> None:
        """Switch to another observation."""
        self.observation_base_id = observation_base_id

    def refresh(self) -> None:
        """Reload the current observation from the database."""
        self._load(self.observation_base_id)

    def refresh_observations(self, include: str | None = None, *, wait: bool | None = None) -> None:
        """Reload the selector's list of observations (``Session.observations()``).

        Listing every observation groups the whole collection, which can take seconds on a
        big database; inside a Jupyter kernel it therefore runs on a background thread (the
        graph shows at once, the selector fills in when the list arrives and
        ``observations_ready`` is set). ``wait=True`` loads now, ``wait=False`` always in
        the background.
        """
        current = include or self.observation_base_id
        self.observations_ready.clear()
        if wait is not True:
            self._apply_observations(list(self.observations), current)  # keep the current one
            self.observations_ready.clear()
        run_in_background(
            self._fetch_observations,
            lambda found: self._apply_observations(found, current),
            background=None if wait is None else not wait,
        )

    def _fetch_observations(self) -> list[str] | str:
        try:
            return list(self.session.observations())
        except Exception as exc:
            return f"Cannot list observations: {error_text(exc)}"

    def _apply_observations(self, found: list[str] | str, current: str | None) -> None:
        if isinstance(found, str):  # an error: keep what the selector had
            self.status_text = found
            self._update_summary()
            found = list(self.observations)
        observations = list(found)
        current = self.observation_base_id or current
        if current and current not in observations:
            observations.append(current)
        self._quiet += 1
        try:
            self.observations = observations
            self.observation_dropdown.options = observations
            if current:
                self.observation_dropdown.value = current
        finally:
            self._quiet -= 1
        self.observations_ready.set()

    # --- loading -----------------------------------------------------------------------

    def _on_dropdown(self, change: dict[str, Any]) -> None:
        if change["new"] and not self._quiet:
            self.observation_base_id = change["new"]

    def _on_observation(self, change: dict[str, Any]) -> None:
        if self.observation_dropdown.value != change["new"]:
            self._quiet += 1
            try:
                options = list(self.observation_dropdown.options)
                if change["new"] not in options:
                    self.observation_dropdown.options = [*options, change["new"]]
                self.observation_dropdown.value = change["new"]
            finally:
                self._quiet -= 1
        self._load(change["new"])

    def _load(self, observation_base_id: str) -> None:
        self.state = "loading"
        self.status_text = f"Loading {observation_base_id}..."
        self.select(None)
        try:
            lineage = self.session.lineage(observation_base_id)
        except Exception as exc:
            self.lineage = None
            self.counts = {level: 0 for level in LEVELS}
            self.status_text = (
                f"Cannot load the lineage of {observation_base_id}: {error_text(exc)}"
            )
            self.graph.message = self.status_text
            self.graph.graph = {}
            self.state = "error"
            self._update_summary()
            return
        self.lineage = lineage
        layout = layout_graph(
            observation_base_id, lineage.levels, lineage.edges,
            roles=getattr(lineage, "edge_roles", None),
            associations=association_groups(lineage.nodes),
        )
        self.counts = {c["level"]: c["count"] for c in layout["columns"]}
        hubs = len(layout["associations"])
        total = sum(self.counts.values())
        files = f"{total:,} file{'s' if total != 1 else ''}"
        if hubs:
            files += f" and {hubs:,} association{'s' if hubs != 1 else ''}"
        self.status_text = f"{files}, {len(layout['edges']):,} links"
        self.graph.message = (
            "" if total or hubs else f"No files in observation {observation_base_id}."
        )
        self.graph.graph = layout
        self.state = "ready" if total or hubs else "empty"
        self._update_summary()

    def _update_summary(self) -> None:
        chips = " ".join(
            f'<span class="jwstnb-count" data-level="{level}" style="color:{LEVEL_COLOURS[level]};'
            f'font-weight:600">{level}&nbsp;{self.counts.get(level, 0):,}</span>'
            for level in LEVELS
        )
        colour = "#b91c1c" if self.state == "error" else "inherit"
        self.summary.value = (
            f'<span style="color:{colour}">{html.escape(self.status_text)}</span> &nbsp; {chips}'
        )

    # --- selection ---------------------------------------------------------------------

    def _on_graph_select(self, change: dict[str, Any]) -> None:
        self.selected_id = change["new"]

    def _on_selected_id(self, change: dict[str, Any]) -> None:
        node_id = change["new"]
        self.graph.selected_id = node_id
        if not node_id:
            self.selected = None  # type: ignore[assignment]  # allow_none=True
            self.details_html.value = _PICK
            self.thumbnail_image.layout.display = "none"
            return
        node = self._node(node_id)
        if node is not None and getattr(node, "external", False):
            self._open_group_of(node)
            return
        if node is None:
            self.selected = None  # type: ignore[assignment]  # allow_none=True
            self.details_html.value = (
                f'<div class="jwstnb-error">{html.escape(node_id)} is not a file of '
                f"{html.escape(self.observation_base_id)}.</div>"
            )
            self.thumbnail_image.layout.display = "none"
            return
        record = getattr(node, "record", None)
        if record is None:
            record, problem = fetch_record(self.session, node_id)
            if problem is not None:
                self.details_html.value = problem
                return
        self.details_html.value = detail_html(record) + self._relatives_html(node_id)
        self._show_thumbnail(record)
        self.selected = record_dict(record)

    def _open_group_of(self, node: Any) -> None:
        """An external file was chosen: show its own group, with the file selected."""
        group = getattr(node, "observation_base_id", None)
        if not group:
            self.details_html.value = (
                f'<div class="jwstnb-error">{html.escape(str(node.file_name))} belongs to '
                "no group the viewer can open.</div>"
            )
            return
        self.show(group)
        self.select(str(node.id))

    def _node(self, node_id: str) -> Any:
        if self.lineage is None:
            return None
        try:
            return self.lineage.node(node_id)
        except (KeyError, LookupError):
            return None

    def _relatives_html(self, node_id: str) -> str:
        def names(ids: Any) -> str:
            files = [self._node(str(getattr(i, "id", i))) for i in ids]
            shown = [html.escape(str(f.file_name)) for f in files[:8] if f is not None]
            more = f" and {len(files) - 8:,} more" if len(files) > 8 else ""
            return ", ".join(shown) + more if shown else "none"

        parents = list(self.lineage.parents(node_id))
        children = list(self.lineage.children(node_id))
        edge_roles: dict[tuple[str, str], str] = getattr(self.lineage, "edge_roles", None) or {}
        roles: dict[str, list[str]] = {}
        for parent in parents:
            role = edge_roles.get((str(parent.id), node_id))
            if role and role != "science":
                roles.setdefault(role, []).append(str(parent.id))
        combines = ""
        contributors = getattr(self.lineage, "contributors", None)
        if contributors is not None and str(self._node(node_id).processing_level) == "L3":
            found = contributors(node_id)
            if found.observations:
                groups = ", ".join(html.escape(g) for g in found.observations)
                combines = (
                    f"<br><b>Combines</b> {len(found.exposures):,} exposure"
                    f"{'s' * (len(found.exposures) != 1)} of {groups}"
                )
        as_roles = "".join(
            f"<br><b>{html.escape(_ROLE_TITLES.get(role, role.replace('_', ' ')))}</b> "
            f"({len(ids)}): {names(ids)}"
            for role, ids in sorted(roles.items())
        )
        return (
            f'<div class="jwstnb-relatives"><b>From</b> ({len(parents)}): {names(parents)}'
            f"{as_roles}<br>"
            f"<b>To</b> ({len(children)}): {names(children)}{combines}</div>"
        )

    def _show_thumbnail(self, record: Any) -> None:
        show_thumbnail(self.thumbnail_image, record, self.storage)
