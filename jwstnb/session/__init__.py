"""The one door to the data (DESIGN §1): a small public :class:`Session` over parts.

``jwstnb.connect()`` resolves where to connect (:mod:`jwstnb.config`; with nothing configured
it starts or reuses the embedded local server, :mod:`jwstnb.localdb`), learns who the
server says the caller is (:mod:`.connection`), puts the ``$jsonSchema`` validator on the
collection and builds the indexes its engine's planner declares (:mod:`.planners`). A
:class:`Session` is a view with a role (anonymous, user, admin) over one shared client;
every read and write carries the role's scope inside its Mongo filter: what a session may
not read is :class:`~jwstnb.errors.NotFound`, what it may read but not change is
:class:`~jwstnb.errors.AccessDenied`.

The parts, one room each: :mod:`.connection` (client, errors, identity), :mod:`.planners`
(one read planner per engine), :mod:`.reads`, :mod:`.writes`, :mod:`.queue` (claims and
leases), :mod:`.bulk` (setup, ingest and backup batches), :mod:`.explain`, :mod:`.results`
(Page, Counts, tables). Only this package talks to pymongo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jwstnb.access import Scope, validate_user
from jwstnb.documents import stored_document
from jwstnb.errors import AccessDenied
from jwstnb.session.bulk import (
    EMBEDDED_INTERACTIVE_LIMIT,
    Bulk,
    LineageChange,
    ScaleWarning,
    made_by_processing,
)
from jwstnb.session.connection import Connection, connect
from jwstnb.session.explain import Explain
from jwstnb.session.groups import Groups
from jwstnb.session.queue import Queue
from jwstnb.session.results import Counts, Page, records_table
from jwstnb.session.writes import KEEP_ON_UPSERT, Writes

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.collection import Collection

__all__ = [
    "EMBEDDED_INTERACTIVE_LIMIT",
    "KEEP_ON_UPSERT",
    "Counts",
    "LineageChange",
    "Page",
    "ScaleWarning",
    "Session",
    "connect",
    "made_by_processing",
    "records_table",
    "stored_document",
]


class Session(Explain, Writes, Queue, Bulk, Groups):
    """A scoped view of the jwstnb collection. Create with :func:`connect`.

    Views (:meth:`anonymous`, :meth:`as_user`, :meth:`as_admin`) share the client; the
    client closes when the last view is closed (or use ``with connect() as s:``). Who the
    session is was proven by the server (:mod:`jwstnb.session.connection`); other users'
    views are for admin accounts only.
    """

    def __init__(
        self, connection: Connection, database: str, collection: str, scope: Scope
    ) -> None:
        self._conn = connection
        self._scope = scope
        self.database_name = database
        self.collection_name = collection
        self._coll = connection.client[database][collection]
        self._closed = False
        self._scope = self._with_groups(scope)
        connection.acquire()

    # --- the driver, for admin tools --------------------------------------------------------

    @property
    def client(self) -> MongoClient[dict[str, Any]]:
        """The pymongo client (shared by every view of this connection)."""
        return self._conn.client

    @property
    def collection(self) -> Collection[dict[str, Any]]:
        """The raw pymongo collection, unscoped: admin only (ingest and backup internals)."""
        if self.role != "admin":
            raise AccessDenied("the raw collection is for admin sessions; use as_admin()")
        return self._coll

    # --- views ------------------------------------------------------------------------------

    def _view(self, scope: Scope) -> Session:
        return Session(self._conn, self.database_name, self.collection_name, scope)

    def _require_admin_account(self, what: str) -> None:
        account = self._conn.account
        if account.name is not None and not account.admin:
            raise AccessDenied(
                f"{what} is for admin accounts; the database account {account.name!r} is not one"
            )

    def anonymous(self) -> Session:
        """A read-only view that sees public records only."""
        return self._view(Scope("anonymous"))

    def as_user(self, user: str) -> Session:
        """A view as ``user``: reads public, own and shared records; changes own records.

        Acting as someone else is for admin accounts (:class:`AccessDenied` otherwise).
        """
        name = validate_user(user)
        if name != self._conn.account.name:
            self._require_admin_account(f"acting as user {name!r}")
        return self._view(Scope("user", name))

    def as_admin(self) -> Session:
        """A view that reads and changes everything (admin accounts only)."""
        self._require_admin_account("the admin view")
        return self._view(Scope("admin"))

    def close(self) -> None:
        """Close this view; the client closes with the last open view."""
        if not self._closed:
            self._closed = True
            self._conn.release()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        who = f" user={self.user!r}" if self.user else ""
        return (
            f"<jwstnb.Session role={self.role}{who} {self.database_name}.{self.collection_name} "
            f"on {self._conn.display}>"
        )

    __str__ = __repr__
