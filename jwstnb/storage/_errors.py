"""How Storage reports failures: back-end errors without secrets, bad arguments as they are.

Back-end failures (botocore, aiohttp, OSError...) can carry credentials or signed URLs in
their messages; :func:`_guarded` turns them into jwstnb errors through the Storage's own
redaction, while a bad argument passes through unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from jwstnb.errors import JwstnbError

_F = TypeVar("_F", bound=Callable[..., Any])


class _ReportsBackendErrors(Protocol):
    """What :func:`_guarded` needs of a Storage: its own wording of a back-end failure."""

    def _backend_error(self, key: str, exc: BaseException) -> JwstnbError: ...


class _ArgumentError(ValueError):
    """A bad argument (not a bad file): passes through the FITS error wrapper as is."""


def _guarded(method: _F) -> _F:
    """Re-raise any back-end failure of a Storage method as a jwstnb error without secrets
    (botocore, aiohttp and OSError messages can hold credentials or signed URLs)."""

    @functools.wraps(method)
    def wrapper(self: _ReportsBackendErrors, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (JwstnbError, _ArgumentError):
            raise
        except Exception as exc:
            if not _is_backend_error(exc):
                raise
            target = args[0] if args else kwargs.get("key", kwargs.get("prefix", ""))
            key = getattr(target, "file_path", target)
            raise self._backend_error(str(key), exc) from None

    return wrapper  # type: ignore[return-value]


_BACKEND_MODULES = frozenset(
    {"botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "adlfs", "fsspec", "urllib3",
     "requests", "azure", "google", "ssl", "socket"}
)


def _is_backend_error(exc: BaseException) -> bool:
    """True for failures of the storage back end (not of the file's contents)."""
    if isinstance(exc, (PermissionError, ConnectionError, TimeoutError, FileNotFoundError)):
        return True
    if type(exc).__module__.split(".")[0] in _BACKEND_MODULES:
        return True
    return isinstance(exc, OSError) and exc.errno is not None
