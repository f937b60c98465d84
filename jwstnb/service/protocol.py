"""What the archive service and its client agree on: the error map and the JSON of values.

Pure (no I/O, no web framework): both :mod:`jwstnb.service.app` and
:mod:`jwstnb.service.client` import it, so an error raised inside the service comes back to
the caller as the same :mod:`jwstnb.errors` class, and a search's arguments (positions,
angles, times) travel as plain JSON the session's criteria model parses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from jwstnb import errors

__all__ = [
    "API",
    "ERROR_STATUS",
    "Unauthenticated",
    "error_body",
    "error_from_body",
    "jsonable",
]

#: The version prefix of every endpoint.
API = "/v1"


class Unauthenticated(errors.AccessDenied):
    """The service refused the token: missing, unknown, expired, revoked or forged (401)."""


# One error map, most specific class first: (class, HTTP status). The client raises the
# class named in the body; the status only has to be right for HTTP tools and proxies.
ERROR_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (Unauthenticated, 401),
    (errors.StorageFileNotFound, 404),
    (errors.NotFound, 404),
    (errors.AccessDenied, 403),
    (errors.InvalidTransition, 409),
    (errors.InvalidStorageKey, 400),
    (errors.FitsError, 422),
    (errors.QueryTimeout, 504),
    (errors.CredentialsLost, 503),
    (errors.ConnectionFailed, 503),
    (errors.StorageNotConfigured, 400),
    (errors.StorageError, 502),
    (errors.NameNotResolved, 404),
)
_BY_NAME: dict[str, type[BaseException]] = {cls.__name__: cls for cls, _ in ERROR_STATUS}


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for an error raised while answering a request.

    pydantic's ``ValidationError`` keeps its field locations and messages (422); a
    :mod:`jwstnb.errors` class is named with its message; anything else is a 500 whose body
    says nothing about the inside of the service.
    """
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "invalid")),
             "input": _short(e.get("input"))}
            for e in exc.errors(include_url=False)
        ]
        return 422, {"error": "ValidationError", "message": str(exc)[:2000], "details": details}
    for cls, status in ERROR_STATUS:
        if isinstance(exc, cls):
            return status, {"error": cls.__name__, "message": str(exc)[:2000]}
    if isinstance(exc, errors.JwstnbError):
        return 400, {"error": "JwstnbError", "message": str(exc)[:2000]}
    return 500, {"error": "ServiceError", "message": "the service failed; see its log"}


def error_from_body(status: int, body: Any) -> BaseException:
    """The :mod:`jwstnb.errors` exception a service error response stands for."""
    if not isinstance(body, Mapping):
        body = {}
    name = str(body.get("error") or "")
    message = str(body.get("message") or f"the service answered HTTP {status}")
    if name == "ValidationError":
        details = body.get("details") or [{"loc": ["request"], "msg": message}]
        return _validation_error(details)
    cls = _BY_NAME.get(name)
    if cls is None:
        if status == 401:
            cls = Unauthenticated
        elif status == 404:
            cls = errors.NotFound
        elif status == 403:
            cls = errors.AccessDenied
        elif status >= 500:
            cls = errors.ConnectionFailed
            message = f"the archive service failed (HTTP {status}): {message}"
        else:
            cls = errors.JwstnbError
    return cls(message)


def _validation_error(details: list[Any]) -> Exception:
    from pydantic import ValidationError
    from pydantic_core import InitErrorDetails, PydanticCustomError

    lines = []
    for d in details[:50]:
        d = d if isinstance(d, Mapping) else {}
        loc = tuple(str(p) for p in (d.get("loc") or ("request",)))
        msg = str(d.get("msg") or "invalid").replace("{", "(").replace("}", ")")
        lines.append(
            InitErrorDetails(
                type=PydanticCustomError("jwstnb_invalid", msg), loc=loc, input=d.get("input")
            )
        )
    return ValidationError.from_exception_data("jwstnb", lines)


def _short(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value[:80] if isinstance(value, str) else value
    return str(value)[:80]


def jsonable(value: Any) -> Any:
    """A search argument or record field as JSON the session parses back to the same value.

    SkyCoord -> ``[ra, dec]`` (degrees, ICRS); an angle or other Quantity -> its value in
    degrees (angles) or its own unit's SI value; astropy Time and datetimes -> ISO 8601;
    pydantic models -> their JSON by alias; enums -> their value; tuples and sets -> lists.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    if hasattr(value, "value") and type(value).__module__.startswith("enum"):
        return value.value
    cls = type(value).__name__
    module = type(value).__module__
    if module.startswith("astropy"):
        return _astropy_json(value, cls)
    if module.startswith("bson") and cls == "ObjectId":
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist())
    from enum import Enum

    if isinstance(value, Enum):
        return jsonable(value.value)
    return str(value)


def _astropy_json(value: Any, cls: str) -> Any:
    if cls == "SkyCoord":
        icrs = value.icrs
        if not icrs.isscalar:
            return [[float(r), float(d)] for r, d in zip(icrs.ra.deg, icrs.dec.deg, strict=True)]
        return [float(icrs.ra.deg), float(icrs.dec.deg)]
    if cls == "Time":
        return value.utc.isot if value.isscalar else [t for t in value.utc.isot]
    if hasattr(value, "unit"):  # Quantity, Angle, Latitude...
        from astropy import units as u

        if value.unit.physical_type == "angle":
            return jsonable(value.to_value(u.deg))
        return jsonable(value.si.value)
    return str(value)
