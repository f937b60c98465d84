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

import os
import re
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from jwstnb.errors import ConnectionFailed

__all__ = [
    "CONFIG_ENV",
    "URI_ENV",
    "URI_FILE_ENV",
    "DevCredentialsWarning",
    "Resolved",
    "config_path",
    "credentials",
    "hosts",
    "load_config",
    "redact",
    "redact_text",
    "resolve",
    "warn_dev_credentials",
]

URI_ENV = "JWSTNB_MONGO_URI"
URI_FILE_ENV = "JWSTNB_MONGO_URI_FILE"
CONFIG_ENV = "JWSTNB_CONFIG"

Source = Literal["argument", "env", "env-file", "config-file", "local"]

# mongodb://user:password@host... or mongodb+srv://...: the userinfo part of the URI.
# user:password@ after any URL scheme (mongodb://, s3://, ftp://, https://, ...).
_USERINFO = re.compile(r"(?P<scheme>\b[a-z][\w+.-]*://)(?P<userinfo>[^@/?#\s]*)@", re.I)
# password=..., secret=..., token=..., access_key=... in query strings or free text.
_PASSWORD_PARAM = re.compile(
    r"(?P<key>\b(?:[\w-]*(?:password|passwd|secret|token|credential|signature"
    r"|access[_-]?key|api[_-]?key|private[_-]?key)[\w-]*|pwd|pass)\s*[=:]\s*)"
    r"(?P<value>[^&\s,;'\"}]+)",
    re.I,
)
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
        user, sep, _password = match.group("userinfo").partition(":")
        return f"{match.group('scheme')}{user}{':***' if sep else ''}@"

    text = _USERINFO.sub(_userinfo, uri)
    return _PASSWORD_PARAM.sub(lambda m: f"{m.group('key')}***", text)


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


def config_path(environ: dict[str, str] | None = None) -> Path:
    """The config file jwstnb reads: ``JWSTNB_CONFIG`` or ``<user config dir>/config.toml``."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("jwstnb", appauthor=False)) / "config.toml"


def load_config(path: Path | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
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


def resolve(uri: str | None = None, *, environ: dict[str, str] | None = None) -> Resolved:
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


def storage_url(environ: dict[str, str] | None = None) -> str:
    """The storage base URL: ``JWSTNB_STORAGE_URL``, else the ``storage`` folder under the
    jwstnb data home (``JWSTNB_HOME``), beside the embedded database.

    Like :func:`resolve` for the database: nothing to configure on a laptop, one variable to
    point a team at its bucket.
    """
    env = os.environ if environ is None else environ
    if env.get(STORAGE_ENV):
        return env[STORAGE_ENV]
    from jwstnb.localdb import data_home

    return (data_home() / "storage").resolve().as_uri()


def configured_uri(environ: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """``(uri, None)`` when a database is configured (env, URI file, config file),
    ``(None, None)`` when none is (the embedded server applies), or ``(None, problem)`` when
    the configuration itself is broken (a missing URI file...), the problem redacted."""
    try:
        return resolve(environ=environ).uri, None
    except Exception as exc:
        return None, redact(str(exc))

