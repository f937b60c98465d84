"""A session and a storage over the archive service: what a kernel holds in service mode.

:func:`connect_service` returns a :class:`RemoteSession` with the public methods, signatures
and errors of :class:`jwstnb.session.Session`; it holds the service's address and a token,
never a database URI or a storage secret. :class:`RemoteStorage` is a
:class:`jwstnb.storage.Storage` whose files are read through the short-lived URLs the
service signs for readable records, with the same lazy range reads, cutouts and cached
thumbnails as a direct one.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from jwstnb.access import Scope, validate_user
from jwstnb.errors import AccessDenied, ConnectionFailed, invalid
from jwstnb.service.protocol import API, error_from_body, jsonable
from jwstnb.storage import Storage, register_service_storage

if TYPE_CHECKING:
    import ssl

    import httpx
    from astropy.table import Table

    from jwstnb.lineage import Lineage
    from jwstnb.schema import JwstDataModel, ProcessingResult
    from jwstnb.session.results import Counts, Page

__all__ = [
    "CA_ENV",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "URL_ENV",
    "RemoteSession",
    "RemoteStorage",
    "connect_service",
    "read_token_file",
    "service_url",
]

URL_ENV = "JWSTNB_SERVICE_URL"
TOKEN_ENV = "JWSTNB_SERVICE_TOKEN"
TOKEN_FILE_ENV = "JWSTNB_SERVICE_TOKEN_FILE"
CA_ENV = "JWSTNB_SERVICE_CA"
_VIEW_HEADER = "X-Jwstnb-View"


# --- where and who ----------------------------------------------------------------------------


def _service_table() -> dict[str, Any]:
    from jwstnb.config import load_config

    table = load_config().get("service", {})
    return dict(table) if isinstance(table, dict) else {}


def service_url(url: str | None = None) -> str | None:
    """The service address: the argument, ``JWSTNB_SERVICE_URL``, or ``[service] url``."""
    return url or os.environ.get(URL_ENV) or _service_table().get("url") or None


def default_token_file() -> Path:
    """Where the token file is looked for: ``JWSTNB_SERVICE_TOKEN_FILE``, ``[service]
    token_file``, else ``service-token`` beside the config file."""
    from jwstnb.config import config_path

    named = os.environ.get(TOKEN_FILE_ENV) or _service_table().get("token_file")
    return Path(named).expanduser() if named else config_path().parent / "service-token"


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token in ``path``, refused unless only its owner may read it (mode 0600)."""
    where = Path(path)
    try:
        info = where.stat()
    except OSError as exc:
        raise ConnectionFailed(
            f"cannot read the service token file {where} ({exc.strerror or exc})"
        ) from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AccessDenied(
            f"the service token file {where} may be read by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {where}` and connect again"
        )
    token = where.read_text(encoding="utf-8").strip()
    if not token:
        raise ConnectionFailed(f"the service token file {where} is empty")
    return token


def _token(token: str | None) -> str | None:
    if token:
        return token
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    path = default_token_file()
    if path.exists() or os.environ.get(TOKEN_FILE_ENV):
        return read_token_file(path)
    return None


def _ssl_context(verify: bool | str | os.PathLike[str] | ssl.SSLContext | None) -> Any:
    """True (system CAs), False (no check: tests only), a CA bundle path, or a context."""
    import ssl

    if verify is None:
        verify = os.environ.get(CA_ENV) or _service_table().get("ca_file") or True
    if isinstance(verify, (ssl.SSLContext, bool)):
        return verify
    return ssl.create_default_context(cafile=os.fspath(verify))


def connect_service(
    url: str | None = None,
    token: str | None = None,
    *,
    verify: bool | str | os.PathLike[str] | ssl.SSLContext | None = None,
    timeout: float = 30.0,
) -> RemoteSession:
    """A :class:`RemoteSession` on the archive service at ``url``.

    The token comes from ``token``, ``JWSTNB_SERVICE_TOKEN``, or the token file (mode 0600;
    ``JWSTNB_SERVICE_TOKEN_FILE``, ``[service] token_file``); without one the service
    decides (public records, if it lets anonymous callers in). ``verify``: the CA bundle
    that signed the service's certificate (``JWSTNB_SERVICE_CA``, ``[service] ca_file``),
    default the system's. Who the session is comes from the service, which checked the token.
    """
    address = service_url(url)
    if not address:
        raise ConnectionFailed(
            f"no archive service address: pass it, or set {URL_ENV} (or [service] url)"
        )
    if not address.startswith(("https://", "http://")):
        raise invalid("url", "the archive service address starts with https://", address)
    transport = _Transport(address.rstrip("/"), _token(token), _ssl_context(verify), timeout)
    try:
        who = transport.call("whoami", {}, None)
    except BaseException:
        transport.close()
        raise
    scope = Scope(who["role"], who.get("user"))
    return RemoteSession(transport, scope, None)


