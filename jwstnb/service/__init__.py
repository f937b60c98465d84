"""The archive service of a team (``jwstnb serve``) and its client.

The service alone holds the database and storage credentials; kernels connect with a token
(:func:`jwstnb.service.client.connect_service`) and get a session with the same methods and
errors as a direct one. Its web stack (Starlette, uvicorn, httpx) is the ``service`` extra
and is imported only by the modules that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["RemoteSession", "RemoteStorage", "connect_service", "serve"]

if TYPE_CHECKING:
    from jwstnb.service.client import RemoteSession, RemoteStorage, connect_service
    from jwstnb.service.server import serve


def __getattr__(name: str) -> Any:
    if name in ("RemoteSession", "RemoteStorage", "connect_service"):
        from jwstnb.service import client

        return getattr(client, name)
    if name == "serve":
        from jwstnb.service.server import serve

        return serve
    raise AttributeError(f"module 'jwstnb.service' has no attribute {name!r}")
