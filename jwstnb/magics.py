"""IPython magics: ``%load_ext jwstnb``, then ``%jwst search TEXT`` or ``%jwst lineage ID``.

The magics open one session (``jwstnb.connect()``: ``JWSTNB_MONGO_URI``, the config file, or
the embedded local database) and one ``jwstnb.Storage()`` (``JWSTNB_STORAGE_URL``, the config
file's mounts, or the folder beside the embedded database) the first time they are used, and
reuse them; settings and redaction come from :mod:`jwstnb.config`. Each command returns the
widget, so it shows as the cell's output.
"""

from __future__ import annotations

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
        """The configured storage, or ``None`` when none can be opened (no previews then)."""
        if self._storage is None:
            from jwstnb.errors import StorageNotConfigured
            from jwstnb.storage import Storage

            try:
                self._storage = Storage()
            except StorageNotConfigured as exc:
                print(f"%jwst: no storage, so no previews: {exc}")
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
            s = self.session
            storage = self.storage
            print(f"database {s.database_name}.{s.collection_name} as {s.role}")
            print(f"storage {storage.url if storage is not None else '(none)'}")
            return None
        from jwstnb import widgets

        if cmd.action == "search":
            panel = widgets.SearchPanel(self.session, storage=self.storage)
            if cmd.argument:
                panel.set_text(cmd.argument)
            return panel
        return widgets.LineageViewer(
            self.session, self._observation_of(cmd.argument), storage=self.storage
        )

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


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%jwst`` magics (``%load_ext jwstnb``)."""
    ipython.register_magics(JwstMagics)