# --- the wire -------------------------------------------------------------------------------


class _BearerAuth:
    """httpx auth adding the token to each request; its repr never shows it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "<bearer token>"

    def __call__(self, request: httpx.Request) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class _Transport:
    """One HTTP client shared by every view of one connection; closed with the last view."""

    def __init__(self, url: str, token: str | None, verify: Any, timeout: float) -> None:
        import httpx

        self.url = url
        self.verify = verify
        auth = _BearerAuth(token) if token else None
        self._http = httpx.Client(
            base_url=url, auth=cast(Any, auth), verify=verify, timeout=timeout,
            headers={"user-agent": "jwstnb"},
        )
        self.has_token = token is not None
        self.views = 0
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<jwstnb service transport {self.url}>"

    def call(self, method: str, arguments: Mapping[str, Any], view: str | None) -> Any:
        import httpx

        headers = {_VIEW_HEADER: view} if view else None
        try:
            response = self._http.post(f"{API}/{method}", json=arguments, headers=headers)
        except httpx.TimeoutException:
            from jwstnb.errors import QueryTimeout

            raise QueryTimeout(
                f"the archive service at {self.url} did not answer {method} in time"
            ) from None
        except httpx.HTTPError as exc:
            raise ConnectionFailed(
                f"cannot reach the archive service at {self.url} ({type(exc).__name__}: "
                f"{str(exc)[:200]}); check the address, that it runs, and its certificate"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            raise error_from_body(response.status_code, body)
        if not isinstance(body, dict) or "result" not in body:
            raise ConnectionFailed(f"{self.url} did not answer like a jwstnb archive service")
        return body["result"]

    def acquire(self) -> None:
        with self.lock:
            self.views += 1

    def release(self) -> None:
        with self.lock:
            self.views -= 1
            last = self.views <= 0
        if last:
            self._http.close()

    def close(self) -> None:
        self._http.close()


def _records(values: Iterable[Any]) -> list[JwstDataModel]:
    from jwstnb.schema import JwstDataModel

    return [JwstDataModel.model_validate(v) for v in values]


def _record(value: Any) -> JwstDataModel:
    from jwstnb.schema import JwstDataModel

    return JwstDataModel.model_validate(value)


def _maybe(value: Any) -> JwstDataModel | None:
    return None if value is None else _record(value)


# Criteria whose meaning the protocol's generic JSON would change (a wavelength Quantity
# goes as SI metres, a `regions` object as its text): read here by the criteria's own
# parsers and sent as the plain values they normalise to (STC-S; seconds; microns).
_NORMALISED = ("region", "exposure_time", "wavelength")


def _args(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in values.items():
        if k == "self":
            continue
        if k in _NORMALISED and v is not None:
            from jwstnb.criteria import Criteria

            v = getattr(Criteria.model_validate({k: v}), k)
        out[k] = jsonable(v)
    return out


def _id(record_id: Any) -> str:
    return str(record_id)


# --- the session ------------------------------------------------------------------------------


class RemoteSession:
    """The :class:`jwstnb.session.Session` API over the archive service.

    Same methods, arguments, answers and errors; the access rules are applied by the service
    for the identity its token proves. Views (:meth:`anonymous`; :meth:`as_user` and
    :meth:`as_admin` for admin tokens) share one HTTP client.
    """

    def __init__(self, transport: _Transport, scope: Scope, view: str | None) -> None:
        self._transport = transport
        self._scope = scope
        self._view_header = view
        self._closed = False
        transport.acquire()

    # --- identity and views -----------------------------------------------------------------

    @property
    def role(self) -> str:
        """``"anonymous"``, ``"user"`` or ``"admin"``, as the service proved it."""
        return self._scope.role

    @property
    def user(self) -> str | None:
        """The user id of a user session, else None."""
        return self._scope.user

    @property
    def scope(self) -> Scope:
        return self._scope

    @property
    def url(self) -> str:
        """The archive service's address."""
        return self._transport.url

    @property
    def client(self) -> Any:
        raise AccessDenied("a session over the archive service has no database client")

    @property
    def collection(self) -> Any:
        raise AccessDenied("a session over the archive service has no raw collection")

    def _view(self, scope: Scope, header: str | None) -> RemoteSession:
        return RemoteSession(self._transport, scope, header)

    def anonymous(self) -> RemoteSession:
        """A read-only view that sees public records only."""
        return self._view(Scope("anonymous"), "anonymous")

    def as_user(self, user: str) -> RemoteSession:
        """A view as ``user`` (admin tokens only: the service refuses others)."""
        name = validate_user(user)
        self.require_admin("acting as another user")
        return self._view(Scope("user", name), f"user:{name}")

    def as_admin(self) -> RemoteSession:
        """A view that reads and changes everything (admin tokens only)."""
        self.require_admin("an admin view")
        return self._view(Scope("admin"), None)

    def require_admin(self, what: str) -> None:
        """AccessDenied unless the token is an admin's."""
        if self.role != "admin":
            raise AccessDenied(f"{what} is admin work; this session is not an admin's")

    def close(self) -> None:
        """Close this view; the HTTP client closes with the last open view."""
        if not self._closed:
            self._closed = True
            self._transport.release()

    def __enter__(self) -> RemoteSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        who = f" user={self.user!r}" if self.user else ""
        return f"<jwstnb.Session role={self.role}{who} on archive service {self.url}>"

    __str__ = __repr__

    def _call(self, method: str, **arguments: Any) -> Any:
        return self._transport.call(method, _args(arguments), self._view_header)

    # --- reads ------------------------------------------------------------------------------

    def get(self, record_id: Any) -> JwstDataModel:
        """The record with this id; :class:`NotFound` if it does not exist or is not readable."""
        return _record(self._call("get", record_id=_id(record_id)))

    def search(
        self,
        text: str | None = None,
        data_type: Any = None,
        processing_level: Any = None,
        instrument: Any = None,
        filter: Any = None,
        target_name: Any = None,
        status: Any = None,
        tags: Any = None,
        date_from: Any = None,
        date_to: Any = None,
        observed_from: Any = None,
        observed_to: Any = None,
        program: Any = None,
        proposal_pi: Any = None,
        position: Any = None,
        radius: Any = 0.0,
        region: Any = None,
        intersect: str = "overlaps",
        exposure_time: Any = None,
        wavelength: Any = None,
        calib_level: Any = None,
        exclude_data_type: Any = None,
        exclude_processing_level: Any = None,
        exclude_instrument: Any = None,
        exclude_filter: Any = None,
        exclude_target_name: Any = None,
        exclude_status: Any = None,
        exclude_program: Any = None,
        is_public: bool | None = None,
        include_archived: bool = False,
        observation_base_id: str | None = None,
        cal_ver: Any = None,
        crds_context: Any = None,
        made_before_context: Any = None,
        page: int = 1,
        page_size: int = 20,
        sort: str = "uploadDate",
        descending: bool = True,
    ) -> Page:
        """One page of readable records, the total and the facets (see Session.search)."""
        given = {k: v for k, v in locals().items() if k != "self"}
        from jwstnb.session.results import Page

        answer = self._call("search", **_given(given, RemoteSession.search))
        return Page(
            items=_records(answer["items"]),
            total=int(answer["total"]),
            page=int(answer["page"]),
            page_size=int(answer["page_size"]),
            pages=int(answer["pages"]),
            facets=answer.get("facets") or {},
            skipped=list(answer.get("skipped") or []),
        )

    def items(self, **criteria: Any) -> list[JwstDataModel]:
        """Only the page of items of :meth:`search` (same arguments): no counting."""
        return _records(self._call("items", **criteria))

    def counts(self, *, max_time_ms: int | None = None, **criteria: Any) -> Counts:
        """Total and facet counts of :meth:`search` (same arguments), without the items."""
        from jwstnb.session.results import Counts

        if max_time_ms is not None:
            criteria["max_time_ms"] = max_time_ms
        answer = self._call("counts", **criteria)
        return Counts(int(answer["total"]), answer.get("facets") or {})

    def count(self, **criteria: Any) -> int:
        """How many readable records match (same arguments as :meth:`search`)."""
        return int(self._call("count", **criteria))

    def table(
        self,
        limit: int | None = None,
        batch: int = 500,
        *,
        schema: str = "default",
        access_url: Any = None,
        **criteria: Any,
    ) -> Table:
        """Every matching record (or the first ``limit``) as one astropy Table, read in pages
        (``schema="obscore"``: ObsCore columns first, see Session.table)."""
        from jwstnb.session.results import records_table

        return records_table(
            self._every(criteria, limit, batch), schema=schema, access_url=access_url
        )

    def coverage(self, max_order: int = 10, **criteria: Any) -> Any:
        """A MOC of the footprints (else centres) of every readable matching record."""
        from jwstnb.interop.moc import coverage

        return coverage(self._every(criteria, None, 500), max_order)

    def _every(
        self, criteria: dict[str, Any], limit: int | None, batch: int
    ) -> list[JwstDataModel]:
        records: list[JwstDataModel] = []
        page = 1
        while limit is None or len(records) < limit:
            chunk = self.items(**{**criteria, "page": page, "page_size": batch})
            records.extend(chunk)
            if len(chunk) < batch:
                break
            page += 1
        return records[:limit] if limit is not None else records

    def lineage(self, observation_base_id: str) -> Lineage:
        """The readable files of one observation as a Lineage tree (see Session.lineage)."""
        from jwstnb.lineage import build_lineage

        answer = self._call("lineage", observation_base_id=observation_base_id)
        return build_lineage(observation_base_id, _records(answer["records"]))

    def observations(self) -> list[str]:
        """Every observation base id with at least one readable record, sorted."""
        return [str(g) for g in self._call("observations")]

    def statistics(self) -> dict[str, Any]:
        """Counts over everything this session may read (see Session.statistics)."""
        stats = dict(self._call("statistics"))
        for name in ("first_upload", "last_upload"):
            if isinstance(stats.get(name), str):
                stats[name] = datetime.fromisoformat(stats[name])
        return stats

    def target_position(self, name: str) -> tuple[float, float] | None:
        """A readable record's (ra, dec) for target ``name``, else None."""
        found = self._call("target_position", name=name)
        return None if found is None else (float(found[0]), float(found[1]))

    def explain(self, operation: str = "search", **arguments: Any) -> dict[str, Any]:
        """How the service's database plans a read (admin tokens only; no raw plan)."""
        return dict(self._call("explain", operation=operation, arguments=arguments))

    def explain_search(self, **criteria: Any) -> dict[str, Any]:
        """:meth:`explain` of :meth:`search` with these arguments."""
        return self.explain("search", **criteria)

    # --- writes -----------------------------------------------------------------------------

    def insert(self, model: JwstDataModel | Mapping[str, Any]) -> str:
        """Store a new record; returns its id. A user's record is owned by that user."""
        return str(self._call("insert", record=_model_json(model)))

    def upsert(self, model: JwstDataModel | Mapping[str, Any]) -> tuple[str, bool]:
        """Insert, or update the record with the same owner and file path: (id, created)."""
        rid, created = self._call("upsert", record=_model_json(model))
        return str(rid), bool(created)

    def update(self, record_id: Any, **fields: Any) -> JwstDataModel:
        """Change fields of a record this session may change (see Session.update)."""
        return _record(self._call("update", record_id=_id(record_id), fields=fields))

    def delete(self, record_id: Any) -> None:
        """Delete a record this session may change."""
        self._call("delete", record_id=_id(record_id))

    def set_status(self, record_id: Any, new_status: str) -> JwstDataModel:
        """Move the processing status, atomically (see Session.set_status)."""
        return _record(self._call("set_status", record_id=_id(record_id), status=new_status))

    def claim(
        self, record_id: Any, worker: str, lease_seconds: float = 300.0
    ) -> JwstDataModel | None:
        """Take one record for processing with a lease (None when another worker won)."""
        return _maybe(self._call("claim", record_id=_id(record_id), worker=worker,
                                 lease_seconds=lease_seconds))

    def renew(self, record_id: Any, worker: str, lease_seconds: float = 300.0) -> bool:
        """Extend ``worker``'s lease on a record it still holds; False if it lost it."""
        return bool(self._call("renew", record_id=_id(record_id), worker=worker,
                               lease_seconds=lease_seconds))

    def finish(
        self,
        record_id: Any,
        worker: str,
        status: str,
        result: ProcessingResult | Mapping[str, Any] | None = None,
    ) -> JwstDataModel | None:
        """End ``worker``'s claim as completed or failed, with its result, once."""
        return _maybe(self._call("finish", record_id=_id(record_id), worker=worker,
                                 status=status, result=result))

    def finish_many(
        self,
        worker: str,
        finishes: Sequence[tuple[Any, str, ProcessingResult | Mapping[str, Any]]],
    ) -> list[str]:
        """End many of ``worker``'s claims, each ``(record id, status, result)``, in one call:
        the ids finished (see Session.finish_many)."""
        items = [
            {"record_id": _id(record_id), "status": status, "result": result}
            for record_id, status, result in finishes
        ]
        return [str(rid) for rid in self._call("finish_many", worker=worker, finishes=items)]

    def release_expired(self) -> int:
        """Return records whose worker's lease expired to pending (admin work)."""
        return int(self._call("release_expired"))

    def add_result(
        self, record_id: Any, result: ProcessingResult | Mapping[str, Any]
    ) -> JwstDataModel:
        """Append a processing result to a record this session may change."""
        return _record(self._call("add_result", record_id=_id(record_id), result=result))

    def archive(self, record_id: Any) -> JwstDataModel:
        """Hide a record from search (``include_archived=True`` shows it)."""
        return _record(self._call("archive", record_id=_id(record_id)))

    def unarchive(self, record_id: Any) -> JwstDataModel:
        """Bring an archived record back into search."""
        return _record(self._call("unarchive", record_id=_id(record_id)))

    def share(
        self, record_id: Any, *users: str, group: str | None = None, role: str = "viewer"
    ) -> JwstDataModel:
        """Let ``users`` (and ``group``, with ``role`` viewer or editor) read a record."""
        return _record(self._call("share", record_id=_id(record_id), users=list(users),
                                  group=group, role=role))

    def unshare(self, record_id: Any, *users: str, group: str | None = None) -> JwstDataModel:
        """Take ``users`` (and ``group``) off a record's readers."""
        return _record(self._call("unshare", record_id=_id(record_id), users=list(users),
                                  group=group))

    def bulk_tags(self, ids: Iterable[Any], add: Sequence[str] = (),
                  remove: Sequence[str] = ()) -> int:
        """Add and remove tags on many records; how many records changed."""
        return int(self._call("bulk_tags", ids=[_id(i) for i in ids], add=list(add),
                              remove=list(remove)))

    def groups(self) -> dict[str, list[str]]:
        """Every group and its members (admin); a user sees the groups they belong to."""
        return {str(k): [str(u) for u in v] for k, v in self._call("groups").items()}

    def add_to_group(self, group: str, *users: str) -> list[str]:
        """Put ``users`` in ``group`` (admin work); returns the members."""
        return [str(u) for u in self._call("add_to_group", group=group, users=list(users))]

    def remove_from_group(self, group: str, *users: str) -> list[str]:
        """Take ``users`` out of ``group`` (admin work); returns the members left."""
        return [str(u) for u in self._call("remove_from_group", group=group,
                                           users=list(users))]

    def sign(self, key: str) -> dict[str, Any]:
        """A short-lived URL for the file of a readable record: ``{url, size, version,
        expires}`` (what :class:`RemoteStorage` reads through)."""
        return dict(self._call("sign", key=key))


