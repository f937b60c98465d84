"""The connection to the database: one client shared by every view of one ``connect()``,
one mapping of driver errors to jwstnb's, the read planner for the server, and identity as
the server proves it (DESIGN §5).

On a MongoDB URI the session's user is the account the server authenticated
(``connectionStatus``); ``user=`` (impersonation) is for admin accounts only, and recorded.
A server that asks for no authentication proves nothing and refuses nothing: every
connection to it is an admin account. The embedded local server belongs to the OS user
running it (single owner).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any, cast

from jwstnb import config
from jwstnb.access import Scope, validate_user
from jwstnb.errors import AccessDenied, ConnectionFailed, QueryTimeout, invalid
from jwstnb.schema import COLLECTION, DATABASE
from jwstnb.session.planners import Planner, planner_for

if TYPE_CHECKING:
    from pymongo import MongoClient

    from jwstnb.session import Session

__all__ = ["Account", "Connection", "connect"]

log = logging.getLogger(__name__)

#: Roles that make a database account a jwstnb admin (may read and change everything, and
#: act as another user): the server's superuser, or the owner of the jwstnb database.
ADMIN_ROLES = frozenset({"root", "__system", "dbOwner"})


@dataclass(frozen=True)
class Account:
    """The database account a server authenticated: its name (None: no authentication
    asked) and whether its roles make it an admin (:data:`ADMIN_ROLES`)."""

    name: str | None
    admin: bool


def server_account(status: Mapping[str, Any], database: str) -> Account:
    """The account a ``connectionStatus`` reply names (pure). A server with no authenticated
    user either runs without authentication (every connection may do anything) or let an
    unauthenticated client in to ask: both read as an unnamed admin account, since such a
    server refuses nothing to anyone."""
    info = status.get("authInfo") or {}
    users = info.get("authenticatedUsers") or []
    if not users:
        return Account(None, admin=True)
    first = users[0]
    name = str(first.get("user")) if isinstance(first, Mapping) else str(first)
    roles = info.get("authenticatedUserRoles") or []
    admin = any(
        isinstance(r, Mapping) and r.get("role") in ADMIN_ROLES
        and (r.get("role") != "dbOwner" or r.get("db") in (database, "admin"))
        for r in roles
    )
    return Account(name, admin=admin)


class Connection:
    """The client shared by every view of one ``connect()``; closed with the last view."""

    def __init__(
        self, client: MongoClient[dict[str, Any]], resolved: config.Resolved, uri: str, local: bool
    ) -> None:
        self.client = client
        self.resolved = resolved
        self.display = "embedded local server" if local else config.redact(uri)
        self.hosts = config.hosts(uri)
        self.password = config.credentials(uri)[1]
        self.local = local
        self.views = 0
        self.lock = threading.Lock()
        self._planner: Planner | None = None
        #: The database account the server authenticated (None: the server asks for none).
        self.account: Account = Account(None, admin=True)
        #: Indexes being built in the background since connect: a ``bulk.IndexBuild`` (not
        #: imported here: the bulk room depends on this one), or None.
        self.index_build: Any = None

    @property
    def planner(self) -> Planner:
        """The read planner for this server (chosen once from its ``buildInfo``)."""
        if self._planner is None:
            try:
                info = self.client.admin.command("buildInfo")
            except Exception:
                info = {}
            self._planner = planner_for(info)
        return self._planner

    def acquire(self) -> None:
        with self.lock:
            self.views += 1

    def release(self) -> None:
        with self.lock:
            self.views -= 1
            last = self.views <= 0
        if last:
            self.client.close()

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Driver errors -> jwstnb errors with one actionable message (never a password)."""
        from pymongo.errors import (
            ConnectionFailure,
            DuplicateKeyError,
            ExecutionTimeout,
            OperationFailure,
            PyMongoError,
        )

        try:
            yield
        except ExecutionTimeout:
            raise QueryTimeout(
                "the server stopped this read at its time limit (max_time_ms); search again "
                "with a narrower filter or a longer limit"
            ) from None
        except DuplicateKeyError:
            raise invalid(
                "filePath", "a record with this owner and file path already exists"
            ) from None
        except OperationFailure as exc:
            if exc.code == 121:
                detail = config.redact_text(str(exc.details or exc)[:500], self.password)
                raise invalid(
                    "document", f"the server's validator rejected the record: {detail}"
                ) from None
            if exc.code == 13:
                raise AccessDenied(
                    f"the database user of {self.display} may not do this "
                    f"({exc.details.get('errmsg', '') if exc.details else ''}); ask for a role "
                    "with readWrite on this database"
                ) from None
            raise
        except ConnectionFailure as exc:
            raise ConnectionFailed(
                f"lost the database at {self.hosts} ({_reason(exc, self.password)}); "
                "check that the server is still running and reachable"
            ) from None
        except PyMongoError as exc:
            exc.args = tuple(config.redact_text(str(a), self.password) for a in exc.args)
            raise



