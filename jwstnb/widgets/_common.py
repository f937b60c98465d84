"""What the widgets share: the session and storage they need (Protocols), error lines,
thumbnails, static view files and background work.

The widgets depend on these small Protocols rather than on :class:`jwstnb.session.Session`
and :class:`jwstnb.storage.Storage`, so their Python side runs against fakes in unit tests
and against the real servers in integration tests. Nothing here imports another widget
module, so ``search``, ``lineage`` and ``preview`` import from here and never from each other
at module level.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from jwstnb.widgets._debounce import in_kernel, running_loop

if TYPE_CHECKING:
    import ipywidgets as widgets

__all__ = [
    "STATIC",
    "CountsLike",
    "LineageSession",
    "SampLink",
    "SearchSession",
    "TargetSession",
    "WidgetStorage",
    "error_text",
    "is_fits_key",
    "run_in_background",
    "samp_link",
    "show_thumbnail",
    "static_file",
    "thumbnail_layout",
]

STATIC = Path(__file__).parent / "static"

T = TypeVar("T")


class CountsLike(Protocol):
    """The total and facet counts of a search (``Session.counts``)."""

    total: int
    facets: Mapping[str, Mapping[str, int]]


@runtime_checkable
class TargetSession(Protocol):
    """What the SearchPanel's target list asks of a session (``Session.search_targets``):
    one astropy Table of every match of every target, ``target_index`` first."""

    def search_targets(
        self, targets: Any, radius: Any = 0.0, *, intersect: str = "overlaps", **criteria: Any
    ) -> Any: ...


@runtime_checkable
class SearchSession(Protocol):
    """What the SearchPanel asks of a session (and of the lineage viewer it opens).

    ``items`` returns one page of records (an index-sorted query), ``counts`` the total and
    facets (bounded by ``max_time_ms``; ``jwstnb.errors.QueryTimeout`` when the server stops
    it), ``table`` an astropy Table of every match (for export), ``get`` one record.
    """

    def items(self, **criteria: Any) -> Sequence[Any]: ...

    def counts(self, *, max_time_ms: int | None = None, **criteria: Any) -> CountsLike: ...

    def table(self, limit: int | None = None, **criteria: Any) -> Any: ...

    def get(self, record_id: str) -> Any: ...

    def lineage(self, group: str) -> Any: ...

    def observations(self) -> Sequence[str]: ...


@runtime_checkable
class LineageSession(Protocol):
    """What the LineageViewer asks of a session: a group's Lineage, the groups, one record."""

    def lineage(self, group: str) -> Any: ...

    def observations(self) -> Sequence[str]: ...

    def get(self, record_id: str) -> Any: ...


@runtime_checkable
class WidgetStorage(Protocol):
    """What the widgets read from storage: thumbnails and headers for the details, and what
    FitsPreview reads (``read_headers``, ``image_data``, ``cutout``, ``open_fits``)."""

    def thumbnail(self, key: str, size: int = 256) -> bytes: ...

    def read_header(self, key: str, ext: int | str = 0) -> Any: ...

    def read_headers(self, key: str) -> list[Any]: ...

    def image_data(self, key: str, ext: Any = None, *, step: int = 1) -> Any: ...

    def cutout(self, key: str, ext: Any = "SCI", *args: Any, plane: int = 0) -> Any: ...

    def open_fits(self, key: str, *, check: bool = True) -> Any: ...


@runtime_checkable
class SampLink(Protocol):
    """What the widgets ask of SAMP (:class:`jwstnb.interop.samp.SampConnection`): is a hub
    running, who takes a message type, send a table or an image, hear rows come back."""

    def hub_running(self) -> bool: ...

    def clients(self, mtype: str | None = None) -> Mapping[str, str]: ...

    def send_table(self, table: Any, name: str | None = None,
                   recipient: str | None = None) -> str: ...

    def send_image(self, source: Any, storage: Any = None, *, name: str | None = None,
                   recipient: str | None = None) -> str: ...

    def on_rows(self, callback: Callable[[str, list[int]], Any]) -> None: ...


def samp_link(samp: SampLink | bool | None) -> SampLink | None:
    """The SAMP link a widget uses: the one given, jwstnb's shared connection for None, or
    none for False."""
    if samp is False:
        return None
    if samp is None or samp is True:
        from jwstnb.interop.samp import default

        return default()
    return samp


def static_file(name: str) -> Path:
    """A view's JavaScript or CSS under ``widgets/static/`` (anywidget reads and caches it)."""
    return STATIC / name


def error_text(exc: BaseException) -> str:
    """One readable line for an error shown in a widget (jwstnb errors carry their own;
    a validation error says its first problem: ``field: message``)."""
    from jwstnb.errors import JwstnbError, ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = str(first.get("msg", ""))
        return message if not where or message.startswith(where) else f"{where}: {message}"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, JwstnbError) and message:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def fetch_record(session: Any, record_id: str, what: str = "") -> tuple[Any, str | None]:
    """``(record, None)``, or ``(None, error html)`` when the session cannot read it."""
    import html

    try:
        return session.get(record_id), None
    except Exception as exc:
        lead = f"Cannot show {html.escape(what)}: " if what else ""
        return None, f'<div class="jwstnb-error">{lead}{html.escape(error_text(exc))}</div>'


def is_fits_key(key: str | None) -> bool:
    """True for storage keys that name a FITS file (what counts as FITS is ``naming``'s rule)."""
    from jwstnb.naming import file_type

    return bool(key) and file_type(str(key)) == "fits"


def thumbnail_layout() -> widgets.Layout:
    """A fixed square for thumbnails: never stretched by the details next to them."""
    import ipywidgets as widgets

    return widgets.Layout(
        width="192px", height="192px", object_fit="contain", align_self="flex-start",
        flex="0 0 auto", display="none",
    )


def show_thumbnail(image: widgets.Image, record: Any, storage: WidgetStorage | None) -> None:
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


def run_in_background(
    work: Callable[[], T],
    apply: Callable[[T], None],
    *,
    background: bool | None = None,
    delay: float = 0.0,
) -> threading.Thread | None:
    """Run ``work`` and hand its result to ``apply``; slow reads never block the kernel.

    ``background=None``: on a thread inside a Jupyter kernel, at once elsewhere (scripts and
    tests see the result when the call returns). On a kernel, ``apply`` runs on the kernel's
    own loop thread, like every other widget callback; without a loop it runs on the worker
    thread. ``delay``: seconds the worker waits before ``work`` (on a thread only). Returns
    the thread, or None when the work ran at once.
    """
    loop = running_loop() if in_kernel() else None
    if background is None:
        background = loop is not None
    if not background:
        apply(work())
        return None

    def run() -> None:
        if delay > 0:
            time.sleep(delay)
        result = work()
        if loop is not None:
            loop.call_soon_threadsafe(apply, result)
        else:
            apply(result)

    thread = threading.Thread(target=run, name="jwstnb-widget-work", daemon=True)
    thread.start()
    return thread
