"""Where jwstnb connects, and how secrets stay out of sight.

Connection resolution, first hit wins:

1. an explicit URI passed to :func:`jwstnb.connect`;
2. ``JWSTNB_MONGO_URI``;
3. ``JWSTNB_MONGO_URI_FILE`` (a file holding the URI, e.g. a mounted secret);
4. the config file: ``JWSTNB_CONFIG`` or ``<user config dir>/jwstnb/config.toml``, table
   ``[mongo]`` with ``uri`` or ``uri_file`` (and optionally ``database``, ``collection``);
5. the embedded local server (:mod:`jwstnb.localdb`).

Passwords never leave this module in clear text except inside the URI handed to pymongo:
:func:`redact` and :func:`redact_text` are used for every repr, log line and error message.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from jwstnb.errors import ConnectionFailed, InvalidStorageKey, StorageNotConfigured

__all__ = [
    "CONFIG_ENV",
    "PUBLISHER_AUTHORITY_ENV",
    "STORAGE_ENV",
    "URI_ENV",
    "URI_FILE_ENV",
    "DevCredentialsWarning",
    "Resolved",
    "add_mount",
    "config_path",
    "credentials",
    "hosts",
    "load_config",
    "mount_prefix",
    "publisher_authority",
    "redact",
    "redact_text",
    "resolve",
    "storage_mount_options",
    "storage_mounts",
    "storage_url",
    "warn_dev_credentials",
]

URI_ENV = "JWSTNB_MONGO_URI"
URI_FILE_ENV = "JWSTNB_MONGO_URI_FILE"
CONFIG_ENV = "JWSTNB_CONFIG"

Source = Literal["argument", "env", "env-file", "config-file", "local"]

# user:password@ (or a lone user or token@) after any URL scheme (mongodb://, s3://, https://).
_USERINFO = re.compile(r"(?P<scheme>\b[a-z][\w+.-]*://)(?P<userinfo>[^@/?#\s]*)@", re.I)
# password=..., secret=..., token=..., access_key=... in query strings or free text.
_PASSWORD_PARAM = re.compile(
    r"(?P<key>\b(?:[\w-]*(?:password|passwd|secret|token|credential|signature"
    r"|access[_-]?key|account[_-]?key|api[_-]?key|private[_-]?key|sas[_-]?key)[\w-]*"
    r"|pwd|pass|sig|auth)\s*[=:]\s*)"
    r"(?P<value>[^&\s,;'\"}]+)",
    re.I,
)
# Query parameters whose value is a secret only inside a URL query string (too common a word
# in free text to redact there): Azure SAS ``sig``, signed URLs' ``key``/``policy``/``code``.
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:sig|key|auth|policy|code|key-pair-id|x-amz-security-token|x-goog-signature"
    r"|googleaccessid|x-ms-[\w-]*(?:key|sig|token)[\w-]*)=)(?P<value>[^&#\s'\"]+)",
    re.I,
)
# ``Authorization: Bearer abc`` (or Basic/AWS4-HMAC-SHA256 ...) in a driver's error text.
_AUTH_HEADER = re.compile(r"(?P<key>authorization['\"]?\s*[:=]\s*['\"]?)(?P<value>[^'\"\n]+)", re.I)
# Schemes whose lone userinfo is a user name, not a credential (kept in messages).
_USER_SCHEMES = ("mongodb://", "mongodb+srv://")
# The seed's development-only credentials.
_DEV_CREDENTIALS = ("admin", "password")


class DevCredentialsWarning(UserWarning):
    """The URI uses the seed's development-only credentials (admin:password)."""


@dataclass(frozen=True)
class Resolved:
    """Where to connect: the URI (``None`` = start/reuse the embedded local server) and why.

    The URI is excluded from ``repr`` so a stray print or traceback never shows a password;
    ``display`` is the redacted form.
    """

    uri: str | None = field(repr=False)
    source: Source
    database: str | None = None
    collection: str | None = None
    origin: str = ""  # the env var or file that provided the URI, for error messages

    @property
    def display(self) -> str:
        """The URI with its password replaced by ``***`` (or "embedded local server")."""
        return "embedded local server" if self.uri is None else redact(self.uri)