def _reason(exc: BaseException, password: str | None) -> str:
    text = str(exc).split(", Timeout:")[0].split(" (configured timeouts")[0]
    return config.redact_text(text, password)[:300]


def connect(
    uri: str | None = None,
    *,
    user: str | None = None,
    admin: bool | None = None,
    database: str | None = None,
    collection: str | None = None,
    timeout: float = 5.0,
    token: str | None = None,
    verify: Any = None,
    **client_options: Any,
) -> Session:
    """Connect and return a :class:`Session` (see :mod:`jwstnb.config` for where to).

    Who the session is comes from the server (DESIGN §5): an account the server
    authenticated is that user, or admin when its roles make it one (:data:`ADMIN_ROLES`).
    ``user=`` acts as another user and ``admin=True`` asks for the admin role: both only for
    an admin account (else :class:`AccessDenied`); impersonation is logged and recorded in
    the ``jwst_audit`` collection. The embedded local database (or its own URI) belongs to
    the person running it: admin unless ``user=`` or ``admin=False``. A server that
    authenticates no one gives ``user``/``admin`` as asked, else anonymous.
    ``https://`` URLs go to the archive service (:mod:`jwstnb.service`).
    An unreachable server is :class:`ConnectionFailed` after about ``timeout`` seconds.

    Service mode: an ``https://`` (or ``http://``) URL, a ``token``, or no URI configured but
    a service URL (``JWSTNB_SERVICE_URL`` / ``[service] url``) gives a session over the
    archive service (:class:`jwstnb.session.remote.RemoteSession`: the same public methods
    and errors; the kernel holds a token, never a database URI). ``verify``: the CA bundle
    of the service's certificate.
    """
    service = _service_address(uri, token)
    if service is not None:
        if user is not None or admin:
            raise AccessDenied(
                "through the archive service you are who your token says; user= and "
                "admin= are for direct database connections"
            )
        from jwstnb.session.remote import connect_service

        remote = connect_service(service, token=token, verify=verify, timeout=max(timeout, 30.0))
        return cast("Session", remote)  # the same public methods, over HTTP
    if user is not None and admin:
        raise invalid("admin", "pass user=... or admin=True, not both")
    resolved = config.resolve(uri)
    from jwstnb import localdb

    # The embedded server's own URI (handed to kernels by the server extension) is local too.
    local = resolved.uri is None or localdb.owns(str(resolved.uri))
    if local:
        actual = localdb.ensure_running()
    else:
        actual = str(resolved.uri)
        config.warn_dev_credentials(actual)
    database = database or resolved.database or DATABASE
    collection = collection or resolved.collection or COLLECTION
    if user is not None:
        user = validate_user(user)

    client = _open_client(actual, resolved, local, timeout, client_options)
    conn = Connection(client, resolved, actual, local)
    try:
        if not local:
            conn.account = _account(conn, database)
        scope = _scope(conn.account, user, admin, local)
    except BaseException:
        client.close()
        raise
    from jwstnb.session import Session

    session = Session(conn, database, collection, scope)
    if user is not None and conn.account.name is not None:
        _record_impersonation(session, conn.account.name, user)
    log.info("connected to %s as %s", conn.display, scope.role)
    try:
        session._prepare()
    except BaseException:
        session.close()
        raise
    if local:
        session._warn_if_large()
    return session


