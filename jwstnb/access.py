"""Who may read and change what (DESIGN §5), as data the session puts inside every filter.

Pure: no I/O. Access is a derived, indexed field ``readers`` kept on every record by the
session: ``"public"`` when ``isPublic``, ``"user:<id>"`` for the owner and every user in
``sharedWith``, ``"group:<name>"`` for every group in it. A session's read scope is
``{"readers": {"$in": [...]}}`` (admin: none; a user's groups included), so the scope is one
indexable predicate inside every filter, before skip/limit.

Roles of a share: a viewer reads; an editor (listed in ``editors`` too) also changes tags,
description and status, and never deletes, re-shares or changes access (DESIGN §5).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jwstnb.errors import AccessDenied, invalid

__all__ = [
    "EDITABLE_FIELDS",
    "GROUP_PREFIX",
    "MAX_USER_LENGTH",
    "PUBLIC",
    "SHARE_ROLES",
    "USER_PREFIX",
    "Role",
    "Scope",
    "principal",
    "readers_for",
    "validate_group",
    "validate_user",
]

Role = Literal["anonymous", "user", "admin"]

MAX_USER_LENGTH = 200
PUBLIC = "public"
USER_PREFIX = "user:"
GROUP_PREFIX = "group:"
#: Roles a share gives: viewer (read) or editor (also the fields of EDITABLE_FIELDS, status).
SHARE_ROLES = ("viewer", "editor")
#: Stored fields an editor may change (besides the processing status, through set_status).
EDITABLE_FIELDS = frozenset({"tags", "description"})


def validate_user(user: Any) -> str:
    """A user id: a non-empty string without control characters, at most 200 characters."""
    if not isinstance(user, str) or not user.strip():
        raise invalid("user", "a user id must be a non-empty string", user)
    if len(user) > MAX_USER_LENGTH or any(unicodedata.category(c)[0] == "C" for c in user):
        raise invalid("user", "a user id has at most 200 printable characters", user)
    if user.startswith(GROUP_PREFIX):
        raise invalid("user", f"a user id may not start with {GROUP_PREFIX!r} (groups do)", user)
    return user


def validate_group(group: Any) -> str:
    """A group name: the same rules as a user id (it is stored as ``group:<name>``)."""
    if isinstance(group, str) and group.startswith(GROUP_PREFIX):
        group = group[len(GROUP_PREFIX):]
    try:
        return validate_user(group)
    except ValueError:
        raise invalid(
            "group", "a group name is a non-empty string of at most 200 printable characters",
            group,
        ) from None


def principal(user: str | None = None, group: str | None = None) -> str:
    """How a share names its reader in ``sharedWith``/``editors``: the user id, or
    ``group:<name>``."""
    if (user is None) == (group is None):
        raise invalid("user", "name one user or one group")
    return validate_user(user) if group is None else GROUP_PREFIX + validate_group(group)


def readers_for(user_id: str | None, is_public: bool, shared_with: Iterable[str]) -> list[str]:
    """The ``readers`` entries of a record: who may read it, as one indexable array."""
    readers = [PUBLIC] if is_public else []
    if user_id:
        readers.append(USER_PREFIX + user_id)
    readers.extend(
        (p if p.startswith(GROUP_PREFIX) else USER_PREFIX + p) for p in shared_with if p
    )
    return list(dict.fromkeys(readers))


@dataclass(frozen=True)
class Scope:
    """Who is asking: ``anonymous``, ``user`` (with ``user``) or ``admin`` (the access model)."""

    role: Role
    user: str | None = None
    #: The groups a user belongs to (their shares are readable too).
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ("anonymous", "user", "admin"):
            raise invalid("role", "role must be 'anonymous', 'user' or 'admin'", self.role)
        if self.role == "user":
            validate_user(self.user)
        elif self.user is not None:
            raise invalid("user", f"a {self.role} scope has no user", self.user)

    @property
    def readers(self) -> list[str] | None:
        """The ``readers`` values this scope may read; ``None`` means everything (admin)."""
        if self.role == "admin":
            return None
        if self.role == "user":
            return [PUBLIC, USER_PREFIX + str(self.user), *(GROUP_PREFIX + g for g in self.groups)]
        return [PUBLIC]

    def read_filter(self) -> dict[str, Any]:
        """The filter clause every read carries (``{}`` for admin)."""
        readers = self.readers
        return {} if readers is None else {"readers": {"$in": readers}}

    def write_filter(self) -> dict[str, Any]:
        """The filter clause every write carries; anonymous sessions may not write."""
        if self.role == "admin":
            return {}
        if self.role == "user":
            return {"userId": self.user}
        raise AccessDenied(
            "an anonymous session is read-only; connect with user=... (or use .as_user(name))"
        )

    def edit_filter(self) -> dict[str, Any]:
        """The filter clause of an editor's change (tags, description, status): the owner's,
        or the record lists this user or one of their groups in ``editors``."""
        if self.role != "user":
            return self.write_filter()
        names = [str(self.user), *(GROUP_PREFIX + g for g in self.groups)]
        return {"$or": [{"userId": self.user}, {"editors": {"$in": names}}]}

    def can_edit(self, doc: Mapping[str, Any]) -> bool:
        """Whether this scope may make an editor's change (mirrors :meth:`edit_filter`)."""
        if self.can_write(doc):
            return True
        names = {str(self.user), *(GROUP_PREFIX + g for g in self.groups)}
        return self.role == "user" and bool(names & set(doc.get("editors") or ()))

    def require_admin(self, what: str) -> None:
        """AccessDenied unless this is an admin scope; ``what`` names the refused work."""
        if self.role != "admin":
            raise AccessDenied(f"{what} is admin work; use an admin session (as_admin())")

    def can_read(self, doc: Mapping[str, Any]) -> bool:
        """Whether this scope may read the stored document (mirrors :meth:`read_filter`)."""
        readers = self.readers
        return readers is None or bool(set(readers) & set(doc.get("readers") or ()))

    def can_write(self, doc: Mapping[str, Any]) -> bool:
        """Whether this scope may change the stored document (mirrors :meth:`write_filter`)."""
        if self.role == "admin":
            return True
        return self.role == "user" and doc.get("userId") == self.user
