"""The archive service's HTTP API (Starlette, served by uvicorn): the Session over JSON.

Every request proves who it is with a bearer token (:mod:`jwstnb.service.tokens`); the
service scopes its own admin :class:`jwstnb.session.Session` to that identity
(``as_user`` / ``as_admin`` / ``anonymous``), so every access rule is applied by the same
session code as a direct connection, and a record the caller may not read is 404. The API
is ``POST /v1/<method>`` with the Session method's keyword arguments as a JSON object, and
the answer as JSON (records as the models' JSON by alias); errors come back as
``{"error": class name, "message": ...}`` with the status of :mod:`jwstnb.service.protocol`.

Files: ``POST /v1/sign`` gives a short-lived URL for the file of a readable record: a
presigned S3 URL, or a signed ``GET /v1/files/<key>`` that streams byte ranges of a local
file (:mod:`jwstnb.service.signing`). Nothing else reads files.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jwstnb.errors import AccessDenied, JwstnbError, NotFound, invalid
from jwstnb.service.protocol import API, Unauthenticated, error_body, jsonable
from jwstnb.service.signing import DEFAULT_TTL, Signer, load_or_create_secret, presign_s3
from jwstnb.service.tokens import TOKENS_COLLECTION, Identity, TokenStore

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from jwstnb.session import Session
    from jwstnb.storage import Storage

__all__ = ["METHODS", "Service", "create_app"]

log = logging.getLogger("jwstnb.service")

#: Header a caller sends to act as anonymous (anyone) or as another user (admin tokens only).
VIEW_HEADER = "x-jwstnb-view"
_CHUNK = 256 * 1024
_MAX_BODY = 16 * 1024 * 1024


@dataclass
class Service:
    """What the application serves from: the admin session, storage, tokens and signer."""

    session: Session
    storage: Storage | None
    tokens: TokenStore
    signer: Signer
    allow_anonymous: bool = False
    hub: HubAuth | None = None
    #: the address callers reach the service at (behind a proxy); else the request's own
    public_url: str | None = None

    def __repr__(self) -> str:
        return f"<jwstnb Service {self.session!r} storage={self.storage!r}>"

    @classmethod
    def open(
        cls,
        session: Session,
        storage: Storage | None,
        *,
        allow_anonymous: bool = False,
        ttl: int = DEFAULT_TTL,
        secret: bytes | None = None,
        public_url: str | None = None,
    ) -> Service:
        """The service over an admin ``session`` (its database also holds the tokens)."""
        session.require_admin("serving the archive")
        database = session.client[session.database_name]
        tokens = TokenStore(database[TOKENS_COLLECTION])
        signer = Signer(secret or load_or_create_secret(database), ttl=ttl)
        return cls(session, storage, tokens, signer, allow_anonymous, HubAuth.from_env(),
                   public_url.rstrip("/") if public_url else None)

    # --- identity -------------------------------------------------------------------------

    def identify(self, request: Request) -> Identity:
        """The caller's identity from its bearer token (Unauthenticated when refused)."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            if self.allow_anonymous:
                return Identity("anonymous", None)
            raise Unauthenticated(
                "this archive service needs a token: connect with token=... or put it in the "
                "token file (ask an admin for `jwstnb token add`)"
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        identity = self.tokens.authenticate(token.strip())
        if identity is None and self.hub is not None:
            identity = self.hub.authenticate(token.strip())
        if identity is None:
            raise Unauthenticated(
                "the service refused this token (unknown, expired or revoked); ask an admin "
                "for a new one"
            )
        return identity

    def view(self, identity: Identity, request: Request | None = None) -> Session:
        """The session scoped to ``identity`` (and to the view it asks for, if any)."""
        wanted = request.headers.get(VIEW_HEADER, "") if request is not None else ""
        if wanted == "anonymous":
            return self.session.anonymous()
        if wanted.startswith("user:"):
            if identity.role != "admin":
                raise AccessDenied("acting as another user is for admin tokens only")
            log.info("admin %s acts as user %s", identity.user or identity.token_id,
                     wanted[5:][:200])
            return self.session.as_user(wanted[5:])
        if wanted and wanted != "self":
            raise invalid("view", "the view header is 'anonymous', 'self' or 'user:<name>'")
        return self.scoped(identity.role, identity.user)

    def scoped(self, role: str, user: str | None) -> Session:
        if role == "admin":
            return self.session.as_admin()
        if role == "user" and user:
            return self.session.as_user(user)
        return self.session.anonymous()

    # --- files ----------------------------------------------------------------------------

    def readable_key(self, view: Session, key: str) -> dict[str, Any]:
        """The readable record stored under ``key``; NotFound when there is none."""
        from jwstnb.keys import validate_key

        validate_key(key)
        coll = self.session.collection
        doc = coll.find_one(
            {"filePath": key, **view.scope.read_filter()},
            {"_id": 1, "filePath": 1, "fileSize": 1},
        )
        if doc is None:
            raise NotFound(f"no readable record with the file {key!r}")
        return doc

    def sign(self, view: Session, key: str, base: str) -> dict[str, Any]:
        """A short-lived URL reading ``key`` for this view, with the file's size and version."""
        from jwstnb.errors import StorageNotConfigured

        self.readable_key(view, key)
        if self.storage is None:
            raise StorageNotConfigured("this archive service has no storage configured")
        fs, path = self.storage.locate(key)
        size = self.storage.size(key)
        version = self.storage.file_version(key)
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        ttl = self.signer.ttl
        if any(p in ("s3", "s3a") for p in protocols):
            url, expires = presign_s3(fs, path, ttl), int(time.time()) + ttl
        else:
            url, expires = self.signer.sign(f"{base}{API}/files", key, _subject(view), ttl)
        return {"url": url, "size": size, "version": version, "expires": expires}


class HubAuth:
    """JupyterHub's service authentication: a hub token is asked about at the hub's API.

    Used when the service runs as a hub service (``JUPYTERHUB_API_URL`` and
    ``JUPYTERHUB_API_TOKEN`` set by the hub). The hub says whose token it is, whether that
    user is an admin, and the token's scopes; with ``JUPYTERHUB_SERVICE_NAME`` set the token
    must grant access to this service.
    """

    def __init__(self, api_url: str, api_token: str, service_name: str | None) -> None:
        self.api_url = api_url.rstrip("/")
        self._api_token = api_token
        self.service_name = service_name

    def __repr__(self) -> str:
        return f"<jwstnb HubAuth {self.api_url}>"

    @classmethod
    def from_env(cls) -> HubAuth | None:
        import os

        url, token = os.environ.get("JUPYTERHUB_API_URL"), os.environ.get("JUPYTERHUB_API_TOKEN")
        if not (url and token):
            return None
        return cls(url, token, os.environ.get("JUPYTERHUB_SERVICE_NAME"))

    def authenticate(self, token: str) -> Identity | None:
        import httpx

        try:
            r = httpx.get(f"{self.api_url}/user", headers={"Authorization": f"token {token}"},
                          timeout=10)
        except httpx.HTTPError:
            log.warning("the hub at %s did not answer a token check", self.api_url)
            return None
        if r.status_code != 200:
            return None
        model = r.json()
        if model.get("kind", "user") != "user" or not isinstance(model.get("name"), str):
            return None
        scopes = set(model.get("scopes") or ())
        if self.service_name and not scopes & {
            "access:services", f"access:services!service={self.service_name}"
        }:
            return None
        if model.get("admin"):
            return Identity("admin", model["name"], token_id="hub")
        return Identity("user", model["name"], token_id="hub")


def _subject(view: Session) -> str:
    """Who a signed URL is for: ``admin:``, ``anonymous:`` or ``user:<name>``."""
    return f"{view.role}:{view.user or ''}"


# --- methods: the Session's public methods, one to one ---------------------------------------


def _record(model: Any) -> Any:
    return None if model is None else model.model_dump(mode="json", by_alias=True)


def _model(value: Any) -> Any:
    from jwstnb.schema import JwstDataModel

    if not isinstance(value, Mapping):
        raise invalid("record", "a record is a JSON object", value)
    return JwstDataModel.model_validate(dict(value))


def _search(s: Session, a: dict[str, Any]) -> Any:
    page = s.search(**a)
    return {
        "items": [_record(r) for r in page.items],
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
        "facets": page.facets,
        "skipped": page.skipped,
    }


def _counts(s: Session, a: dict[str, Any]) -> Any:
    counts = s.counts(**a)
    return {"total": counts.total, "facets": counts.facets}


def _lineage(s: Session, a: dict[str, Any]) -> Any:
    group = _text(a, "observation_base_id")
    tree = s.lineage(group)
    records = [n.record for n in tree.nodes if n.record is not None]
    return {"observation_base_id": group, "records": [_record(r) for r in records]}


def _share(s: Session, a: dict[str, Any]) -> Any:
    users = [str(u) for u in a.get("users") or ()]
    group, role = a.get("group"), a.get("role", "viewer")
    return _record(s.share(_text(a, "record_id"), *users, group=group, role=role))


def _unshare(s: Session, a: dict[str, Any]) -> Any:
    users = [str(u) for u in a.get("users") or ()]
    return _record(s.unshare(_text(a, "record_id"), *users, group=a.get("group")))


def _users(a: Mapping[str, Any]) -> list[str]:
    users = a.get("users") or []
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        raise invalid("users", "users is a list of user ids", users)
    return users


def _explain(s: Session, a: dict[str, Any]) -> Any:
    s.scope.require_admin("explaining the service's query plans")
    result = s.explain(str(a.get("operation", "search")), **dict(a.get("arguments") or {}))
    result.pop("explain", None)  # the server's raw plan: large, and not JSON
    return jsonable(result)


def _text(a: Mapping[str, Any], name: str) -> str:
    value = a.get(name)
    if not isinstance(value, str):
        raise invalid(name, f"{name} is a string", value)
    return value


def _rid(a: Mapping[str, Any]) -> str:
    return _text(a, "record_id")


def _finishes(a: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    items = a.get("finishes")
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise invalid("finishes", "finishes is a list of {record_id, status, result}", items)
    return [(_rid(i), _text(i, "status"), i.get("result")) for i in items]


Handler = Callable[["Session", dict[str, Any]], Any]

#: Session method -> handler(scoped session, keyword arguments) -> JSON answer.
METHODS: dict[str, Handler] = {
    "whoami": lambda s, a: {"role": s.role, "user": s.user},
    "search": _search,
    "items": lambda s, a: [_record(r) for r in s.items(**a)],
    "counts": _counts,
    "count": lambda s, a: s.count(**a),
    "get": lambda s, a: _record(s.get(_rid(a))),
    "lineage": _lineage,
    "observations": lambda s, a: s.observations(),
    "statistics": lambda s, a: jsonable(s.statistics()),
    "target_position": lambda s, a: s.target_position(_text(a, "name")),
    "insert": lambda s, a: s.insert(_model(a.get("record"))),
    "upsert": lambda s, a: list(s.upsert(_model(a.get("record")))),
    "update": lambda s, a: _record(s.update(_rid(a), **dict(a.get("fields") or {}))),
    "delete": lambda s, a: s.delete(_rid(a)),
    "set_status": lambda s, a: _record(s.set_status(_rid(a), _text(a, "status"))),
    "share": _share,
    "unshare": _unshare,
    "bulk_tags": lambda s, a: s.bulk_tags(
        list(a.get("ids") or ()), add=list(a.get("add") or ()), remove=list(a.get("remove") or ())
    ),
    "claim": lambda s, a: _record(
        s.claim(_rid(a), _text(a, "worker"), float(a.get("lease_seconds", 300.0)))
    ),
    "renew": lambda s, a: s.renew(
        _rid(a), _text(a, "worker"), float(a.get("lease_seconds", 300.0))
    ),
    "finish": lambda s, a: _record(
        s.finish(_rid(a), _text(a, "worker"), _text(a, "status"), a.get("result"))
    ),
    "finish_many": lambda s, a: s.finish_many(_text(a, "worker"), _finishes(a)),
    "release_expired": lambda s, a: s.release_expired(),
    "add_result": lambda s, a: _record(s.add_result(_rid(a), a.get("result") or {})),
    "archive": lambda s, a: _record(s.archive(_rid(a))),
    "unarchive": lambda s, a: _record(s.unarchive(_rid(a))),
    "explain": _explain,
    "groups": lambda s, a: s.groups(),
    "add_to_group": lambda s, a: s.add_to_group(_text(a, "group"), *_users(a)),
    "remove_from_group": lambda s, a: s.remove_from_group(_text(a, "group"), *_users(a)),
    "sign": lambda s, a: None,  # answered by Service.sign (it needs the service's address)
}


# --- the application -------------------------------------------------------------------------


def create_app(service: Service) -> Starlette:
    """The Starlette application serving ``service`` (run it with uvicorn)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def respond(status: int, body: Any) -> Response:
        return JSONResponse(body, status_code=status, headers={"cache-control": "no-store"})

    def failed(exc: BaseException, request: Request, who: str) -> Response:
        status, body = error_body(exc)
        if status >= 500:
            log.error("%s %s as %s failed: %s", request.method, request.url.path, who,
                      type(exc).__name__, exc_info=not isinstance(exc, JwstnbError))
        return respond(status, body)

    def health(request: Request) -> Response:
        return respond(200, {"ok": True, "service": "jwstnb"})

    async def call(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > _MAX_BODY:
            return respond(413, {"error": "ValidationError", "message": "request too large",
                                 "details": [{"loc": ["request"], "msg": "at most 16 MiB"}]})
        raw = await request.body()
        return await run_in_threadpool(answer_call, request, raw)

    def answer_call(request: Request, raw: bytes) -> Response:
        method = request.path_params["method"]
        who = "?"
        started = time.perf_counter()
        try:
            identity = service.identify(request)
            who = identity.user or identity.role
            handler = METHODS.get(method)
            if handler is None:
                raise NotFound(f"the archive service has no method {method!r}")
            arguments = _arguments(raw)
            view = service.view(identity, request)
            try:
                if method == "sign":
                    base = service.public_url or _base(request)
                    answer = service.sign(view, _text(arguments, "key"), base)
                else:
                    try:
                        answer = handler(view, arguments)
                    except TypeError as exc:
                        raise invalid("arguments", f"bad arguments for {method}: {exc}") from None
            finally:
                view.close()
            status, body = 200, {"result": answer}
        except Exception as exc:
            response = failed(exc, request, who)
            log.info("%s %s as %s: %s", request.method, request.url.path, who,
                     response.status_code)
            return response
        log.info("%s %s as %s: %s in %.1f ms", request.method, request.url.path, who, status,
                 1000 * (time.perf_counter() - started))
        return respond(status, body)

    def files(request: Request) -> Response:
        key = request.path_params["key"]
        q = request.query_params
        try:
            return _file_response(service, request, key, q.get("u", ""), q.get("e", ""),
                                  q.get("s", ""))
        except Exception as exc:
            return failed(exc, request, "a signed URL")

    routes = [
        Route(f"{API}/health", health, methods=["GET"]),
        Route(f"{API}/files/{{key:path}}", files, methods=["GET", "HEAD"]),
        Route(f"{API}/{{method}}", call, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _base(request: Request) -> str:
    """The service's own address as the caller reached it (for signed local URLs)."""
    return str(request.base_url).rstrip("/")


def _arguments(raw: bytes) -> dict[str, Any]:
    if len(raw) > _MAX_BODY:
        raise invalid("request", "a request body has at most 16 MiB")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise invalid("request", "the request body is not JSON") from None
    if not isinstance(value, dict):
        raise invalid("request", "the request body is a JSON object of keyword arguments")
    return value


def _file_response(
    service: Service, request: Request, key: str, subject: str, expires: str, signature: str
) -> Response:
    """Stream the asked byte range of a local file for a valid, unexpired signed URL."""
    from starlette.responses import Response, StreamingResponse

    if not service.signer.check(key, subject, expires, signature):
        raise Unauthenticated("this file URL is not signed by the service, or has expired")
    role, _, user = subject.partition(":")
    view = service.scoped(role, user or None)
    try:
        service.readable_key(view, key)  # still readable (unshared since signing: refused)
    finally:
        view.close()
    storage = service.storage
    if storage is None:
        raise NotFound(f"no file {key!r}")
    size = storage.size(key)
    start, end = _range(request.headers.get("range"), size)
    headers = {
        "accept-ranges": "bytes",
        "cache-control": "private, no-store",
        "content-length": str(end - start),
        "content-type": "application/octet-stream",
    }
    partial = request.headers.get("range") is not None
    if partial and end <= start and size > 0:  # nothing of the file is in the range
        return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
    if partial:
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    status = 206 if partial else 200
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)

    def chunks() -> Iterator[bytes]:
        with storage.open(key) as f:
            f.seek(start)
            left = end - start
            while left > 0:
                data = f.read(min(_CHUNK, left))
                if not data:
                    break
                left -= len(data)
                yield data

    return StreamingResponse(chunks(), status_code=status, headers=headers)


def _range(header: str | None, size: int) -> tuple[int, int]:
    """``[start, end)`` of a ``Range: bytes=a-b`` header (one range), or the whole file."""
    if not header:
        return 0, size
    unit, _, spec = header.partition("=")
    first, _, last = spec.strip().partition("-")
    try:
        if unit.strip().lower() != "bytes" or "," in spec:
            raise ValueError
        if first == "":
            n = int(last)
            return max(0, size - n), size
        start = int(first)
        end = size if last == "" else min(size, int(last) + 1)
    except ValueError:
        raise invalid("range", "one byte range, e.g. bytes=0-1023", header) from None
    if start < 0 or (start >= size and size > 0) or end < start:
        return size, size
    return start, end
