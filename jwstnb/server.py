"""Jupyter Server extension: the database is there before the first kernel asks for it.

Enabled by ``jupyter-config/jupyter_server_config.d/jwstnb.json`` (installed into
``etc/jupyter``). When no MongoDB URI is configured (``JWSTNB_MONGO_URI``), it brings up or
reuses the embedded local database in a background thread as the server starts, so server
start-up is not held up, and hands it to every kernel through the environment
(``JWSTNB_MONGO_URI`` and ``JWSTNB_HOME``): kernel launches wait (bounded) until it is up, so
a kernel's ``jwstnb.connect()`` finds it at once. The URI is handed over only while
``connect()`` keeps the owner's (admin) role with it; otherwise ``JWSTNB_HOME`` alone leads the
kernels to the same daemon. The URI carries the generated password, so it is never logged or
returned; the status endpoint shows it redacted.

``GET /jwstnb/api/status`` (authenticated) answers JSON: whether the database is reachable,
record counts (``Session.statistics()``), and the storage URL with secrets redacted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import os
import threading
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from jwstnb import config
from jwstnb.localdb import HOME_ENV, data_home

#: how long a kernel launch waits for the embedded database before starting anyway
KERNEL_WAIT_SECONDS = 60.0
STATUS_TIMEOUT_SECONDS = 3.0
SETTINGS_KEY = "jwstnb"


class DatabaseState:
    """What the extension knows about the database: configured, starting, ready or failed.

    ``uri`` (with credentials) stays in this object and in the environment of kernels; every
    outward view goes through :meth:`describe`, which redacts it.
    """

    def __init__(self, log: Any) -> None:
        self.log = log
        self.embedded = False
        self.error: str | None = None
        self.ready: concurrent.futures.Future[str | None] = concurrent.futures.Future()
        self._session: Any = None
        self._lock = threading.Lock()

    # -- start-up ---------------------------------------------------------------------------

    def start(self) -> None:
        """Use the configured URI, or bring up the embedded database in a background thread."""
        uri, problem = config.configured_uri(dict(os.environ))
        if problem:
            self.error = problem
            self.log.warning("jwstnb: the database configuration is broken: %s", problem)
            self.ready.set_result(None)
            return
        if uri:
            self.ready.set_result(uri)
            self.log.info("jwstnb: using the configured database %s", config.redact(uri))
            return
        self.embedded = True
        os.environ.setdefault(config.STORAGE_ENV, config.storage_url())
        thread = threading.Thread(target=self._bring_up, name="jwstnb-localdb", daemon=True)
        thread.start()

    def _bring_up(self) -> None:
        try:
            from jwstnb import localdb

            uri = localdb.ensure_running(data_home())
        except Exception as exc:
            self.error = _one_line(exc)
            self.log.warning(
                "jwstnb: the embedded database did not start (%s); notebooks need %s or "
                "`pip install 'jwstnb[local]'`",
                self.error,
                config.URI_ENV,
            )
            self.ready.set_result(None)
            return
        # Kernels inherit os.environ when they are launched: from now on they get the URI
        # and the data home (so a kernel's connect() reuses this daemon, never starts another).
        os.environ.setdefault(HOME_ENV, str(data_home()))
        os.environ[config.URI_ENV] = uri
        self.log.info("jwstnb: embedded database ready at %s", config.redact(uri))
        self.ready.set_result(uri)

    async def wait(self, timeout: float) -> str | None:
        """Wait (without blocking the event loop) until the URI is known or ``timeout`` passes."""
        if self.ready.done():
            return self.ready.result()
        # asyncio.wait (unlike wait_for) never cancels the shared future on timeout.
        await asyncio.wait({asyncio.wrap_future(self.ready)}, timeout=timeout)
        return self.ready.result() if self.ready.done() else None

    @property
    def phase(self) -> str:
        if not self.ready.done():
            return "starting"
        if self.ready.result() is None:
            return "failed"
        return "ready" if self.embedded else "configured"

    # -- status -----------------------------------------------------------------------------

    def _get_session(self) -> Any:
        """One session for status requests. The embedded database belongs to the person
        running the server, so it is counted whole (admin); a configured one with its role."""
        with self._lock:
            if self._session is None:
                from jwstnb.session import connect

                options: dict[str, Any] = {"admin": True} if self.embedded else {}
                self._session = connect(timeout=STATUS_TIMEOUT_SECONDS, **options)
            return self._session

    def describe(self) -> dict[str, Any]:
        """The status document (blocking: call it from a thread). Never contains a password."""
        import jwstnb

        uri = self.ready.result() if self.ready.done() else None
        storage = os.environ.get(config.STORAGE_ENV)
        doc: dict[str, Any] = {
            "version": jwstnb.__version__,
            "database": {
                "embedded": self.embedded,
                "phase": self.phase,
                "uri": config.redact(uri) if uri else None,
                "reachable": False,
                "error": self.error,
            },
            "records": None,
            "storage": {
                "url": config.redact(storage) if storage else None,
                "configured": bool(storage),
            },
        }
        if uri is None:
            return doc
        try:
            session = self._get_session()
            stats = session.statistics()
            doc["database"].update(
                reachable=True,
                name=session.database_name,
                collection=session.collection_name,
                role=session.role,
            )
            doc["records"] = {
                "total": stats["total"],
                "observations": stats["observations"],
                "by_processing_level": stats["processing_level"],
                "by_data_type": stats["data_type"],
                "by_status": stats["status"],
                "by_instrument": stats["instrument"],
            }
        except Exception as exc:
            doc["database"]["error"] = _one_line(exc, uri, storage)
            self._drop_session()
        return doc

    def _drop_session(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                session.close()

    def close(self) -> None:
        self._drop_session()


def _one_line(exc: BaseException, *sources: str | None) -> str:
    """The first line of an error, with URIs redacted and the passwords of ``sources`` removed."""
    text = str(exc).strip().splitlines()
    secrets = [config.credentials(source)[1] for source in sources if source]
    line = text[0] if text else type(exc).__name__
    return config.redact_text(line, *secrets) or type(exc).__name__


class StatusHandler(APIHandler):
    """``GET /jwstnb/api/status``: database reachability, record counts, redacted storage URL."""

    @tornado.web.authenticated
    async def get(self) -> None:
        state: DatabaseState = self.settings[SETTINGS_KEY]
        await state.wait(timeout=STATUS_TIMEOUT_SECONDS)
        loop = asyncio.get_running_loop()
        doc = await loop.run_in_executor(None, state.describe)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(doc, default=str))


def _wrap_kernel_start(kernel_manager: Any, state: DatabaseState) -> None:
    """Make kernel launches wait (bounded) for the database URI so every kernel inherits it."""
    original = kernel_manager.start_kernel
    if getattr(original, "_jwstnb_wrapped", False):
        return

    @functools.wraps(original)
    async def start_kernel(*args: Any, **kwargs: Any) -> Any:
        if not state.ready.done():
            await state.wait(timeout=KERNEL_WAIT_SECONDS)
        return await original(*args, **kwargs)

    start_kernel._jwstnb_wrapped = True  # type: ignore[attr-defined]
    kernel_manager.start_kernel = start_kernel


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Called by Jupyter Server: start the database in the background, add the status route."""
    state = DatabaseState(serverapp.log)
    web_app = serverapp.web_app
    web_app.settings[SETTINGS_KEY] = state
    base_url = web_app.settings.get("base_url", "/")
    web_app.add_handlers(
        ".*$", [(url_path_join(base_url, "jwstnb", "api", "status"), StatusHandler)]
    )
    kernel_manager = getattr(serverapp, "kernel_manager", None)
    if kernel_manager is not None:
        _wrap_kernel_start(kernel_manager, state)
    state.start()


# older Jupyter Server / notebook name of the same hook
load_jupyter_server_extension = _load_jupyter_server_extension
