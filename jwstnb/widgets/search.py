"""SearchPanel: search as you type, by position or target, facets with counts, a paged
sortable table, details, export.

A criteria change asks the session for the page of items first (``Session.items``, an
index-sorted query) and shows it at once; the total and the facet counts follow from
``Session.counts`` (the status line says "counting" meanwhile). Inside a Jupyter kernel the
counts run on a worker thread, one at a time, ``count_delay`` seconds after the page, bounded
by ``count_timeout`` on the server: counts asked for by criteria a newer keystroke replaced
(within the delay, or while another count ran) are never started, and a stale answer is
dropped. The delay keeps counts off the server while someone types: on SecantusDB a running
count slows every other query (they share one Python interpreter) and cannot be stopped
before it has read its index range. Paging asks for items only. The text and position boxes
are debounced (``debounce`` seconds after the last keystroke; 0 = at once); other controls
search at once.

Notebook code reacts to the traits ``results`` (rows of the current page), ``selected`` (the
chosen record as a dict), ``total``, ``counting``, ``page``, ``facets``, ``position`` and
``status_text``, drives the panel with :meth:`SearchPanel.set_text`,
:meth:`SearchPanel.set_facet`, :meth:`SearchPanel.set_position`, :meth:`SearchPanel.set_sort`,
and writes the results with :meth:`SearchPanel.export`.

When a SAMP hub is running (TOPCAT or Aladin started one), a "Send to..." button sends every
matching row as an ObsCore VOTable to the SAMP application chosen
(:meth:`SearchPanel.send_to_samp`); a row that application highlights comes back as the
panel's selection (``highlighted`` holds the ids of rows it highlighted or selected). The
button is hidden while no hub runs; :meth:`SearchPanel.refresh_samp` looks again.
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import ipywidgets as widgets
import traitlets

from jwstnb.criteria import FACETS
from jwstnb.sky import INTERSECT_MODES
from jwstnb.widgets._common import (
    SampLink,
    SearchSession,
    TargetSession,
    WidgetStorage,
    error_text,
    fetch_record,
    is_fits_key,
    run_in_background,
    samp_link,
    show_thumbnail,
    thumbnail_layout,
)
from jwstnb.widgets._debounce import Debouncer, in_kernel, running_loop
from jwstnb.widgets._format import (
    ANY,
    COLUMNS,
    DEFAULT_ORDER,
    LEVEL_COLOURS,
    date_range,
    detail_html,
    facet_label,
    facet_options,
    header_html,
    header_summary,
    page_summary,
    parse_date,
    png_data_url,
    record_dict,
    record_row,
    sort_order,
)
from jwstnb.widgets._views import ResultsTable

# error_text, is_fits_key, show_thumbnail and thumbnail_layout live in _common; they are
# re-exported here for code that imported them from this module.
__all__ = [
    "EXPORT_FORMATS",
    "RADIUS_UNITS",
    "SearchPanel",
    "error_text",
    "is_fits_key",
    "resolve_position",
    "show_thumbnail",
    "thumbnail_layout",
]

_PICK = '<div class="jwstnb-note">Pick a row to see its details.</div>'


# The counts of an empty first page (no query needed).
_NOTHING = SimpleNamespace(total=0, facets={})

# Range and time boxes: (name, label, placeholder). Exposure time in seconds, wavelength in
# microns; observation times as ISO dates or MJD.
_RANGE_BOXES = (
    ("exposure_time_min", "Exposure", "min s"),
    ("exposure_time_max", "to", "max s"),
    ("wavelength_min", "Wavelength", "min µm"),
    ("wavelength_max", "to", "max µm"),
    ("observed_from", "Observed", "ISO or MJD"),
    ("observed_to", "to", "ISO or MJD"),
)
# Columns of the target-list summary.
_TARGET_COLUMNS = ("target_index", "file_name", "instrument", "filter", "target_name",
                   "ra", "dec")


def _number(text: str, name: str) -> float | None:
    """A range box's number (empty: open end); a ValidationError naming the box."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        from jwstnb.errors import invalid

        raise invalid(name, "must be a number", text) from None


# Radius units offered next to the position box: name -> degrees.
RADIUS_UNITS: dict[str, float] = {"arcsec": 1 / 3600, "arcmin": 1 / 60, "deg": 1.0}
# Export choices: label -> (astropy format, file extension).
EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "ECSV": ("ascii.ecsv", ".ecsv"),
    "CSV": ("ascii.csv", ".csv"),
    "VOTable": ("votable", ".xml"),
}


def resolve_position(text: str, session: Any) -> tuple[float, float]:
    """A position box's text as ICRS ``(ra, dec)`` degrees: coordinates in any form astropy
    parses ("151.757 -40.436", "10h07m01.8s -40d26m11s"), else a target name
    (``jwstnb.sky.resolve``: targets in the database first, then astropy's resolver)."""
    from jwstnb import sky
    from jwstnb.errors import ValidationError

    try:
        return sky.parse_position(text)
    except ValidationError:  # not coordinates: a name (the resolver says when it is neither)
        known = session if hasattr(session, "target_position") else None
        coord = sky.resolve(text, known)
        return float(coord.ra.deg), float(coord.dec.deg)


def _radius_in_unit(degrees: float) -> tuple[float, str]:
    """A radius in degrees shown in the unit that reads best (arcsec below 1', arcmin
    below 1 deg)."""
    if degrees and degrees < 1 / 60:
        return round(degrees * 3600, 6), "arcsec"
    if degrees and degrees < 1:
        return round(degrees * 60, 6), "arcmin"
    return round(degrees, 6), "deg"


