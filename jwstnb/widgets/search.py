"""SearchPanel: search as you type, facet dropdowns with counts, a paged table, details.

Every change of a criterion runs one ``Session.search`` (one aggregate round trip for the
page of items, the total and the facets); only that page of documents crosses the wire.
The text box is debounced (``debounce`` seconds after the last keystroke; 0 = at once);
dropdowns, tags, dates, sort and paging search at once. Notebook code reacts to the traits
``results`` (the rows of the current page), ``selected`` (the chosen record as a dict),
``total``, ``page``, ``facets`` and ``status_text``, and opens the chosen file with
:meth:`SearchPanel.open_selected`.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator
from typing import Any

import ipywidgets as widgets
import traitlets

from jwstnb.widgets._debounce import Debouncer
from jwstnb.widgets._format import (
    ANY,
    FACET_KEYS,
    FACET_LABELS,
    LEVEL_COLOURS,
    SORT_CHOICES,
    date_range,
    detail_html,
    facet_options,
    header_html,
    header_summary,
    page_summary,
    png_data_url,
    record_dict,
    record_row,
)
from jwstnb.widgets._views import ResultsTable

__all__ = ["SearchPanel", "error_text"]

TABLE_COLUMNS: list[list[str]] = [
    ["thumb", ""],
    ["file_name", "File"],
    ["processing_level", "Level"],
    ["data_type", "Type"],
    ["instrument", "Instrument"],
    ["filter", "Filter"],
    ["target_name", "Target"],
    ["processing_status", "Status"],
    ["observation_date", "Observed"],
    ["size", "Size"],
]

_PICK = '<div class="jwstnb-note">Pick a row to see its details.</div>'
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")


def thumbnail_layout() -> widgets.Layout:
    """A fixed square for thumbnails: never stretched by the details next to them."""
    return widgets.Layout(
        width="192px", height="192px", object_fit="contain", align_self="flex-start",
        flex="0 0 auto", display="none",
    )


def show_thumbnail(image: widgets.Image, record: Any, storage: Any) -> None:
    """Show ``record``'s stored thumbnail, else one generated from storage; hide if neither.

    A file that cannot be rendered simply shows no thumbnail: the details still say what it is.
    """
    png = record.thumbnail
    if not png and storage is not None and record.is_viewable and record.file_path:
        try:
            png = storage.thumbnail(record.file_path, size=256)
        except Exception:
            png = None
    if png:
        image.value = png
        image.layout.display = ""
    else:
        image.layout.display = "none"


def error_text(exc: BaseException) -> str:
    """One readable line for an error shown in a widget (jwstnb errors carry their own)."""
    from jwstnb.errors import JwstnbError

    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, JwstnbError) and message:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def is_fits_key(key: str | None) -> bool:
    """True for storage keys that name a FITS file (by extension)."""
    return bool(key) and str(key).lower().endswith(_FITS_SUFFIXES)


class SearchPanel(widgets.VBox):
    """Search the records a session may read; pick one to see details, preview or lineage.

    ``SearchPanel(session, storage=None, *, page_size=20, debounce=0.3, thumbnails=True)``.
    Without ``storage`` the panel searches and shows metadata, but cannot read headers,
    generate thumbnails or open files.
    """

    results = traitlets.List(help="rows of the current page (dicts, see _format.record_row)")
    selected = traitlets.Dict(allow_none=True, default_value=None, help="the chosen record")
    total = traitlets.Int(0, help="records matching the criteria (all pages)")
    page = traitlets.Int(1, help="current page, from 1")
    pages = traitlets.Int(0, help="number of pages")
    page_size = traitlets.Int(20)
    facets = traitlets.Dict(help="facet key -> {value: count} for the current criteria")
    status_text = traitlets.Unicode("", help="what the status line says")
    state = traitlets.Unicode("idle", help="idle | loading | ready | empty | error")
    searches = traitlets.Int(0, help="number of searches run (for tests and benchmarks)")

    def __init__(
        self,
        session: Any,
        storage: Any = None,
        *,
        page_size: int = 20,
        debounce: float = 0.3,
        thumbnails: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.storage = storage
        self.page_size = int(page_size)
        self.thumbnails = thumbnails
        self.selected_record: Any = None
        self._items: dict[str, Any] = {}
        self._quiet = 0
        self._debouncer = Debouncer(self.search_now, debounce)
        self.add_class("jwstnb-search")

        self.text_input = widgets.Text(
            placeholder="Search names, targets, tags... e.g. ngc 3132",
            continuous_update=True,
            layout=widgets.Layout(flex="1 1 auto", width="auto"),
        )
        self.text_input.add_class("jwstnb-search-text")
        self.sort_dropdown = widgets.Dropdown(
            options=list(SORT_CHOICES), description="Sort", layout=widgets.Layout(width="260px")
        )
        self.facet_dropdowns: dict[str, widgets.Dropdown] = {}
        for key in FACET_KEYS:
            dropdown = widgets.Dropdown(
                options=[("any", ANY)],
                value=ANY,
                description=FACET_LABELS[key],
                layout=widgets.Layout(width="auto"),
                style={"description_width": "80px"},
            )
            dropdown.add_class(f"jwstnb-facet-{key.replace('_', '-')}")
            self.facet_dropdowns[key] = dropdown
        self.tags_input = widgets.TagsInput(
            value=[], allow_duplicates=False, layout=widgets.Layout(min_width="220px")
        )
        self.tags_input.add_class("jwstnb-tags")
        self.date_from_picker = widgets.DatePicker(description="From")
        self.date_to_picker = widgets.DatePicker(description="To")
        self.clear_button = widgets.Button(description="Clear filters", icon="times")
        self.status = widgets.HTML()
        self.status.add_class("jwstnb-status")
        self.table = ResultsTable(
            columns=TABLE_COLUMNS if thumbnails else TABLE_COLUMNS[1:],
            level_colours=LEVEL_COLOURS,
            message="Searching...",
        )
        self.prev_button = widgets.Button(description="Previous", icon="chevron-left")
        self.next_button = widgets.Button(description="Next", icon="chevron-right")
        self.prev_button.add_class("jwstnb-prev")
        self.next_button.add_class("jwstnb-next")
        self.page_label = widgets.HTML()
        self.page_label.add_class("jwstnb-page-label")

        self.thumbnail_image = widgets.Image(format="png", layout=thumbnail_layout())
        self.details_html = widgets.HTML(_PICK)
        self.details_html.add_class("jwstnb-details-html")
        self.header_view = widgets.HTML()
        self.preview_button = widgets.Button(
            description="Preview FITS", icon="image", disabled=True
        )
        self.lineage_button = widgets.Button(
            description="Show lineage", icon="sitemap", disabled=True
        )
        self.preview_button.add_class("jwstnb-open-preview")
        self.lineage_button.add_class("jwstnb-open-lineage")
        self.viewer_box = widgets.VBox()
        self.viewer_box.add_class("jwstnb-viewer-box")

        facet_grid = widgets.GridBox(
            list(self.facet_dropdowns.values()),
            layout=widgets.Layout(grid_template_columns="repeat(3, minmax(220px, 1fr))"),
        )
        details = widgets.HBox(
            [
                self.thumbnail_image,
                widgets.VBox(
                    [
                        widgets.HBox(
                            [self.details_html, self.header_view],
                            layout=widgets.Layout(flex_flow="row wrap", grid_gap="24px"),
                        ),
                        widgets.HBox([self.preview_button, self.lineage_button]),
                    ],
                    layout=widgets.Layout(flex="1 1 auto"),
                ),
            ]
        )
        details.add_class("jwstnb-details-box")
        self.children = [
            widgets.HBox([self.text_input, self.sort_dropdown]),
            facet_grid,
            widgets.HBox(
                [
                    widgets.Label("Tags"),
                    self.tags_input,
                    self.date_from_picker,
                    self.date_to_picker,
                    self.clear_button,
                ]
            ),
            self.status,
            self.table,
            widgets.HBox([self.prev_button, self.page_label, self.next_button]),
            details,
            self.viewer_box,
        ]

        self.text_input.observe(self._on_text, "value")
        for dropdown in self.facet_dropdowns.values():
            dropdown.observe(self._on_criterion, "value")
        for control in (
            self.tags_input, self.date_from_picker, self.date_to_picker, self.sort_dropdown,
        ):
            control.observe(self._on_criterion, "value")
        self.clear_button.on_click(lambda _: self.clear())
        self.prev_button.on_click(lambda _: self.previous_page())
        self.next_button.on_click(lambda _: self.next_page())
        self.preview_button.on_click(lambda _: self._show(self.open_preview))
        self.lineage_button.on_click(lambda _: self._show(self.show_lineage))
        self.table.observe(self._on_table_select, "selected_id")
        self.observe(self._on_page, "page")
        self.observe(self._on_status, ["status_text", "state"])

        self.search_now()

    # --- criteria -----------------------------------------------------------------------

    @property
    def debounce(self) -> float:
        """Seconds between the last keystroke and the search (0 = search at once)."""
        return self._debouncer.delay

    @debounce.setter
    def debounce(self, seconds: float) -> None:
        self._debouncer.delay = float(seconds)

    def criteria(self) -> dict[str, Any]:
        """The keyword arguments of ``Session.search`` the controls describe (no paging)."""
        out: dict[str, Any] = {"text": self.text_input.value.strip() or None}
        for key, argument in FACET_KEYS.items():
            out[argument] = self.facet_dropdowns[key].value or None
        out["tags"] = list(self.tags_input.value) or None
        out["date_from"], out["date_to"] = date_range(
            self.date_from_picker.value, self.date_to_picker.value
        )
        out["sort"], out["descending"] = SORT_CHOICES[self.sort_dropdown.value]
        return out

    def set_text(self, text: str) -> None:
        """Put ``text`` in the search box and search at once (no debounce)."""
        with self._quietly():
            self.text_input.value = text
        self._reset_page_and_search()

    def set_facet(self, facet: str, value: str | None) -> None:
        """Choose a facet value and search: ``set_facet("data_type", "image")``; None = any."""
        dropdown = self.facet_dropdowns[facet]
        value = value or ANY
        if value not in dropdown.options and value not in [v for _, v in dropdown.options]:
            with self._quietly():
                dropdown.options = [*dropdown.options, (f"{value} (0)", value)]
        dropdown.value = value

    def clear(self) -> None:
        """Reset every filter (text, facets, tags, dates) and search once."""
        with self._quietly():
            self.text_input.value = ""
            for dropdown in self.facet_dropdowns.values():
                dropdown.value = ANY
            self.tags_input.value = []
            self.date_from_picker.value = None
            self.date_to_picker.value = None
        self._reset_page_and_search()

    # --- paging -------------------------------------------------------------------------

    def next_page(self) -> None:
        """Show the next page, if there is one."""
        if self.page < self.pages:
            self.page += 1

    def previous_page(self) -> None:
        """Show the previous page, if there is one."""
        if self.page > 1:
            self.page -= 1

    # --- searching ----------------------------------------------------------------------

    def search_now(self) -> None:
        """Run the search for the current criteria and page now (a pending debounce is dropped)."""
        self._debouncer.cancel()
        criteria = self.criteria()
        self.state = "loading"
        self.status_text = "Searching..."
        if not self.results:
            self.table.message = "Searching..."
        try:
            result = self.session.search(**criteria, page=self.page, page_size=self.page_size)
        except Exception as exc:
            self._items = {}
            self.results = []
            self.total = 0
            self.pages = 0
            self.table.rows = []
            self.status_text = f"Search failed: {error_text(exc)}"
            self.table.message = self.status_text
            self.state = "error"
            self._update_paging()
            return
        finally:
            self.searches += 1
        items = list(result.items)
        self._items = {str(r.id): r for r in items}
        rows = [record_row(r) for r in items]
        self.total = int(result.total)
        self.pages = int(result.pages)
        self.facets = {k: dict(v) for k, v in (result.facets or {}).items()}
        self._update_facet_options()
        table_rows = []
        for record, row in zip(items, rows, strict=True):
            shown = dict(row)
            if self.thumbnails:
                shown["thumb"] = png_data_url(record.thumbnail)
            table_rows.append(shown)
        self.results = rows
        self.table.message = "" if rows else self._empty_message()
        self.table.rows = table_rows
        self.table.selected_id = self.selected["id"] if self.selected else ""
        self.status_text = page_summary(self.total, self.page, self.page_size)
        self.state = "ready" if rows else "empty"
        self._update_paging()

    def _empty_message(self) -> str:
        if self.total and self.page > 1:
            return f"Page {self.page} is past the last page ({self.pages})."
        if any(v for k, v in self.criteria().items() if k not in ("sort", "descending")):
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
        self.next_button.disabled = self.page >= self.pages
        self.page_label.value = (
            f"&nbsp;page {self.page:,} of {max(self.pages, 1):,}&nbsp;" if self.pages else ""
        )

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

    def _on_text(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if self.page != 1:
            with self._quietly():
                self.page = 1
        self._debouncer.trigger()

    def _on_criterion(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        self._reset_page_and_search()

    def _on_page(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if change["new"] < 1:
            self.page = 1  # re-enters this handler, which searches
            return
        self.search_now()

    def _on_status(self, change: dict[str, Any]) -> None:
        colour = {"error": "#b91c1c", "loading": "#6b7280"}.get(self.state, "inherit")
        self.status.value = (
            f'<span class="jwstnb-status-{self.state}" style="color:{colour}">'
            f"{html.escape(self.status_text)}</span>"
        )

    # --- selection and details ----------------------------------------------------------

    def select(self, record: str | int | None) -> None:
        """Choose a record: its id, its index in ``results``, or None to clear the choice."""
        if isinstance(record, int):
            record = self.results[record]["id"]
        self.table.selected_id = record or ""

    def _on_table_select(self, change: dict[str, Any]) -> None:
        record_id = change["new"]
        if not record_id:
            self.selected_record = None
            self.selected = None
            self.details_html.value = _PICK
            self.header_view.value = ""
            self.thumbnail_image.layout.display = "none"
            self.preview_button.disabled = self.lineage_button.disabled = True
            return
        record = self._items.get(record_id)
        if record is None:
            try:
                record = self.session.get(record_id)
            except Exception as exc:
                self.details_html.value = (
                    f'<div class="jwstnb-error">Cannot show {html.escape(record_id)}: '
                    f"{html.escape(error_text(exc))}</div>"
                )
                return
        self.selected_record = record
        self.details_html.value = detail_html(record)
        self.header_view.value = self._header_summary(record)
        self._show_thumbnail(record)
        can_open = self.storage is not None and is_fits_key(record.file_path)
        self.preview_button.disabled = not can_open
        self.lineage_button.disabled = not record.observation_base_id
        self.selected = record_dict(record)

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

    def _show_thumbnail(self, record: Any) -> None:
        show_thumbnail(self.thumbnail_image, record, self.storage)

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
        """A LineageViewer of the selected record's observation, shown under the panel."""
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