def _given(values: Mapping[str, Any], func: Any) -> dict[str, Any]:
    """Only the arguments that differ from ``func``'s defaults (smaller requests)."""
    import inspect

    params = inspect.signature(func).parameters
    return {
        k: v for k, v in values.items()
        if k not in params or params[k].default is inspect.Parameter.empty
        or not _same(v, params[k].default)
    }


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


def _model_json(model: Any) -> Any:
    from jwstnb.schema import JwstDataModel

    if isinstance(model, Mapping):
        model = JwstDataModel.model_validate(dict(model))
    return model.model_dump(mode="json", by_alias=True)


# --- storage --------------------------------------------------------------------------------


@dataclass
class _Signed:
    url: str
    size: int
    version: str
    expires: float


class _ServiceMount:
    """The one mount of a :class:`RemoteStorage`: files reached through signed URLs."""

    prefix = ""
    root = ""
    real_root = None
    secrets: tuple[str, ...] = ()
    option_names: tuple[str, ...] = ()
    is_local = False
    remote = True
    read_only = True
    thumbs_writable = False
    protocol = "https"
    protocols = ("https", "http")

    def __init__(self, url: str, fs: Any) -> None:
        self.url = url
        self.fs = fs

    @property
    def display(self) -> str:
        return self.url

    def path(self, rel: str, key: str) -> str:
        raise AccessDenied("files of the archive service are reached through signed URLs")


