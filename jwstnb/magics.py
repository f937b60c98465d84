"""IPython magics: ``%load_ext jwstnb``, then ``%jwst search TEXT`` or ``%jwst lineage ID``.

The magics open one session (``jwstnb.connect()``: ``JWSTNB_MONGO_URI`` or the embedded local
database) the first time they are used and reuse it; ``JWSTNB_STORAGE_URL``, when set, gives
the search panel its storage so previews open. Each command returns the widget, so it shows
as the cell's output.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

USAGE = """Usage:
  %jwst search [TEXT]     a search panel, pre-filled with TEXT
  %jwst lineage ID        the lineage of one observation (observationBaseId, e.g.
                          jw02733-o001_t001_nircam) or of the observation of a record id
  %jwst status            which database and storage the magics use"""


class UsageError(ValueError):
    """A ``%jwst`` line that does not parse; the message is the usage text."""


@dataclass(frozen=True)
class Command:
    """A parsed ``%jwst`` line."""

    action: str  # "search" | "lineage" | "status" | "help"
    argument: str = ""


def parse_line(line: str) -> Command:
    """Parse the text after ``%jwst`` (pure). Raises UsageError with the usage text."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    if not words or words[0] in ("help", "-h", "--help"):
        return Command("help")
    action, rest = words[0].lower(), " ".join(words[1:]).strip()
    if action == "search":
        return Command("search", rest)
    if action == "lineage":
        if not rest or len(words) != 2:
            raise UsageError("%jwst lineage takes one observation id\n" + USAGE)
        return Command("lineage", rest)
    if action == "status":
        return Command("status")
    raise UsageError(f"unknown %jwst command {words[0]!r}\n" + USAGE)


@magics_class
class JwstMagics(Magics):
    """The ``%jwst`` line magic; holds one session and storage for the IPython session."""

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)
        self._session: Any = None
        self._storage: Any = None

    @property
    def session(self) -> Any:
        if self._session is None:
            from jwstnb.session import connect

            self._session = connect()
        return self._session

    @property
    def storage(self) -> Any:
        if self._storage is None and os.environ.get("JWSTNB_STORAGE_URL"):
            from jwstnb.storage import Storage

            self._storage = Storage()
        return self._storage

    @line_magic
    def jwst(self, line: str) -> Any:
        """``%jwst search TEXT`` | ``%jwst lineage ID`` | ``%jwst status``."""
        try:
            cmd = parse_line(line)
        except UsageError as exc:
            print(exc)
            return None
        if cmd.action == "help":
            print(USAGE)
            return None
        if cmd.action == "status":
            from jwstnb.cli import redact

            s = self.session
            print(f"database {s.database_name}.{s.collection_name} as {s.role}")
            print(f"storage {redact(os.environ.get('JWSTNB_STORAGE_URL')) or '(not set)'}")
            return None
        from jwstnb import widgets

        if cmd.action == "search":
            panel = widgets.SearchPanel(self.session, storage=self.storage)
            if cmd.argument:
                _prefill_search(panel, cmd.argument)
            return panel
        return widgets.LineageViewer(self.session, self._observation_of(cmd.argument))

    def _observation_of(self, ident: str) -> str:
        """An observation base id as given, or the observation of a record given by its id."""
        if len(ident) == 24 and all(c in "0123456789abcdef" for c in ident.lower()):
            from jwstnb.errors import NotFound

            try:
                record = self.session.get(ident)
            except NotFound:
                return ident
            if record.observation_base_id:
                return str(record.observation_base_id)
        return ident


def _prefill_search(panel: Any, text: str) -> None:
    """Put ``text`` into the panel's search box and run the search."""
    for name in ("set_text", "search_text"):
        fn = getattr(panel, name, None)
        if callable(fn):
            fn(text)
            return
    box = getattr(panel, "text", None)
    if box is not None and hasattr(box, "value"):
        box.value = text
        refresh = getattr(panel, "refresh", None) or getattr(panel, "search", None)
        if callable(refresh):
            refresh()
        return
    raise TypeError("SearchPanel has no text box to pre-fill")


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%jwst`` magics (``%load_ext jwstnb``)."""
    ipython.register_magics(JwstMagics)
