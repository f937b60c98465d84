"""Bearer tokens of the archive service: issued and revoked by an admin, stored hashed.

A token is ``jwst_<id>_<secret>``: the id finds its entry, the secret (32 random bytes from
:func:`secrets.token_urlsafe`) is checked against the stored SHA-256 digest with a
constant-time compare. The clear token exists once, in the answer to :meth:`TokenStore.add`;
the collection (``jwst_tokens``) holds only digests, the user, the role, when it was made,
when it expires, when it was last used and whether it was revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from jwstnb.access import validate_user
from jwstnb.errors import NotFound, invalid

if TYPE_CHECKING:
    from pymongo.collection import Collection

__all__ = ["TOKENS_COLLECTION", "Identity", "TokenInfo", "TokenStore"]

TOKENS_COLLECTION = "jwst_tokens"
_PREFIX = "jwst_"
#: ``last_used`` is written at most this often per token (a write per request would cost).
_TOUCH_SECONDS = 60.0

TokenRole = Literal["user", "admin", "anonymous"]


@dataclass(frozen=True)
class Identity:
    """Who a request is from, as proven by its token: a user, an admin, or anonymous."""

    role: TokenRole
    user: str | None
    token_id: str | None = None

    def __repr__(self) -> str:
        return f"Identity(role={self.role!r}, user={self.user!r})"


@dataclass(frozen=True)
class TokenInfo:
    """One issued token as ``jwstnb token list`` shows it (never the token itself)."""

    id: str
    user: str | None
    role: TokenRole
    created: datetime
    expires: datetime
    last_used: datetime | None
    revoked: bool

    @property
    def expired(self) -> bool:
        from jwstnb.schema import utc_now

        return self.expires <= utc_now()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _split(token: str) -> tuple[str, str] | None:
    if not isinstance(token, str) or not token.startswith(_PREFIX) or len(token) > 200:
        return None
    token_id, sep, secret = token[len(_PREFIX):].partition("_")
    if not sep or not token_id or not secret or not token_id.isalnum():
        return None
    return token_id, secret


class TokenStore:
    """The service's tokens in their own collection, beside the records."""

    def __init__(self, collection: Collection[dict[str, Any]]) -> None:
        self._coll = collection

    def __repr__(self) -> str:
        return f"<jwstnb TokenStore {self._coll.full_name}>"

    def add(
        self, user: str | None, *, role: TokenRole = "user", days: float = 90.0
    ) -> tuple[str, str]:
        """Issue a token for ``user`` valid ``days`` days: ``(token id, token)``.

        ``role`` ``"admin"`` makes an admin token (the user is recorded for the audit trail),
        ``"anonymous"`` a read-only token that sees public records only.
        """
        from jwstnb.schema import utc_now

        if role not in ("user", "admin", "anonymous"):
            raise invalid("role", "a token's role is user, admin or anonymous", role)
        user = None if role == "anonymous" else validate_user(user)
        if not (0 < float(days) <= 3660):
            raise invalid("days", "a token lives between a moment and ten years", days)
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = utc_now()
        self._coll.insert_one(
            {
                "_id": token_id,
                "hash": _digest(secret),
                "user": user,
                "role": role,
                "created": now,
                "expires": now + timedelta(days=float(days)),
                "last_used": None,
                "revoked": False,
            }
        )
        return token_id, f"{_PREFIX}{token_id}_{secret}"

    def authenticate(self, token: str | None) -> Identity | None:
        """The identity a token proves, or None (unknown, forged, expired or revoked)."""
        from jwstnb.schema import utc_now

        parts = _split(token or "")
        if parts is None:
            return None
        token_id, secret = parts
        doc = self._coll.find_one({"_id": token_id})
        # the digest is compared even when there is no entry, so timing says nothing
        stored = str(doc.get("hash")) if doc else "0" * 64
        if not hmac.compare_digest(stored, _digest(secret)) or doc is None:
            return None
        now = utc_now()
        expires = doc.get("expires")
        if doc.get("revoked") or not isinstance(expires, datetime) or _aware(expires) <= now:
            return None
        last = doc.get("last_used")
        if not isinstance(last, datetime) or (now - _aware(last)).total_seconds() > _TOUCH_SECONDS:
            self._coll.update_one({"_id": token_id}, {"$set": {"last_used": now}})
        role = doc.get("role", "user")
        return Identity(role=role, user=doc.get("user"), token_id=token_id)

    def list(self, user: str | None = None) -> list[TokenInfo]:
        """Every token (or ``user``'s), newest first, without secrets."""
        query: dict[str, Any] = {} if user is None else {"user": validate_user(user)}
        docs = self._coll.find(query, {"hash": 0}).sort("created", -1)
        return [
            TokenInfo(
                id=str(d["_id"]), user=d.get("user"), role=d.get("role", "user"),
                created=_aware(d["created"]), expires=_aware(d["expires"]),
                last_used=_aware(d["last_used"]) if d.get("last_used") else None,
                revoked=bool(d.get("revoked")),
            )
            for d in docs
        ]

    def revoke(self, user_or_id: str) -> int:
        """Revoke one token (by id) or every token of a user; how many were revoked.

        :class:`NotFound` when nothing matches, so a typo is never a silent no-op.
        """
        name = validate_user(user_or_id)
        done = self._coll.update_many(
            {"$or": [{"_id": name}, {"user": name}], "revoked": False},
            {"$set": {"revoked": True}},
        ).modified_count
        if not done and not self._coll.find_one({"$or": [{"_id": name}, {"user": name}]}):
            raise NotFound(f"no token with id or user {name!r}; see `jwstnb token list`")
        return int(done)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