class RemoteStorage(Storage):
    """A :class:`jwstnb.storage.Storage` reading the archive service's files.

    Each key is read through a URL the service signs for this session (when the session
    may read a record stored under it), with the usual lazy small-block reads, cutouts and
    thumbnails (cached locally per file version). Writing and listing are the service's
    work: they raise :class:`AccessDenied`.
    """

    def __init__(self, session: RemoteSession | None = None, **options: Any) -> None:
        """``session``: the RemoteSession whose identity signs the URLs; None connects one
        from the configuration (:func:`connect_service`), for ``Storage()`` in service mode."""
        if session is None:
            session = connect_service()
        super().__init__({"": "memory://jwstnb-service/"}, **options)
        from fsspec.implementations.http import HTTPFileSystem

        verify = session._transport.verify
        http_options: dict[str, Any] = {"encoded": True, "skip_instance_cache": True}
        if verify is False or not isinstance(verify, bool):
            http_options["ssl"] = verify
        self._session = session
        self._mount = _ServiceMount(session.url, HTTPFileSystem(**http_options))
        self._mounts = [self._mount]  # type: ignore[list-item]
        self._secrets = ()
        self._signed: dict[str, _Signed] = {}
        self._sign_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteStorage({self._session.url!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a RemoteStorage is bound to its session; make one in each process")

    def _signed_url(self, key: str) -> _Signed:
        from jwstnb.keys import validate_key

        validate_key(key)
        with self._sign_lock:
            entry = self._signed.get(key)
        if entry is None or entry.expires - 30 < time.time():
            answer = self._session.sign(key)
            entry = _Signed(str(answer["url"]), int(answer["size"]), str(answer["version"]),
                            float(answer["expires"]))
            with self._sign_lock:
                self._signed[key] = entry
        return entry

    def _where(self, key: str) -> Any:
        from jwstnb.storage._mounts import _Where

        entry = self._signed_url(key)
        return _Where(key, cast(Any, self._mount), key, entry.url)

    def _resolve(self, target: Any) -> Any:
        """A key, or a record: a record whose file the service does not hold but the public
        JWST bucket does (``metadata["cloud_uri"]``) is read anonymously from the bucket."""
        if isinstance(target, str) or not hasattr(target, "file_path"):
            return self._where(target)
        if not target.file_path:
            raise invalid("file_path", "this record names no file", None)
        from jwstnb.errors import StorageFileNotFound
        from jwstnb.storage._mounts import _cloud_rel, _Where

        try:
            return self._where(target.file_path)
        except StorageFileNotFound:
            cloud = _cloud_rel(getattr(target, "metadata", None))
            if cloud is None:
                raise
        public = self._public_mount()
        return _Where(target.file_path, public, cloud, public.path(cloud, target.file_path))

    def _signed_where(self, where: Any) -> bool:
        return where.mount is self._mount

    def _info(self, where: Any) -> dict[str, Any]:
        if not self._signed_where(where):
            return dict(super()._info(where))
        entry = self._signed_url(where.key)
        return {"name": where.key, "size": entry.size, "ETag": entry.version, "type": "file"}

    def _open_binary(self, where: Any, size: int | None = None) -> Any:
        if self._signed_where(where):
            size = size or self._signed_url(where.key).size
        return super()._open_binary(where, size=size)

    def file_version(self, key: Any) -> str:
        """The version of the file (changes when the file is rewritten)."""
        where = self._resolve(key)
        if not self._signed_where(where):
            return str(super().file_version(key))
        return self._signed_url(where.key).version

    def exists(self, key: str) -> bool:
        """True if a readable record's file exists under ``key``."""
        from jwstnb.errors import NotFound

        try:
            self._signed_url(key)
        except NotFound:
            return False
        return True

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise AccessDenied(
            "files of the archive service are written and listed on the service host; search "
            "records to find them"
        )

    write_bytes = delete = sizes = list = files = file_versions = _refuse

    def open(self, key: Any, mode: str = "rb") -> Any:
        """Open a readable record's file for reading (writing is the service's work)."""
        if "w" in mode:
            self._refuse()
        return super().open(key, mode)


# Storage() in service mode is a RemoteStorage (the kernel holds no storage credential).
register_service_storage(RemoteStorage, lambda: service_url() is not None)