def _service_address(uri: str | None, token: str | None) -> str | None:
    """The archive service's URL when this connect() is for the service, else None."""
    if uri is not None and uri.split("://", 1)[0].lower() in ("https", "http"):
        return uri
    if uri is None and not os.environ.get(config.URI_ENV):
        from jwstnb.session.remote import service_url

        found = service_url()
        if found is not None or token is not None:
            return found or ""
    return None


def _open_client(
    actual: str,
    resolved: config.Resolved,
    local: bool,
    timeout: float,
    client_options: Mapping[str, Any],
) -> MongoClient[dict[str, Any]]:
    """A pymongo client that has answered ``ping``, or :class:`ConnectionFailed` saying why
    (bad URI, failed authentication, unreachable server; never the password)."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure, PyMongoError

    password = config.credentials(actual)[1]
    where = (
        "the embedded local server" if local else f"{config.hosts(actual)} (from {resolved.origin})"
    )
    ms = max(1, int(timeout * 1000))
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": ms,
        "connectTimeoutMS": ms,
        "tz_aware": True,
        "tzinfo": UTC,
        "appname": "jwstnb",
        # A write reported as done survives a crash: the server acknowledges it only once
        # it is in the journal. Bulk loads that are re-run anyway may pass journal=False.
        "journal": True,
        **client_options,
    }
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(actual, **options)
    except (PyMongoError, ValueError, TypeError) as exc:
        raise ConnectionFailed(
            f"invalid MongoDB URI {config.redact(actual)} (from {resolved.origin}): "
            f"{_reason(exc, password)}"
        ) from None
    try:
        client.admin.command("ping")
    except OperationFailure as exc:
        client.close()
        if exc.code == 18:
            db_user = config.credentials(actual)[0]
            raise ConnectionFailed(
                f"authentication failed for user {db_user!r} at {where}; check the user name, "
                "password and authSource in the URI"
            ) from None
        raise ConnectionFailed(f"{where} refused ping: {_reason(exc, password)}") from None
    except PyMongoError as exc:
        client.close()
        raise ConnectionFailed(
            f"cannot reach MongoDB at {where} within {timeout:g}s: {_reason(exc, password)}. "
            "Check that the server is running and reachable from this machine, and that the "
            "URI names the right host and port" + ("" if local else f" (set by {resolved.origin})")
        ) from None
    return client


def _account(conn: Connection, database: str) -> Account:
    """The account the server authenticated for this connection (``connectionStatus``)."""
    with conn.errors():
        status = conn.client.admin.command("connectionStatus", showPrivileges=False)
    return server_account(status, database)


def _scope(account: Account, user: str | None, admin: bool | None, local: bool) -> Scope:
    """The session's scope from the proven account and what the caller asked for."""
    if account.name is not None and not account.admin:
        if user is not None and user != account.name:
            raise AccessDenied(
                f"the database account {account.name!r} is not an admin: it cannot act as "
                f"{user!r} (identity comes from the account; connect with that user's own)"
            )
        if admin:
            raise AccessDenied(
                f"the database account {account.name!r} is not an admin (it needs the root "
                "or dbOwner role): connect without admin=True"
            )
        return Scope("user", validate_user(account.name))
    if user is not None:
        return Scope("user", user)
    if admin or (admin is None and (local or account.name is not None)):
        return Scope("admin")
    return Scope("anonymous")


def _record_impersonation(session: Session, account: str, user: str) -> None:
    """An admin account acting as ``user``: logged, and kept in ``jwst_audit`` when the
    account may write it (a failure to record is logged, never fatal)."""
    from jwstnb.schema import utc_now

    log.warning("database account %r acts as user %r", account, user)
    try:
        with session._conn.errors():
            session._conn.client[session.database_name]["jwst_audit"].insert_one(
                {"at": utc_now(), "event": "impersonation", "account": account, "as": user}
            )
    except Exception as exc:  # the audit is a record, not a gate
        log.warning("impersonation of %r by %r not recorded: %s", user, account, exc)
