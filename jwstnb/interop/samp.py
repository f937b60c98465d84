"""SAMP: send tables, images and positions to TOPCAT, Aladin, DS9 (any SAMP client), and hear
back which rows they highlight.

A :class:`SampConnection` registers jwstnb with the running SAMP hub (the one TOPCAT or
Aladin starts, or ``SAMPHubServer`` in a notebook) on first use. A table travels as a
VOTable file (``table.load.votable``, UCDs and utypes kept, :mod:`jwstnb.interop.votable`),
an image or a cube as a FITS file (``image.load.fits``), a position as
``coord.pointAt.sky``. Files are written to a private temporary folder that lives as long as
the connection (other applications read them after the call returns); a file already on a
local disk is sent by its path, with no copy. Rows another application highlights or
selects in a table we sent (``table.highlight.row``, ``table.select.rowList``) come back to
the callbacks given to :meth:`SampConnection.on_rows`, as 0-based row indices of that table.

The module-level functions use one shared connection (:func:`default`); ``jwstnb.samp`` is
their public face. The SAMP implementation is pyvo's (``pyvo.samp``) when installed, else
astropy's.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jwstnb.errors import JwstnbError

__all__ = [
    "HIGHLIGHT",
    "IMAGE",
    "POINT_AT",
    "SELECT",
    "TABLE",
    "SampConnection",
    "SampError",
    "clients",
    "default",
    "disconnect",
    "hub_running",
    "on_rows",
    "samp_module",
    "send_image",
    "send_position",
    "send_table",
]

TABLE = "table.load.votable"
IMAGE = "image.load.fits"
POINT_AT = "coord.pointAt.sky"
HIGHLIGHT = "table.highlight.row"
SELECT = "table.select.rowList"

RowsCallback = Callable[[str, list[int]], Any]


class SampError(JwstnbError, ConnectionError):
    """No SAMP hub is running, or a SAMP client could not be reached."""


def samp_module() -> Any:
    """The SAMP implementation: ``pyvo.samp`` if installed, else ``astropy.samp``."""
    try:
        import pyvo.samp as samp

        return samp
    except ImportError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy 8 points to pyvo.samp
            import astropy.samp as samp

        return samp


def _running_hubs() -> dict[str, Any]:
    samp = samp_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return dict(samp.lockfile_helpers.get_running_hubs())
        except Exception:
            return {}


def _lock_files_exist() -> bool:
    """Whether a SAMP lock file could exist (``SAMP_HUB``, ``~/.samp``, ``~/.samp-1/``): the
    quick answer that saves importing the SAMP library when no hub was ever started."""
    if os.environ.get("SAMP_HUB"):
        return True
    home = Path(os.path.expanduser("~"))
    return (home / ".samp").exists() or (home / ".samp-1").is_dir()


def hub_running() -> bool:
    """True when a SAMP hub is running for this user (its lock file names a live hub)."""
    return _lock_files_exist() and bool(_running_hubs())


class SampConnection:
    """jwstnb's registration with a SAMP hub: sends tables, images and positions, and calls
    back with the rows other applications highlight or select (see the module notes).

    ``SampConnection(name="jwstnb")``; it connects on first use and re-connects when the hub
    has gone and come back. ``close()`` unregisters and removes the files it wrote.
    """

    def __init__(self, name: str = "jwstnb", description: str = "JWST records from jwstnb"
                 ) -> None:
        self.name = name
        self.description = description
        self._client: Any = None
        self._lock = threading.RLock()
        self._folder: Path | None = None
        self._tables: dict[str, Any] = {}  # table-id -> table sent
        self._urls: dict[str, str] = {}  # url -> table-id
        self._callbacks: list[RowsCallback] = []
        self._ids = itertools.count(1)

    # --- connection ---------------------------------------------------------------------

    def hub_running(self) -> bool:
        """True when a SAMP hub is running (this connection can send)."""
        return hub_running()

    @property
    def connected(self) -> bool:
        client = self._client
        return bool(client is not None and client.is_connected)

    def connect(self) -> Any:
        """Register with the running hub (once); SampError when there is none."""
        with self._lock:
            if self.connected:
                return self._client
            samp = samp_module()
            if not hub_running():
                raise SampError(
                    "no SAMP hub is running: start TOPCAT or Aladin (they start one), or in "
                    "the notebook: from astropy.samp import SAMPHubServer; "
                    "hub = SAMPHubServer(web_profile=False); hub.start()"
                )
            client = samp.SAMPIntegratedClient(
                name=self.name, description=self.description,
                metadata={"samp.name": self.name, "samp.description.text": self.description},
            )
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    client.connect()
            except Exception as exc:
                raise SampError(f"cannot register with the SAMP hub: {exc}") from None
            for mtype in (HIGHLIGHT, SELECT):
                client.bind_receive_notification(mtype, self._notified)
                client.bind_receive_call(mtype, self._called)
            self._client = client
            return client

    def close(self) -> None:
        """Unregister from the hub and remove the files sent."""
        with self._lock:
            client, self._client = self._client, None
            if client is not None:
                with contextlib.suppress(Exception):
                    client.disconnect()
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None

    def __enter__(self) -> SampConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- who is there -------------------------------------------------------------------

    def clients(self, mtype: str | None = None) -> dict[str, str]:
        """Client id -> name of the applications registered (those that accept ``mtype``)."""
        client = self.connect()
        ids = list(client.get_subscribed_clients(mtype)) if mtype else list(
            client.get_registered_clients())
        out = {}
        for cid in ids:
            try:
                out[cid] = str(client.get_metadata(cid).get("samp.name", cid))
            except Exception:
                out[cid] = cid
        return out

    def _recipient(self, recipient: str | None, mtype: str) -> str | None:
        """A client id from an id or a name (case-insensitive); None: every client."""
        if recipient is None:
            return None
        found = self.clients(mtype)
        if recipient in found:
            return recipient
        for cid, name in found.items():
            if name.lower() == recipient.lower():
                return cid
        names = ", ".join(sorted(found.values())) or "none"
        raise SampError(f"no SAMP client named {recipient!r} accepts {mtype} (those that do: "
                        f"{names})")

    def _send(self, mtype: str, params: dict[str, Any], recipient: str | None) -> list[str]:
        client = self.connect()
        target = self._recipient(recipient, mtype)
        message = {"samp.mtype": mtype, "samp.params": params}
        try:
            if target is None:
                receivers = list(client.get_subscribed_clients(mtype))
                if not receivers:
                    raise SampError(f"no SAMP client accepts {mtype}: start TOPCAT, Aladin or "
                                    "DS9 first")
                client.notify_all(message)
                return receivers
            client.notify(target, message)
            return [target]
        except SampError:
            raise
        except Exception as exc:
            raise SampError(f"SAMP could not send {mtype}: {exc}") from None

    # --- files ---------------------------------------------------------------------------

    def _file(self, name: str) -> Path:
        with self._lock:
            if self._folder is None or not self._folder.exists():
                self._folder = Path(tempfile.mkdtemp(prefix="jwstnb-samp-"))
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "file"
        return self._folder / safe

    # --- sending ---------------------------------------------------------------------------

    def send_table(self, table: Any, name: str | None = None, recipient: str | None = None
                   ) -> str:
        """Send an astropy Table (or a Page: its ObsCore table) as a VOTable; returns the
        table id under which highlighted rows come back."""
        from jwstnb.interop import votable

        if hasattr(table, "items") and hasattr(table, "to_table"):  # a Page
            try:
                table = table.to_table(schema="obscore")
            except TypeError:  # a Page without ObsCore tables
                table = table.to_table()
        number = next(self._ids)
        table_id = f"jwstnb-table-{number}"
        path = self._file(f"{table_id}.xml")
        votable.write(table, path)
        url = path.as_uri()
        with self._lock:
            self._tables[table_id] = table
            self._urls[url] = table_id
        params = {"url": url, "table-id": table_id, "name": name or f"jwstnb results {number}"}
        self._send(TABLE, params, recipient)
        return table_id

    def send_image(self, source: Any, storage: Any = None, *, name: str | None = None,
                   recipient: str | None = None) -> str:
        """Send an image or cube as FITS: a storage key or record (read through ``storage``),
        or a local path. A file on a local disk is sent in place; anything else is copied to
        a temporary file for the other application to read. Returns the image id."""
        path = self._local_file(source, storage)
        number = next(self._ids)
        image_id = f"jwstnb-image-{number}"
        params = {"url": path.as_uri(), "image-id": image_id, "name": name or path.name}
        self._send(IMAGE, params, recipient)
        return image_id

    def _local_file(self, source: Any, storage: Any) -> Path:
        from jwstnb.errors import StorageFileNotFound

        if storage is None:
            text = os.fspath(source) if isinstance(source, str | os.PathLike) else None
            if text is None:
                raise SampError("send_image needs a storage to read a record or key from: "
                                "send_image(key, storage)")
            path = Path(text.removeprefix("file://")).expanduser()
            if not path.is_file():
                raise StorageFileNotFound(f"{text} is not a file; to send a storage key, "
                                          "pass the storage too: send_image(key, storage)")
            return path.resolve()
        fs, fs_path = storage.locate(source)
        if "file" in _protocols(fs):
            local = Path(fs_path)
            if local.is_file():
                return local
        key = getattr(source, "file_path", source)
        target = self._file(str(key).rsplit("/", 1)[-1])
        target.write_bytes(storage.read_bytes(source))
        return target

    def send_position(self, coord: Any, recipient: str | None = None) -> list[str]:
        """Point the other applications at a position (SkyCoord, ``(ra, dec)`` degrees or
        text astropy parses); returns the clients told."""
        from jwstnb import sky

        ra, dec = sky.parse_position(coord)
        return self._send(POINT_AT, {"ra": repr(ra), "dec": repr(dec)}, recipient)

    # --- receiving ------------------------------------------------------------------------

    def on_rows(self, callback: RowsCallback) -> None:
        """Call ``callback(table_id, rows)`` when another application highlights a row
        (``rows`` one index) or selects rows of a table sent from here. It runs on the SAMP
        client's thread: widgets hand it to their own loop."""
        self.connect()
        self._callbacks.append(callback)

    def table(self, table_id: str) -> Any:
        """The table sent under ``table_id`` (None if unknown)."""
        return self._tables.get(table_id)

    def _rows(self, mtype: str, params: dict[str, Any]) -> None:
        table_id = str(params.get("table-id") or self._urls.get(str(params.get("url")), ""))
        if not table_id or table_id not in self._tables:
            return  # another application's table
        try:
            if mtype == HIGHLIGHT:
                rows = [int(params["row"])]
            else:
                rows = [int(r) for r in params.get("row-list", [])]
        except (KeyError, TypeError, ValueError):
            return
        for callback in list(self._callbacks):
            with contextlib.suppress(Exception):  # a broken callback must not stop SAMP
                callback(table_id, rows)

    def _notified(self, private_key: str, sender_id: str, mtype: str, params: dict[str, Any],
                  extra: dict[str, Any]) -> None:
        self._rows(mtype, params)

    def _called(self, private_key: str, sender_id: str, msg_id: str, mtype: str,
                params: dict[str, Any], extra: dict[str, Any]) -> None:
        self._rows(mtype, params)
        with contextlib.suppress(Exception):
            self._client.reply(msg_id, {"samp.status": "samp.ok", "samp.result": {}})


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = getattr(fs, "protocol", ())
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


