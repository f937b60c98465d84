"""Groups of users (DESIGN §5): admins manage them; a share with a group lets every member
read (or, as editors, edit) the record. Kept in the ``jwst_groups`` collection of the same
database, one document per group (``_id`` the name, ``members`` the user ids)."""

from __future__ import annotations

from typing import Any

from jwstnb.access import Scope, validate_group, validate_user
from jwstnb.errors import AccessDenied
from jwstnb.session._base import SessionBase, log

__all__ = ["GROUPS_COLLECTION", "Groups"]

GROUPS_COLLECTION = "jwst_groups"


class Groups(SessionBase):
    """Managing groups (mixed into :class:`~jwstnb.session.Session`)."""

    def _groups_collection(self) -> Any:
        return self._conn.client[self.database_name][GROUPS_COLLECTION]

    def groups(self) -> dict[str, list[str]]:
        """Every group and its members (admin); a user sees the groups they belong to."""
        query: dict[str, Any] = {}
        if self.role == "user":
            query = {"members": self.user}
        elif self.role != "admin":
            return {}
        with self._errors():
            docs = list(self._groups_collection().find(query).sort("_id", 1))
        return {str(d["_id"]): sorted(d.get("members") or []) for d in docs}

    def add_to_group(self, group: str, *users: str) -> list[str]:
        """Put ``users`` in ``group`` (made if new); admin work. Returns the members."""
        self.require_admin("managing groups")
        name = validate_group(group)
        members = [validate_user(u) for u in users]
        with self._errors():
            doc = self._groups_collection().find_one_and_update(
                {"_id": name}, {"$addToSet": {"members": {"$each": members}}},
                upsert=True, return_document=True,
            )
        return sorted(doc.get("members") or [])

    def remove_from_group(self, group: str, *users: str) -> list[str]:
        """Take ``users`` out of ``group``; admin work. Returns the members left."""
        self.require_admin("managing groups")
        name = validate_group(group)
        members = [validate_user(u) for u in users]
        with self._errors():
            doc = self._groups_collection().find_one_and_update(
                {"_id": name}, {"$pull": {"members": {"$in": members}}}, return_document=True,
            )
        return sorted((doc or {}).get("members") or [])

    def _with_groups(self, scope: Scope) -> Scope:
        """A user scope with the groups the user belongs to (read when the view is made)."""
        if scope.role != "user" or scope.groups:
            return scope
        try:
            with self._errors():
                docs = self._groups_collection().find({"members": scope.user}, {"_id": 1})
                names = tuple(sorted(str(d["_id"]) for d in docs))
        except AccessDenied as exc:  # an account that may not read groups reads without them
            log.warning("cannot read the groups of %r: %s", scope.user, exc)
            names = ()
        return Scope("user", scope.user, groups=names) if names else scope
