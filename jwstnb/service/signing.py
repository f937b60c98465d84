"""Short-lived file URLs the archive service signs for one user and one storage key.

Local files: ``/v1/files/<key>?u=<user>&e=<expiry>&s=<signature>``, the signature an
HMAC-SHA256 with the service's own secret over the key, the user and the expiry; the service
checks it in constant time, checks the expiry, and checks again that the user may still read
a record of that key before it streams the asked byte range. Objects in S3: a presigned GET
URL from the bucket's own credentials (botocore's ``generate_presigned_url``), which S3 checks.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["DEFAULT_TTL", "SERVICE_SECRETS", "Signer", "load_or_create_secret"]

#: Seconds a signed URL stays valid unless the service is configured otherwise.
DEFAULT_TTL = 600
#: Collection holding the service's signing secret (one document), shared by its processes.
SERVICE_SECRETS = "jwst_service"


class Signer:
    """Signs and checks local file URLs with one secret (never shown in its repr)."""

    def __init__(self, secret: bytes, ttl: int = DEFAULT_TTL) -> None:
        if len(secret) < 32:
            raise ValueError("the signing secret needs at least 32 bytes")
        self._secret = secret
        self.ttl = int(ttl)

    def __repr__(self) -> str:
        return f"<jwstnb Signer ttl={self.ttl}s>"

    def _mac(self, key: str, user: str, expires: int) -> str:
        message = f"{key}\n{user}\n{expires}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, base: str, key: str, user: str, ttl: int | None = None) -> tuple[str, int]:
        """``(url, expires)``: the URL under ``base`` that reads ``key`` as ``user`` until
        ``expires`` (Unix seconds)."""
        expires = int(time.time()) + int(self.ttl if ttl is None else ttl)
        query = urlencode({"u": user, "e": expires, "s": self._mac(key, user, expires)})
        return f"{base.rstrip('/')}/{quote(key, safe='/')}?{query}", expires

    def check(self, key: str, user: str, expires: str, signature: str) -> bool:
        """True when the signature is the service's for this key, user and expiry, and the
        expiry has not passed."""
        try:
            when = int(expires)
        except (TypeError, ValueError):
            return False
        good = hmac.compare_digest(self._mac(key, user, when), str(signature))
        return good and when > time.time()


def load_or_create_secret(database: Any) -> bytes:
    """The signing secret kept in the database, made once (every service process shares it,
    so a URL signed by one is honoured by the others behind a load balancer)."""
    from pymongo.errors import DuplicateKeyError

    coll = database[SERVICE_SECRETS]
    doc = coll.find_one({"_id": "url-signing"})
    if doc is None:
        with contextlib.suppress(DuplicateKeyError):
            coll.insert_one({"_id": "url-signing", "secret": secrets.token_hex(32)})
        doc = coll.find_one({"_id": "url-signing"})
    assert doc is not None
    return bytes.fromhex(str(doc["secret"]))


def presign_s3(fs: Any, path: str, ttl: int) -> str:
    """A presigned GET URL of an object (``fs`` an s3fs filesystem, ``path`` bucket/key)."""
    return str(fs.url(path, expires=int(ttl)))