class SearchPanel(widgets.VBox):  # type: ignore[misc]
    """Search the records a session may read; pick one to see details, preview or lineage.

    ``SearchPanel(session, storage=None, *, page_size=20, debounce=0.3, thumbnails=True,
    count_timeout=30.0, count_delay=0.5, background_counts=None)``. Without ``storage`` the
    panel searches and shows metadata, but cannot read headers, generate thumbnails or open
    files.
    ``background_counts``: None counts on a worker thread inside a Jupyter kernel and at
    once elsewhere (scripts and tests see the total when a call returns).
    """

    results: traitlets.List[dict[str, Any]] = traitlets.List(
        help="rows of the current page (dicts, see _format.record_row)"
    )
    selected = traitlets.Dict(allow_none=True, default_value=None, help="the chosen record")
    total = traitlets.Int(0, help="records matching the criteria (all pages), once counted")
    counting = traitlets.Bool(False, help="True while the total and facets are on their way")
    page = traitlets.Int(1, help="current page, from 1")
    pages = traitlets.Int(0, help="number of pages (known once counted)")
    page_size = traitlets.Int(20)
    facets = traitlets.Dict(help="facet key -> {value: count} for the current criteria")
    order = traitlets.Unicode(DEFAULT_ORDER, help='sort field; "-" first for descending')
    position: traitlets.List[float] = traitlets.List(
        help="[ra, dec] in degrees of the position searched, or []"
    )
    radius = traitlets.Float(0.0, help="cone radius in degrees")
    excluded = traitlets.Dict(help="facet key -> the value a click on 'not' leaves out")
    target_table = traitlets.Any(None, allow_none=True,
                                 help="the astropy Table of the last target-list search")
    status_text = traitlets.Unicode("", help="what the status line says")
    state = traitlets.Unicode("idle", help="idle | loading | ready | empty | error")
    searches = traitlets.Int(0, help="item queries run (for tests and benchmarks)")
    counted = traitlets.Int(0, help="count answers shown (for tests and benchmarks)")
    highlighted: traitlets.List[str] = traitlets.List(
        help="ids of the rows a SAMP application highlighted or selected last"
    )

    def __init__(
        self,
        session: SearchSession,
        storage: WidgetStorage | None = None,
        *,
        page_size: int = 20,
        debounce: float = 0.3,
        thumbnails: bool = True,
        count_timeout: float = 30.0,
        count_delay: float = 0.5,
        background_counts: bool | None = None,
        sky: bool = False,
        samp: SampLink | bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._samp_arg = samp
        self._samp: SampLink | None = None
        self._samp_listening = False
        self._sent_tables: dict[str, list[str]] = {}  # SAMP table id -> record ids by row
        self._loop = running_loop() if in_kernel() else None
        self.session = session
        self.storage = storage
        self.page_size = int(page_size)
        self.thumbnails = thumbnails
        self.count_timeout = float(count_timeout)
        self.count_delay = float(count_delay)
        self.background_counts = background_counts
        self.export_limit: int | None = 100_000
        self.selected_record: Any = None
        self._items: dict[str, Any] = {}
        self._criteria: dict[str, Any] = {}
        self._positions: dict[str, tuple[float, float]] = {}  # text -> (ra, dec), resolved once
        self._generation = 0
        self._count_lock = threading.Lock()
        self._quiet = 0
        self._debouncer = Debouncer(self.search_now, debounce)
        self.add_class("jwstnb-search")
        self._sky = sky
        self._build()
        self.search_now()

    # --- layout -------------------------------------------------------------------------

    def _build(self) -> None:
        self.text_input = widgets.Text(
            placeholder="Search names, targets, tags... e.g. ngc 3132",
            continuous_update=True, layout=widgets.Layout(flex="1 1 260px", width="auto"),
        )
        self.text_input.add_class("jwstnb-search-text")
        self.position_input = widgets.Text(
            placeholder="Position or target: 151.757 -40.436, NGC 3132",
            continuous_update=True, layout=widgets.Layout(flex="1 1 240px", width="auto"),
        )
        self.position_input.add_class("jwstnb-position")
        self.radius_input = widgets.BoundedFloatText(
            value=1.0, min=0.0, max=180 * 3600, step=0.5, description="radius",
            style={"description_width": "initial"}, layout=widgets.Layout(width="140px"),
        )
        self.radius_input.add_class("jwstnb-radius")
        self.radius_unit = widgets.Dropdown(
            options=list(RADIUS_UNITS), value="arcmin", layout=widgets.Layout(width="84px")
        )
        self.radius_unit.add_class("jwstnb-radius-unit")
        self.facet_dropdowns: dict[str, widgets.Dropdown] = {}
        for key in FACETS:
            dropdown = widgets.Dropdown(
                options=[("any", ANY)], value=ANY, description=facet_label(key),
                layout=widgets.Layout(width="auto"), style={"description_width": "72px"},
            )
            dropdown.add_class(f"jwstnb-facet-{key.replace('_', '-')}")
            self.facet_dropdowns[key] = dropdown
        # A click on a facet's "not" leaves its chosen value out instead (exclude_<facet>).
        self.facet_excludes: dict[str, widgets.ToggleButton] = {}
        for key in FACETS:
            toggle = widgets.ToggleButton(
                value=False, description="not", tooltip=f"leave this {facet_label(key)} out",
                layout=widgets.Layout(width="44px"),
            )
            toggle.add_class(f"jwstnb-exclude-{key.replace('_', '-')}")
            self.facet_excludes[key] = toggle
        self.region_input = widgets.Text(
            placeholder="Region (STC-S): POLYGON ICRS 151.7 -40.5 151.8 -40.5 151.8 -40.4",
            continuous_update=False, layout=widgets.Layout(flex="1 1 360px", width="auto"),
        )
        self.region_input.add_class("jwstnb-region")
        self.intersect_input = widgets.Dropdown(
            options=list(INTERSECT_MODES), value="overlaps", description="intersect",
            style={"description_width": "initial"}, layout=widgets.Layout(width="170px"),
        )
        self.intersect_input.add_class("jwstnb-intersect")
        self.range_inputs: dict[str, widgets.Text] = {}
        for name, label, hint in _RANGE_BOXES:
            box = widgets.Text(
                placeholder=hint, description=label, continuous_update=False,
                style={"description_width": "initial"}, layout=widgets.Layout(width="150px"),
            )
            box.add_class(f"jwstnb-{name.replace('_', '-')}")
            self.range_inputs[name] = box
        self.calib_input = widgets.Dropdown(
            options=[("any", ANY), ("1 (L1)", "1"), ("2 (L2a, L2b)", "2"), ("3 (L3)", "3")],
            value=ANY, description="calib level", style={"description_width": "initial"},
            layout=widgets.Layout(width="170px"),
        )
        self.calib_input.add_class("jwstnb-calib-level")
        self.targets_input = widgets.Textarea(
            placeholder="Target list: one per line, 'ra dec' or a name", rows=3,
            layout=widgets.Layout(flex="1 1 300px", width="auto"),
        )
        self.targets_input.add_class("jwstnb-targets")
        self.targets_upload = widgets.FileUpload(
            accept=".csv,.ecsv,.txt,.xml,.vot", multiple=False, description="Upload list",
        )
        self.targets_upload.add_class("jwstnb-targets-upload")
        self.targets_button = widgets.Button(
            description="Search targets", icon="crosshairs",
            tooltip="Every record near each target (radius above), one table",
            layout=widgets.Layout(width="auto"),
        )
        self.targets_button.add_class("jwstnb-search-targets")
        self.targets_output = widgets.HTML()
        self.targets_output.add_class("jwstnb-targets-output")
        self.tags_input = widgets.TagsInput(
            value=[], allow_duplicates=False, placeholder="tag + Enter",
            layout=widgets.Layout(width="280px", min_height="28px", flex="0 0 auto"),
        )
        self.tags_input.add_class("jwstnb-tags")
        self.date_from_input = self._date_box("Uploaded", "jwstnb-date-from", "190px")
        self.date_to_input = self._date_box("to", "jwstnb-date-to", "130px")
        self.clear_button = widgets.Button(
            description="Clear filters", icon="times", layout=widgets.Layout(width="auto")
        )
        self.export_format = widgets.Dropdown(
            options=list(EXPORT_FORMATS), value="ECSV", layout=widgets.Layout(width="96px")
        )
        self.export_button = widgets.Button(
            description="Export", icon="download", tooltip="Write every matching row to a file",
            layout=widgets.Layout(width="auto"),
        )
        self.export_button.add_class("jwstnb-export")
        self.samp_target = widgets.Dropdown(
            options=[("every SAMP application", "")], value="",
            layout=widgets.Layout(width="190px"),
        )
        self.samp_target.add_class("jwstnb-samp-target")
        self.samp_button = widgets.Button(
            description="Send to...", icon="share-square",
            tooltip="Send every matching row to TOPCAT, Aladin... (SAMP, as an ObsCore VOTable)",
            layout=widgets.Layout(width="auto"),
        )
        self.samp_button.add_class("jwstnb-samp-send")
        self.samp_box = widgets.HBox(
            [self.samp_button, self.samp_target], layout=widgets.Layout(display="none")
        )
        self.status = widgets.HTML()
        self.status.add_class("jwstnb-status")
        self.table = ResultsTable(
            columns=COLUMNS if self.thumbnails else COLUMNS[1:],
            level_colours=LEVEL_COLOURS, message="Searching...", order=self.order,
        )
        self.prev_button = widgets.Button(description="Previous", icon="chevron-left")
        self.next_button = widgets.Button(description="Next", icon="chevron-right")
        self.prev_button.add_class("jwstnb-prev")
        self.next_button.add_class("jwstnb-next")
        self.page_label = widgets.HTML()
        self.page_label.add_class("jwstnb-page-label")

        self.thumbnail_image = widgets.Image(format="png", layout=thumbnail_layout())
        self.details_html = widgets.HTML(_PICK, layout=widgets.Layout(min_width="0"))
        self.details_html.add_class("jwstnb-details-html")
        self.header_view = widgets.HTML()
        self.header_view.add_class("jwstnb-header-view")
        self.preview_button = widgets.Button(
            description="Preview FITS", icon="image", disabled=True,
            layout=widgets.Layout(width="auto"),
        )
        self.lineage_button = widgets.Button(
            description="Show lineage", icon="sitemap", disabled=True,
            layout=widgets.Layout(width="auto"),
        )
        self.preview_button.add_class("jwstnb-open-preview")
        self.lineage_button.add_class("jwstnb-open-lineage")
        self.viewer_box = widgets.VBox()
        self.viewer_box.add_class("jwstnb-viewer-box")

        row = widgets.Layout(flex_flow="row wrap", align_items="center", grid_gap="4px 12px")
        facet_grid = widgets.GridBox(
            [widgets.HBox([dropdown, self.facet_excludes[key]])
             for key, dropdown in self.facet_dropdowns.items()],
            layout=widgets.Layout(
                grid_template_columns="repeat(auto-fill, minmax(210px, 1fr))", grid_gap="2px 8px"
            ),
        )
        actions = widgets.HBox([self.preview_button, self.lineage_button])
        actions.add_class("jwstnb-actions")
        columns = widgets.GridBox(
            [self.details_html, widgets.VBox([self.thumbnail_image, self.header_view])],
            layout=widgets.Layout(
                grid_template_columns="minmax(0, 1fr) minmax(0, 1fr)", grid_gap="0 24px"
            ),
        )
        details = widgets.VBox([actions, columns])
        details.add_class("jwstnb-details-box")
        self.children = [
            widgets.HBox(
                [self.text_input, self.position_input, self.radius_input, self.radius_unit],
                layout=row,
            ),
            facet_grid,
            widgets.HBox(
                [
                    widgets.Label("Tags"), self.tags_input, self.date_from_input,
                    self.date_to_input, self.clear_button, self.export_format,
                    self.export_button, self.samp_box,
                ],
                layout=row,
            ),
            self.status,
            self.table,
            widgets.HBox([self.prev_button, self.page_label, self.next_button]),
            details,
            self.viewer_box,
        ]
        # Region, ranges and the target list: folded under one title until opened, so the
        # page and the details keep their place on a laptop screen.
        self.more_box = widgets.Accordion(children=[widgets.VBox([
            widgets.HBox([self.region_input, self.intersect_input], layout=row),
            widgets.HBox([*self.range_inputs.values(), self.calib_input], layout=row),
            widgets.HBox([self.targets_input, widgets.VBox([self.targets_upload,
                                                            self.targets_button])],
                         layout=row),
            self.targets_output,
        ])], selected_index=None)
        self.more_box.set_title(0, "Region, ranges, target list")
        self.more_box.add_class("jwstnb-more")
        self.children = [*self.children[:3], self.more_box, *self.children[3:]]
        # sky=True: a SkyView of the page's footprints; a click selects the row, a dragged
        # box becomes the position filter.
        self.sky_view: Any = None
        if self._sky:
            from jwstnb.widgets.sky import SkyView

            self.sky_view = SkyView(self.session, search_on_region=False)
            self.sky_view.on_select(lambda rid: self.select(rid) if rid else None)
            self.sky_view.on_region(lambda ra, dec, r: self.set_position(ra, dec, r))
            self.children = [*self.children[:5], self.sky_view, *self.children[5:]]

        self.text_input.observe(self._on_typing, "value")
        self.position_input.observe(self._on_typing, "value")
        for dropdown in self.facet_dropdowns.values():
            dropdown.observe(self._on_criterion, "value")
        for control in (self.tags_input, self.date_from_input, self.date_to_input,
                        self.region_input, self.intersect_input, self.calib_input,
                        *self.range_inputs.values(), *self.facet_excludes.values()):
            control.observe(self._on_criterion, "value")
        self.targets_button.on_click(lambda _: self.search_targets())
        self.targets_upload.observe(self._on_upload, "value")
        self.radius_input.observe(self._on_radius, "value")
        self.radius_unit.observe(self._on_radius, "value")
        self.clear_button.on_click(lambda _: self.clear())
        self.export_button.on_click(lambda _: self._export_clicked())
        self.samp_button.on_click(lambda _: self._samp_clicked())
        self.refresh_samp()
        self.prev_button.on_click(lambda _: self.previous_page())
        self.next_button.on_click(lambda _: self.next_page())
        self.preview_button.on_click(lambda _: self._show(self.open_preview))
        self.lineage_button.on_click(lambda _: self._show(self.show_lineage))
        self.table.observe(self._on_table_select, "selected_id")
        self.table.observe(self._on_table_order, "order")
        self.observe(self._on_page, "page")
        self.observe(self._on_status, ["status_text", "state"])

    @staticmethod
    def _date_box(label: str, css_class: str, width: str) -> widgets.Text:
        box = widgets.Text(
            placeholder="YYYY-MM-DD", description=label, continuous_update=False,
            style={"description_width": "initial"}, layout=widgets.Layout(width=width),
        )
        box.add_class(css_class)
        return box

    # --- criteria -----------------------------------------------------------------------

    @property
    def debounce(self) -> float:
        """Seconds between the last keystroke and the search (0 = search at once)."""
        return self._debouncer.delay

    @debounce.setter
    def debounce(self, seconds: float) -> None:
        self._debouncer.delay = float(seconds)

    def criteria(self) -> dict[str, Any]:
        """The keyword arguments of ``Session.search`` the controls describe (no paging).

        A position that is neither coordinates nor a known target, or a date not written
        YYYY-MM-DD, raises the error the status line then shows.
        """
        out: dict[str, Any] = {"text": self.text_input.value.strip() or None}
        for key in FACETS:
            out[key] = self.facet_dropdowns[key].value or None
        out["tags"] = list(self.tags_input.value) or None
        out["date_from"], out["date_to"] = date_range(
            parse_date(self.date_from_input.value, "Uploaded from"),
            parse_date(self.date_to_input.value, "Uploaded to"),
        )
        out["sort"], out["descending"] = sort_order(self.order)
        excluded = {}
        for key in FACETS:
            if self.facet_excludes[key].value and out.get(key):
                excluded[key] = out.pop(key)
                out[f"exclude_{key}"] = excluded[key]
        self.excluded = excluded
        for name, _label, _hint in _RANGE_BOXES:
            if name.endswith("_min"):
                field = name.removesuffix("_min")
                low = _number(self.range_inputs[name].value, name)
                high = _number(self.range_inputs[f"{field}_max"].value, f"{field}_max")
                if low is not None or high is not None:
                    out[field] = (low, high)
        for name in ("observed_from", "observed_to"):
            text = self.range_inputs[name].value.strip()
            out[name] = text or None  # ISO or MJD: the criteria read both
        if self.calib_input.value:
            out["calib_level"] = int(self.calib_input.value)
        region = " ".join(self.region_input.value.split())
        coord = None if region else self._position_coord()
        if region:
            out["region"] = region
            self.position = []
        if coord is not None:
            out["position"] = coord
            out["radius"] = self._radius_degrees()
        if region or coord is not None:
            out["intersect"] = self.intersect_input.value
        self.radius = out.get("radius", 0.0)
        return {k: v for k, v in out.items() if v is not None}

    def _radius_degrees(self) -> float:
        return float(self.radius_input.value) * RADIUS_UNITS[self.radius_unit.value]

    def exclude_facet(self, facet: str, value: str | None) -> None:
        """Leave records with ``value`` of ``facet`` out and search (what a click on the
        facet's "not" does): ``exclude_facet("instrument", "MIRI")``; None ends it."""
        with self._quietly():
            self.facet_excludes[facet].value = value is not None
        self.set_facet(facet, value)
        if value is None:
            self._reset_page_and_search()

    def set_region(self, region: str | None, intersect: str = "overlaps") -> None:
        """Search a region (STC-S) in an intersect mode (overlaps, covers, enclosed,
        center) at once; ``set_region(None)`` clears it."""
        from jwstnb.sky import parse_intersect

        with self._quietly():
            self.region_input.value = region or ""
            self.intersect_input.value = parse_intersect(intersect)
        self._reset_page_and_search()

    def search_targets(self, targets: Any = None) -> Any:
        """Search every target of a list (``targets``, else the pasted or uploaded list)
        within the radius shown, with the other criteria shown; the astropy Table (one row
        per match, ``target_index`` first) lands in :attr:`target_table` and a summary
        below the box. The session's ``search_targets`` does the work in one query plan."""
        if targets is None:
            targets = self.targets_input.value
        criteria = {k: v for k, v in self.criteria().items()
                    if k not in ("position", "radius", "region", "intersect", "sort",
                                 "descending")}
        try:
            if not isinstance(self.session, TargetSession):
                raise TypeError("this session cannot search target lists")
            table = self.session.search_targets(
                targets, radius=self._radius_degrees(),
                intersect=self.intersect_input.value, **criteria)
        except Exception as exc:
            self.targets_output.value = (
                f'<span class="jwstnb-status-error" style="color:#b91c1c">'
                f"{html.escape(error_text(exc))}</span>")
            return None
        self.target_table = table
        count = int(table.meta.get("targets", 0)) or len(set(table["target_index"]))
        hits = len(set(table["target_index"])) if len(table) else 0
        lines = "\n".join(table[[c for c in _TARGET_COLUMNS if c in table.colnames]]
                          .pformat(max_lines=25, max_width=160)) if len(table) else ""
        self.targets_output.value = (
            f"<div>{len(table):,} records for {hits:,} of {count:,} targets "
            "(the table is <code>panel.target_table</code>)</div>"
            + (f"<pre>{html.escape(lines)}</pre>" if lines else ""))
        return table

    def _on_upload(self, change: dict[str, Any]) -> None:
        """An uploaded list: a table astropy reads (CSV, ECSV, VOTable: ra/dec or names),
        else plain text with one target per line; it goes into the box and is searched."""
        files = change["new"]
        if not files:
            return
        upload = files[0] if isinstance(files, list | tuple) else next(iter(files.values()))
        content = bytes(upload["content"] if isinstance(upload, Mapping) else upload.content)
        text = content.decode("utf-8", errors="replace")
        targets: Any = text
        try:
            import io

            from astropy.table import Table

            table = Table.read(io.BytesIO(content) if text.lstrip().startswith("<")
                               else text, format=None if text.lstrip().startswith("<")
                               else "ascii")
            if {c.lower() for c in table.colnames} & {"ra", "s_ra", "name", "target",
                                                      "target_name"}:
                targets = table
        except Exception:  # not a table astropy reads: lines of text
            targets = text
        if isinstance(targets, str):
            self.targets_input.value = text
        self.search_targets(targets)

    def _position_coord(self) -> Any:
        text = " ".join(self.position_input.value.split())
        if not text:
            self.position = []
            return None
        if text not in self._positions:
            self._positions[text] = resolve_position(text, self.session)
        ra, dec = self._positions[text]
        self.position = [ra, dec]
        return (ra, dec)

    def set_text(self, text: str) -> None:
        """Put ``text`` in the search box and search at once (no debounce)."""
        with self._quietly():
            self.text_input.value = text
        self._reset_page_and_search()

    def set_facet(self, facet: str, value: str | None) -> None:
        """Choose a facet value and search: ``set_facet("data_type", "image")``; None = any."""
        dropdown = self.facet_dropdowns[facet]
        value = value or ANY
        if value not in [v for _, v in dropdown.options]:
            with self._quietly():
                dropdown.options = [*dropdown.options, (f"{value} (0)", value)]
        dropdown.value = value

    def set_position(
        self, ra: float | None, dec: float | None = None, radius: float | None = None
    ) -> None:
        """Search around ``(ra, dec)`` in degrees within ``radius`` degrees (None keeps the
        radius shown) and search at once; ``set_position(None)`` clears the position.

        This is how another view (a sky map) drives the panel: the boxes show what was set.
        """
        with self._quietly():
            if ra is None or dec is None:
                self.position_input.value = ""
            else:
                self.position_input.value = f"{float(ra):.6f} {float(dec):+.6f}"
            if radius is not None:
                value, unit = _radius_in_unit(float(radius))
                self.radius_unit.value = unit
                self.radius_input.value = value
        self._reset_page_and_search()

    def set_sort(self, field: str, descending: bool = False) -> None:
        """Sort by a ``jwstnb.criteria.SORT_FIELDS`` key (what a click on a column header does)."""
        self.table.order = f"-{field}" if descending else field

    def clear(self) -> None:
        """Reset every filter (text, position, facets, tags, dates) and search once."""
        with self._quietly():
            self.text_input.value = ""
            self.position_input.value = ""
            for dropdown in self.facet_dropdowns.values():
                dropdown.value = ANY
            self.tags_input.value = []
            self.date_from_input.value = ""
            self.date_to_input.value = ""
            self.region_input.value = ""
            self.intersect_input.value = "overlaps"
            for toggle in self.facet_excludes.values():
                toggle.value = False
            for box in self.range_inputs.values():
                box.value = ""
            self.calib_input.value = ANY
        self._reset_page_and_search()

    # --- paging -------------------------------------------------------------------------

    def next_page(self) -> None:
        """Show the next page, if there is one."""
        if not self.next_button.disabled:
            self.page += 1

    def previous_page(self) -> None:
        """Show the previous page, if there is one."""
        if self.page > 1:
            self.page -= 1

    # --- searching ----------------------------------------------------------------------

    def search_now(self) -> None:
        """Search for the current criteria now (a pending debounce is dropped): the page
        first, then the total and facets."""
        self._debouncer.cancel()
        self._generation += 1
        try:
            criteria = self.criteria()
        except Exception as exc:  # a position or date the panel cannot read
            self._failed(exc)
            return
        self._criteria = criteria
        if not self._show_page(criteria):
            return
        if self.page == 1 and not self.results:
            self._apply_counts(_NOTHING)  # an empty first page: nothing to count
        else:
            self._request_counts(self._generation, criteria)

    def _show_page(self, criteria: Mapping[str, Any]) -> bool:
        """Fetch and show the current page; False when the query failed."""
        self.state = "loading"
        self.status_text = "Searching..."
        if not self.results:
            self.table.message = "Searching..."
        try:
            items = list(
                self.session.items(**criteria, page=self.page, page_size=self.page_size)
            )
        except Exception as exc:
            self._failed(exc)
            return False
        finally:
            self.searches += 1
        self._items = {str(r.id): r for r in items}
        rows = [record_row(r) for r in items]
        table_rows = []
        for record, row in zip(items, rows, strict=True):
            shown = dict(row)
            if self.thumbnails:
                shown["thumb"] = png_data_url(record.thumbnail)
            table_rows.append(shown)
        self.results = rows
        if self.sky_view is not None:
            self.sky_view.criteria = dict(criteria)  # the searched cone is drawn too
            self.sky_view.show(items)
        self.table.message = "" if rows else self._empty_message()
        self.table.rows = table_rows
        self.table.selected_id = self.selected["id"] if self.selected else ""
        self.state = "ready" if rows else "empty"
        self._update_status()
        return True

    def _failed(self, exc: BaseException) -> None:
        self._items = {}
        self.results = []
        self.total = 0
        self.pages = 0
        self.counting = False
        self.table.rows = []
        self.status_text = f"Search failed: {error_text(exc)}"
        self.table.message = self.status_text
        self.state = "error"
        self._update_paging()

    def _request_counts(self, generation: int, criteria: Mapping[str, Any]) -> None:
        self.counting = True
        self._update_status()

        def work() -> Any:
            # One count at a time; criteria replaced while waiting are never sent.
            with self._count_lock:
                if generation != self._generation:
                    return None
                try:
                    timeout = int(self.count_timeout * 1000)
                    return self.session.counts(max_time_ms=timeout, **criteria)
                except Exception as exc:
                    return exc

        def apply(result: Any) -> None:
            if result is None or generation != self._generation:
                return  # stale: a newer search owns the status line
            self._apply_counts(result)

        run_in_background(work, apply, background=self.background_counts,
                          delay=self.count_delay)

    def _apply_counts(self, result: Any) -> None:
        self.counting = False
        if isinstance(result, BaseException):
            from jwstnb.errors import QueryTimeout

            if isinstance(result, QueryTimeout):
                reason = f"counting stopped after {self.count_timeout:g} s"
            else:
                reason = f"counting failed: {error_text(result)}"
            self.pages = 0
            self._update_paging()
            shown = page_summary(None, self.page, self.page_size, len(self.results))
            self.status_text = f"{shown.split(' of ')[0]} · {reason}"
            return
        self.total = int(result.total)
        self.pages = -(-self.total // self.page_size) if self.total else 0
        self.facets = {k: dict(v) for k, v in (result.facets or {}).items()}
        self._update_facet_options()
        if not self.results and self.page == 1:
            self.table.message = self._empty_message()
        self.counted += 1
        self._update_status()

    def _update_status(self) -> None:
        if self.state == "error":
            return
        shown = len(self.results)
        if not self.counting:
            self.status_text = page_summary(self.total, self.page, self.page_size, shown)
        elif 0 < shown < self.page_size:  # the last page: the total is known already
            known = (self.page - 1) * self.page_size + shown
            self.status_text = page_summary(known, self.page, self.page_size) + " · counting..."
        else:
            self.status_text = page_summary(None, self.page, self.page_size, shown)
        self._update_paging()

    def _empty_message(self) -> str:
        if self.page > 1:
            return f"Page {self.page} is past the last page."
        filters = {k: v for k, v in self._criteria.items() if k not in ("sort", "descending")}
        if filters:
            return "No records match these filters. Clear a filter or try another word."
        return "No records yet. Import data with jwstnb.ingest.scan or `jwstnb seed`."

    def _update_facet_options(self) -> None:
        with self._quietly():
            for key, dropdown in self.facet_dropdowns.items():
                current = dropdown.value
                options = facet_options(key, self.facets.get(key), current)
                if list(dropdown.options) != options:
                    dropdown.options = options
                    dropdown.value = current

    def _update_paging(self) -> None:
        self.prev_button.disabled = self.page <= 1
        if self.counting or (not self.pages and self.state != "error"):
            # Total unknown: another page may exist when this one is full.
            self.next_button.disabled = len(self.results) < self.page_size
        else:
            self.next_button.disabled = self.page >= self.pages
        if self.counting or not self.pages:  # the number of pages is not known (yet)
            self.page_label.value = f"&nbsp;page {self.page:,}&nbsp;" if self.results else ""
        else:
            self.page_label.value = f"&nbsp;page {self.page:,} of {self.pages:,}&nbsp;"

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _reset_page_and_search(self) -> None:
        if self.page != 1:
            with self._quietly():
                self.page = 1
        self.search_now()

    def _on_typing(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if self.page != 1:
            with self._quietly():
                self.page = 1
        self._debouncer.trigger()

    def _on_criterion(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self._reset_page_and_search()

    def _on_radius(self, change: dict[str, Any]) -> None:
        if not self._quiet and self.position_input.value.strip():
            self._reset_page_and_search()

    def _on_table_order(self, change: dict[str, Any]) -> None:
        if change["new"] != self.order:
            self.order = change["new"]
        if not self._quiet:
            self._reset_page_and_search()

    def _on_page(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if change["new"] < 1:
            self.page = 1  # re-enters this handler, which searches
            return
        self._debouncer.cancel()
        self._show_page(self._criteria)  # same criteria: the counts stand

    def _on_status(self, change: dict[str, Any]) -> None:
        colour = {"error": "#b91c1c", "loading": "#6b7280"}.get(self.state, "inherit")
        self.status.value = (
            f'<span class="jwstnb-status-{self.state}" style="color:{colour}">'
            f"{html.escape(self.status_text)}</span>"
        )

    # --- export -------------------------------------------------------------------------

    def export(self, path: str | Path | None = None, format: str = "ECSV") -> Path:
        """Write every record matching the current criteria (up to ``export_limit``) as an
        astropy table: ``format`` ECSV, CSV or VOTable. Returns the file written
        (default: ``jwstnb-search-<UTC time>.<ext>`` in the working directory)."""
        if format not in EXPORT_FORMATS:
            raise ValueError(f"export format must be one of {', '.join(EXPORT_FORMATS)}")
        astropy_format, extension = EXPORT_FORMATS[format]
        if path is None:
            path = f"jwstnb-search-{datetime.now(UTC):%Y%m%d-%H%M%S}{extension}"
        target = Path(path)
        table = self.session.table(limit=self.export_limit, **self.criteria())
        if astropy_format != "ascii.ecsv":
            from astropy.coordinates import SkyCoord

            # Only ECSV keeps a SkyCoord column; the others carry ra/dec as plain columns.
            table = table.copy(copy_data=False)
            table.remove_columns([n for n in table.colnames if isinstance(table[n], SkyCoord)])
        table.write(target, format=astropy_format, overwrite=True)
        return target

    def _export_clicked(self) -> None:
        try:
            target = self.export(format=self.export_format.value)
        except Exception as exc:
            self.status_text = f"Export failed: {error_text(exc)}"
            return
        self.status_text = f"Exported the results to {target}"

    # --- SAMP -----------------------------------------------------------------------------

    def refresh_samp(self) -> bool:
        """Look for a SAMP hub: show "Send to..." with the applications that take tables
        when one runs, hide it otherwise. Returns whether one runs."""
        try:
            link = self._samp if self._samp is not None else samp_link(self._samp_arg)
            running = link is not None and link.hub_running()
        except Exception:
            link, running = None, False
        self._samp = link
        if not running or link is None:
            self.samp_box.layout.display = "none"
            return False
        from jwstnb.interop.samp import TABLE

        try:
            names = dict(link.clients(TABLE))
            if not self._samp_listening:
                link.on_rows(self._on_samp_rows)
                self._samp_listening = True
        except Exception:
            self.samp_box.layout.display = "none"
            return False
        current = self.samp_target.value
        apps = sorted(((name, cid) for cid, name in names.items()), key=lambda o: o[0].lower())
        self.samp_target.options = [("every SAMP application", ""), *apps]
        self.samp_target.value = current if current in names else ""
        self.samp_box.layout.display = ""
        return True

    def _match_table(self) -> Any:
        """Every matching row (up to ``export_limit``) as an ObsCore table where the session
        makes them, else its default table."""
        criteria = self.criteria()
        try:
            return self.session.table(limit=self.export_limit, schema="obscore", **criteria)
        except (TypeError, ValueError):
            return self.session.table(limit=self.export_limit, **criteria)

    def send_to_samp(self, recipient: str | None = None) -> str:
        """Send every matching row to a SAMP application (its client id or name; None: the
        one chosen in the panel, or every one). Returns the SAMP table id; rows that
        application highlights come back as the panel's selection."""
        if self._samp is None and not self.refresh_samp():
            from jwstnb.interop.samp import SampError

            raise SampError("no SAMP hub is running: start TOPCAT or Aladin, then call "
                            "panel.refresh_samp()")
        assert self._samp is not None
        table = self._match_table()
        ids = [str(v) for v in table["id"]] if "id" in table.colnames else []
        target = recipient if recipient is not None else (self.samp_target.value or None)
        name = f"jwstnb search ({len(table):,} rows)"
        table_id = self._samp.send_table(table, name=name, recipient=target)
        self._sent_tables[table_id] = ids
        return table_id

    def _samp_clicked(self) -> None:
        try:
            self.send_to_samp()
        except Exception as exc:
            self.status_text = f"Send failed: {error_text(exc)}"
            return
        label = dict((v, k) for k, v in self.samp_target.options).get(self.samp_target.value)
        self.status_text = f"Sent the results to {label or 'every SAMP application'}"

    def _on_samp_rows(self, table_id: str, rows: list[int]) -> None:
        """Rows highlighted or selected in a table sent from this panel (SAMP's thread)."""
        ids = self._sent_tables.get(table_id)
        if ids is None:
            return
        chosen = [ids[r] for r in rows if 0 <= r < len(ids)]

        def apply() -> None:
            self.highlighted = chosen
            if chosen:
                self.select(chosen[0])

        if self._loop is not None:
            self._loop.call_soon_threadsafe(apply)
        else:
            apply()

    # --- selection and details ----------------------------------------------------------

    def select(self, record: str | int | None) -> None:
        """Choose a record: its id, its index in ``results``, or None to clear the choice."""
        record_id = self.results[record]["id"] if isinstance(record, int) else record
        self.table.selected_id = record_id or ""

    def _on_table_select(self, change: dict[str, Any]) -> None:
        record_id = change["new"]
        if self.sky_view is not None:
            self.sky_view.select(record_id or None)
        if not record_id:
            self.selected_record = None
            self.selected = None  # type: ignore[assignment]  # allow_none=True
            self.details_html.value = _PICK
            self.header_view.value = ""
            self.thumbnail_image.layout.display = "none"
            self.preview_button.disabled = self.lineage_button.disabled = True
            return
        record = self._items.get(record_id)
        if record is None:
            record, problem = fetch_record(self.session, record_id, record_id)
            if problem is not None:
                self.details_html.value = problem
                return
        self.selected_record = record
        self.details_html.value = detail_html(record)
        self.header_view.value = self._header_summary(record)
        show_thumbnail(self.thumbnail_image, record, self.storage)
        can_open = self.storage is not None and is_fits_key(record.file_path)
        self.preview_button.disabled = not can_open
        self.lineage_button.disabled = not record.observation_base_id
        self.selected = record_dict(record)
        self._follow_in_lineage(record)

    def _follow_in_lineage(self, record: Any) -> None:
        """An open lineage viewer follows the selection (its group, counts and choice)."""
        from jwstnb.widgets.lineage import LineageViewer

        viewers = [v for v in self.viewer_box.children if isinstance(v, LineageViewer)]
        if not viewers:
            return
        if not record.observation_base_id:
            self.viewer_box.children = []
            return
        viewer = viewers[0]
        if viewer.observation_base_id != record.observation_base_id:
            viewer.show(record.observation_base_id)
        viewer.select(str(record.id))

    def _header_summary(self, record: Any) -> str:
        if self.storage is None or not is_fits_key(record.file_path):
            return ""
        try:
            header = self.storage.read_header(record.file_path, 0)
            pairs = header_summary(header)
            with contextlib.suppress(Exception):  # files without a SCI extension
                sci = self.storage.read_header(record.file_path, "SCI")
                known = {k for k, _ in pairs}
                pairs += [p for p in header_summary(sci) if p[0] not in known]
        except Exception as exc:
            reason = html.escape(error_text(exc))
            return f'<div class="jwstnb-error">Header unavailable: {reason}</div>'
        return "<b>Header</b>" + header_html(pairs)

    # --- opening ------------------------------------------------------------------------

    def _require_selection(self) -> Any:
        if self.selected_record is None:
            raise ValueError("No record selected: click a row, or call panel.select(record_id).")
        return self.selected_record

    def open_selected(self) -> Any:
        """The selected record's file as an astropy HDUList (opened lazily from storage)."""
        record = self._require_selection()
        if self.storage is None:
            raise ValueError(
                "This panel has no storage to open files from: "
                "SearchPanel(session, storage=jwstnb.Storage(url)) or set JWSTNB_STORAGE_URL."
            )
        if not record.file_path:
            raise ValueError(f"{record.file_name} has no storage key (filePath) to open.")
        return self.storage.open_fits(record.file_path)

    def open_preview(self) -> Any:
        """A FitsPreview of the selected file, shown under the panel; returns it."""
        from jwstnb.widgets.preview import FitsPreview

        record = self._require_selection()
        if self.storage is None:
            raise ValueError("This panel has no storage: SearchPanel(session, storage=...).")
        preview = FitsPreview(self.storage, record.file_path)
        self.viewer_box.children = [preview]
        return preview

    def show_lineage(self) -> Any:
        """A LineageViewer of the selected record's group, shown under the panel; it then
        follows the selection."""
        from jwstnb.widgets.lineage import LineageViewer

        record = self._require_selection()
        if not record.observation_base_id:
            raise ValueError(f"{record.file_name} belongs to no observation (observationBaseId).")
        viewer = LineageViewer(
            self.session,
            record.observation_base_id,
            storage=self.storage,
            selected_id=str(record.id),
        )
        self.viewer_box.children = [viewer]
        return viewer

    def _show(self, opener: Any) -> None:
        try:
            opener()
        except Exception as exc:
            self.viewer_box.children = [
                widgets.HTML(f'<div class="jwstnb-error">{html.escape(error_text(exc))}</div>')
            ]
