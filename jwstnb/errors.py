"""The errors jwstnb raises: one message a person can act on, never a password.

Every error derives from :class:`JwstnbError` and from the closest built-in exception, so
``except LookupError`` or ``except PermissionError`` keep working in user code.
``ValidationError`` is pydantic's, re-exported so notebooks need one import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "AccessDenied",
    "ConnectionFailed",
    "CredentialsLost",
    "FitsError",
    "InvalidStorageKey",
    "InvalidTransition",
    "JwstnbError",
    "NameNotResolved",
    "NotFound",
    "QueryTimeout",
    "StorageError",
    "StorageFileNotFound",
    "StorageNotConfigured",
    "ValidationError",
    "invalid",
]


class JwstnbError(Exception):
    """Base class of every error raised by jwstnb."""


class NotFound(JwstnbError, LookupError):
    """The record does not exist, or this session may not read it (the two look the same)."""


class AccessDenied(JwstnbError, PermissionError):
    """The session may read the record but not change it (or is anonymous)."""


class InvalidTransition(JwstnbError, ValueError):
    """A processing-status change that the status rules do not allow, or that lost a race."""


class InvalidStorageKey(JwstnbError, ValueError):
    """A storage key that breaks the key rules; raised before any I/O."""


class FitsError(JwstnbError, ValueError):
    """A file that cannot be read as FITS (or as an image): names the key and the reason."""


class ConnectionFailed(JwstnbError, ConnectionError):
    """The database could not be reached; names the host (never the password) and what to check."""


class QueryTimeout(JwstnbError, TimeoutError):
    """A read ran past the time it was given (``max_time_ms``) and the server stopped it."""


class CredentialsLost(ConnectionFailed):
    """The embedded database has data but its credentials are gone: it stays closed.

    Raised instead of serving the data without a password; the message names the command
    its owner runs to recover (``jwstnb db reset-password``).
    """


class StorageNotConfigured(JwstnbError, ValueError):
    """No usable storage URL or mount for what was asked; says which setting to give."""


class StorageFileNotFound(NotFound, FileNotFoundError):
    """No file under this storage key (both ``NotFound`` and ``FileNotFoundError``)."""


class StorageError(JwstnbError, OSError):
    """The storage back end failed (network, credentials, bucket): the reason, no secret."""


class NameNotResolved(JwstnbError, LookupError):
    """A target name that neither the database nor the name resolver knows."""


def invalid(field_name: str, message: str, value: Any = None) -> Exception:
    """A pydantic ``ValidationError`` for one bad input, naming the field (long input cut)."""
    from pydantic import ValidationError
    from pydantic_core import InitErrorDetails, PydanticCustomError

    shown = value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."
    detail = InitErrorDetails(
        type=PydanticCustomError("jwstnb_invalid", message),
        loc=(field_name,),
        input=shown,
    )
    return ValidationError.from_exception_data("jwstnb", [detail])


def __getattr__(name: str) -> Any:
    # pydantic is imported only when someone asks for ValidationError.
    if name == "ValidationError":
        from pydantic import ValidationError

        return ValidationError
    raise AttributeError(f"module 'jwstnb.errors' has no attribute {name!r}")
