"""Who may read and change what (DESIGN §5), as data the session puts inside every filter.

Pure: no I/O. Access is a derived, indexed field ``readers`` kept on every record by the
session: ``"public"`` when ``isPublic``, ``"user:<id>"`` for the owner and every user in
``sharedWith``. A session's read scope is ``{"readers": {"$in": [...]}}`` (admin: none), so
the scope is one indexable predicate inside every filter, before skip/limit.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jwstnb.errors import AccessDenied, invalid

__all__ = [
    "MAX_USER_LENGTH",
    "PUBLIC",
    "USER_PREFIX",
    "Role",
    "Scope",
    "readers_for",
    "validate_user",
]

Role = Literal["anonymous", "user", "admin"]

MAX_USER_LENGTH = 200
PUBLIC = "public"
USER_PREFIX = "user:"


def validate_user(user: Any) -> str:
    """A user id: a non-empty string without control characters, at most 200 characters."""
    if not isinstance(user, str) or not user.strip():
        raise invalid("user", "a user id must be a non-empty string", user)
    if len(user) > MAX_USER_LENGTH or any(unicodedata.category(c)[0] == "C" for c in user):
        raise invalid("user", "a user id has at most 200 printable characters", user)
    return user


def readers_for(user_id: str | None, is_public: bool, shared_with: Iterable[str]) -> list[str]:
    """The ``readers`` entries of a record: who may read it, as one indexable array."""
    readers = [PUBLIC] if is_public else []
    if user_id:
        readers.append(USER_PREFIX + user_id)
    readers.extend(USER_PREFIX + u for u in shared_with if u)
    return list(dict.fromkeys(readers))


@dataclass(frozen=True)
class Scope:
    """Who is asking: ``anonymous``, ``user`` (with ``user``) or ``admin`` (the access model)."""

    role: Role
    user: str | None = None

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
            return [PUBLIC, USER_PREFIX + str(self.user)]
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