def redact(uri: str) -> str:
    """``uri`` with any password or query-string secret replaced by ``***``.

    Works for every URL scheme (MongoDB URIs, storage URLs) and for free text holding them;
    user names, hosts and paths are kept so the message still says where.
    """

    def _userinfo(match: re.Match[str]) -> str:
        scheme = match.group("scheme")
        user, sep, _password = match.group("userinfo").partition(":")
        if sep:
            return f"{scheme}{user}:***@"
        # a lone userinfo is a user name in a MongoDB URI, but often a token elsewhere
        return f"{scheme}{user}@" if scheme.lower() in _USER_SCHEMES else f"{scheme}***@"

    def _value(match: re.Match[str]) -> str:
        return f"{match.group('key')}***"

    text = _USERINFO.sub(_userinfo, uri)
    text = _AUTH_HEADER.sub(_value, text)
    text = _QUERY_SECRET.sub(_value, text)
    return _PASSWORD_PARAM.sub(_value, text)


def redact_text(text: str, *secrets: str | None) -> str:
    """Free text (e.g. a driver's error message) with URIs and the given secrets redacted."""
    out = redact(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
    return out


def credentials(uri: str) -> tuple[str | None, str | None]:
    """The (user, password) written in a MongoDB URI, percent-decoded; (None, None) if none."""
    match = _USERINFO.search(uri)
    if not match:
        return None, None
    user, sep, password = match.group("userinfo").partition(":")
    return unquote(user) or None, (unquote(password) if sep else None)


def hosts(uri: str) -> str:
    """The host list of a MongoDB URI (``host1:27017,host2``) without credentials or options."""
    rest = uri.split("://", 1)[-1]
    if "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return re.split(r"[/?]", rest, maxsplit=1)[0] or "localhost"


def warn_dev_credentials(uri: str) -> bool:
    """Warn (once per call site) when ``uri`` uses the seed's ``admin:password``; True if so."""
    if credentials(uri) == _DEV_CREDENTIALS:
        warnings.warn(
            f"{redact(uri)} uses the development-only credentials admin:password from the "
            "original seed; create a real user with its own password before sharing this "
            "database.",
            DevCredentialsWarning,
            stacklevel=3,
        )
        return True
    return False


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The config file jwstnb reads: ``JWSTNB_CONFIG`` or ``<user config dir>/config.toml``."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("jwstnb", appauthor=False)) / "config.toml"


def load_config(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The parsed config file (TOML) as a dict; ``{}`` when there is none.

    A file named by ``JWSTNB_CONFIG`` that does not exist or does not parse is an error (the
    user asked for it); the default location may simply be absent.
    """
    explicit = path is not None or bool(
        (os.environ if environ is None else environ).get(CONFIG_ENV)
    )
    path = path or config_path(environ)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        if explicit:
            raise ConnectionFailed(
                f"config file {path} (from {CONFIG_ENV}) does not exist; fix the path or unset "
                f"{CONFIG_ENV}"
            ) from None
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConnectionFailed(f"cannot read config file {path}: {exc}") from None


def _read_uri_file(path: str, origin: str) -> str:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConnectionFailed(
            f"{origin} points to {path}, which cannot be read ({exc.strerror or exc}); check "
            "the path and its permissions"
        ) from None
    if not text:
        raise ConnectionFailed(
            f"{origin} points to {path}, which is empty; put the MongoDB URI in it"
        )
    return text


def resolve(uri: str | None = None, *, environ: Mapping[str, str] | None = None) -> Resolved:
    """Where to connect, in order: argument > env > env file > config file > local server."""
    env = os.environ if environ is None else environ
    problem: ConnectionFailed | None = None
    try:
        config = load_config(environ=env)
    except ConnectionFailed as exc:  # only fatal if the config file is where the URI comes from
        config, problem = {}, exc
    mongo = config.get("mongo", {}) if isinstance(config.get("mongo"), dict) else {}
    database = mongo.get("database") if isinstance(mongo.get("database"), str) else None
    collection = mongo.get("collection") if isinstance(mongo.get("collection"), str) else None

    def _done(value: str | None, source: Source, origin: str) -> Resolved:
        return Resolved(value, source, database, collection, origin)

    if uri:
        return _done(uri, "argument", "the uri argument")
    if env.get(URI_ENV):
        return _done(env[URI_ENV].strip(), "env", URI_ENV)
    if env.get(URI_FILE_ENV):
        return _done(_read_uri_file(env[URI_FILE_ENV], URI_FILE_ENV), "env-file", URI_FILE_ENV)
    if problem is not None:
        raise problem
    where = str(config_path(env))
    if isinstance(mongo.get("uri"), str) and mongo["uri"].strip():
        return _done(mongo["uri"].strip(), "config-file", f"[mongo] uri in {where}")
    if isinstance(mongo.get("uri_file"), str) and mongo["uri_file"].strip():
        origin = f"[mongo] uri_file in {where}"
        return _done(_read_uri_file(mongo["uri_file"], origin), "config-file", origin)
    return _done(None, "local", "no URI configured")


STORAGE_ENV = "JWSTNB_STORAGE_URL"


def _storage_table(environ: Mapping[str, str] | None, *, strict: bool) -> dict[str, Any]:
    """The config file's ``[storage]`` table (``{}`` if none; a broken file raises when
    ``strict``, else counts as empty so status displays keep working)."""
    try:
        config = load_config(environ=environ)
    except ConnectionFailed as exc:
        if strict:
            raise StorageNotConfigured(str(exc)) from None
        return {}
    table = config.get("storage", {})
    return table if isinstance(table, dict) else {}


def storage_url(environ: Mapping[str, str] | None = None) -> str:
    """The default mount's URL: ``JWSTNB_STORAGE_URL``, else ``url`` in the config file's
    ``[storage]`` table, else the ``storage`` folder under the jwstnb data home
    (``JWSTNB_HOME``), beside the embedded database.

    Like :func:`resolve` for the database: nothing to configure on a laptop, one variable to
    point a team at its bucket.
    """
    env = os.environ if environ is None else environ
    if env.get(STORAGE_ENV):
        return env[STORAGE_ENV]
    url = _storage_table(env, strict=False).get("url")
    if isinstance(url, str) and url.strip():
        return url.strip()
    from jwstnb.localdb import data_home

    return (data_home() / "storage").resolve().as_uri()


def mount_prefix(name: str) -> str:
    """The key prefix (``name/``) of a named mount; InvalidStorageKey unless ``name`` is one
    valid key segment (no ``/``, not the reserved ``.jwstnb``)."""
    from jwstnb.keys import RESERVED_PREFIX, validate_key

    if not isinstance(name, str) or "/" in name:
        raise InvalidStorageKey(
            f"mount name {name!r} must be one storage-key segment (letters, digits, '-', '_', "
            "'.'; no '/')"
        )
    validate_key(name)
    if name + "/" == RESERVED_PREFIX:
        raise InvalidStorageKey(f"mount name {name!r} is reserved for jwstnb's own files")
    return name + "/"


def _mount_entries(environ: Mapping[str, str] | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """``[storage.mounts]`` of the config file: prefix -> (url, fsspec options).

    An entry is ``name = "url"`` or ``name = { url = "...", endpoint_url = "...", ... }``.
    """
    table = _storage_table(environ, strict=True).get("mounts", {})
    if not isinstance(table, dict):
        raise StorageNotConfigured(
            f"[storage.mounts] in {config_path(environ)} must be a table of name = \"url\""
        )
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, entry in table.items():
        options = dict(entry) if isinstance(entry, dict) else {}
        url = options.pop("url", None) if isinstance(entry, dict) else entry
        if not isinstance(url, str) or not url.strip():
            raise StorageNotConfigured(
                f"mount {name!r} in {config_path(environ)} has no URL; write {name} = \"url\""
            )
        out[mount_prefix(name)] = (url.strip(), options)
    return out


def storage_mounts(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every configured mount, key prefix -> URL: the default mount ``""`` (see
    :func:`storage_url`) and the config file's ``[storage.mounts]`` (``name`` -> ``name/``)."""
    mounts = {"": storage_url(environ)}
    mounts.update({prefix: url for prefix, (url, _opts) in _mount_entries(environ).items()})
    return mounts


def storage_mount_options(environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """fsspec options of the config file's mounts, key prefix -> options (only those with)."""
    return {prefix: opts for prefix, (_url, opts) in _mount_entries(environ).items() if opts}


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)  # a JSON string or number is a valid TOML one
    raise StorageNotConfigured(
        f"mount option values must be strings, numbers or booleans, not {type(value).__name__}"
    )


def add_mount(
    name: str,
    url: str,
    *,
    options: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Persist the mount ``name/`` -> ``url`` in the config file (created 0600, replaced
    atomically), so every later ``Storage()`` opens keys under ``name/`` from ``url``.

    Adding the same mount again does nothing. Refused (StorageNotConfigured): a name already
    mounted to another URL, or a URL already mounted under another name (one file, one key).
    InvalidStorageKey: a name that is not one key segment.
    """
    prefix = mount_prefix(name)
    if not isinstance(url, str) or not url.strip():
        raise StorageNotConfigured(f"mount {name!r} needs a URL (file:///..., s3://...)")
    url = url.strip()
    if "://" not in url:
        url = Path(url).expanduser().resolve().as_uri()
    path = config_path(environ)
    current = storage_mounts(environ) if path.exists() else {"": storage_url(environ)}
    if prefix in current:
        if _same_url(current[prefix], url):
            return
        raise StorageNotConfigured(
            f"mount {name!r} already points to {redact(current[prefix])} in {path}; choose "
            "another name, or edit that file to move it"
        )
    for other, other_url in current.items():
        if _same_url(other_url, url):
            where = f"mount {other[:-1]!r}" if other else "the default mount"
            raise StorageNotConfigured(
                f"{redact(url)} is already {where} (keys {other or '<any>'}...); use those keys "
                "instead of mounting it twice"
            )
    new, line = _with_mount_line(path, name, url, options)
    try:
        parsed = tomllib.loads(new)["storage"]["mounts"][name]
    except (tomllib.TOMLDecodeError, KeyError, TypeError):
        parsed = None
    written = parsed.get("url") if isinstance(parsed, dict) else parsed
    if written != url:
        raise StorageNotConfigured(
            f"cannot add the mount to {path} automatically (its [storage] table is written in "
            f"another form); add this line under [storage.mounts] by hand: {redact(line.strip())}"
        )
    _write_private(path, new)


def _with_mount_line(
    path: Path, name: str, url: str, options: Mapping[str, Any] | None
) -> tuple[str, str]:
    """The config file's text with the mount's line under ``[storage.mounts]`` (the table
    made at the end when there is none), and that line."""
    entry = _toml_value(url)
    if options:
        pairs = [f"url = {entry}"] + [f"{k} = {_toml_value(v)}" for k, v in options.items()]
        entry = "{ " + ", ".join(pairs) + " }"
    bare = re.fullmatch(r"[A-Za-z0-9_-]+", name) is not None
    line = f"{name if bare else _toml_value(name)} = {entry}\n"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    header = re.search(r"^[ \t]*\[[ \t]*storage[ \t]*\.[ \t]*mounts[ \t]*\][^\n]*\n?", text, re.M)
    if header:
        at = header.end()
        prefix_text = text[:at] if text[:at].endswith("\n") else text[:at] + "\n"
        return prefix_text + line + text[at:], line
    sep = "\n" if text and not text.endswith("\n") else ""
    return f"{text}{sep}\n[storage.mounts]\n{line}", line



def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 (folders 0700 when created)."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def configured_uri(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """``(uri, None)`` when a database is configured (env, URI file, config file),
    ``(None, None)`` when none is (the embedded server applies), or ``(None, problem)`` when
    the configuration itself is broken (a missing URI file...), the problem redacted."""
    try:
        return resolve(environ=environ).uri, None
    except Exception as exc:
        return None, redact(str(exc))



PUBLISHER_AUTHORITY_ENV = "JWSTNB_PUBLISHER_AUTHORITY"
#: The IVOA authority used when none is configured: names records of this installation only.
DEFAULT_PUBLISHER_AUTHORITY = "jwstnb.local"
_AUTHORITY = re.compile(r"[A-Za-z0-9][\w.~*()-]{2,}")


def publisher_authority(environ: Mapping[str, str] | None = None) -> str:
    """The IVOA authority in ObsCore's ``obs_publisher_did`` (``ivo://{authority}/{id}``).

    ``JWSTNB_PUBLISHER_AUTHORITY``, else ``authority`` in the config file's ``[publisher]``
    table, else ``jwstnb.local``. A team that registers its archive sets its registered
    authority here so the identifiers it hands out resolve. A malformed authority (fewer than
    three characters, or a ``/``) is a ``ValidationError`` (a ValueError) naming the setting.
    """
    env = os.environ if environ is None else environ
    value: Any = env.get(PUBLISHER_AUTHORITY_ENV)
    origin = PUBLISHER_AUTHORITY_ENV
    if not value:
        try:
            table = load_config(environ=env).get("publisher", {})
        except ConnectionFailed:
            table = {}
        value = table.get("authority") if isinstance(table, dict) else None
        origin = f"[publisher] authority in {config_path(env)}"
    if not value:
        return DEFAULT_PUBLISHER_AUTHORITY
    authority = str(value).strip().removeprefix("ivo://").strip("/")
    if not _AUTHORITY.fullmatch(authority):
        from jwstnb.errors import invalid

        raise invalid(
            "publisher_authority",
            f"{origin} is not an IVOA authority (at least three characters: letters, digits, "
            "'.', '-', '_', '~'; no '/'), e.g. archive.team.org",
            authority,
        )
    return authority