_DEFAULT: SampConnection | None = None
_DEFAULT_LOCK = threading.Lock()


def default() -> SampConnection:
    """The connection the module-level functions share (made on first use)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = SampConnection()
            import atexit

            atexit.register(_DEFAULT.close)
        return _DEFAULT


def send_table(table: Any, name: str | None = None, recipient: str | None = None) -> str:
    """Send a table (astropy Table or Page) as a VOTable; see :meth:`SampConnection.send_table`."""
    return default().send_table(table, name=name, recipient=recipient)


def send_image(source: Any, storage: Any = None, *, name: str | None = None,
               recipient: str | None = None) -> str:
    """Send an image or cube as FITS; see :meth:`SampConnection.send_image`."""
    return default().send_image(source, storage, name=name, recipient=recipient)


def send_position(coord: Any, recipient: str | None = None) -> list[str]:
    """Point SAMP clients at a position; see :meth:`SampConnection.send_position`."""
    return default().send_position(coord, recipient=recipient)


def on_rows(callback: RowsCallback) -> None:
    """Hear rows highlighted or selected in tables sent; see :meth:`SampConnection.on_rows`."""
    default().on_rows(callback)


def clients(mtype: str | None = None) -> dict[str, str]:
    """Client id -> name of the SAMP applications (those accepting ``mtype``)."""
    return default().clients(mtype)


def disconnect() -> None:
    """Unregister the shared connection from the hub (it reconnects when used again)."""
    default().close()
