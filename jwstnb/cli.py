"""The ``jwstnb`` command: a thin layer over the library for things people do from a shell.

    jwstnb demo [--no-browser]        seed the sample data and open JupyterLab on the tutorials
    jwstnb seed                       write the synthetic sample to storage and import it
    jwstnb scan URL [--mount NAME]    import every file under a storage URL
    jwstnb import-mast FILE           import saved MAST observation/product rows (JSON)
    jwstnb export URL / restore URL   back up / restore the collection (extended JSON lines)
    jwstnb asn GROUP --kind image3 [-o FILE]    write a pipeline association of a group
    jwstnb table OUT [--region ...]   write what a search (or a --targets list) finds to a table
    jwstnb db start|stop|status|reset-password    the embedded local database
    jwstnb doctor                     check Python, packages, database and storage; say what to fix
    jwstnb doctor --recount           count every record again; repair the counts summary
    jwstnb serve [--certfile ...]     run the archive service for a team (docs/deploy.md)
    jwstnb token add|list|revoke USER the service's bearer tokens (a new one is printed once)

Global options (before or after the command): ``--uri`` (the database, else
``JWSTNB_MONGO_URI``, else the embedded local database), ``--storage`` (else
``JWSTNB_STORAGE_URL``, else a folder under ``JWSTNB_HOME``), ``--database``. They are put into
the environment first, so every library call (and JupyterLab's kernels in ``demo``) sees them.

Each command is one library call and prints the library's own report. Every failure is one
line on stderr, made by :func:`error_line` (the one place that maps exceptions to messages),
with a non-zero exit status and no traceback (``JWSTNB_DEBUG=1`` shows it). Warnings raised
while a command runs (astropy's included) are collected and printed after its report.
Passwords and other secrets are never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote, urlsplit

from jwstnb.config import (
    STORAGE_ENV,
    URI_ENV,
    configured_uri,
    credentials,
    redact,
    redact_text,
    storage_url,
)
from jwstnb.localdb import data_home

if TYPE_CHECKING:
    from jwstnb.session import Session
    from jwstnb.storage import Storage

MIN_PYTHON = (3, 11)
DEBUG_ENV = "JWSTNB_DEBUG"
#: how long ``doctor`` waits for a database or a bucket before calling it unreachable
DOCTOR_TIMEOUT = 3.0
#: the folder under JWSTNB_HOME where ``demo`` keeps its working copy of the tutorials
TUTORIALS_DIR = "tutorials"
_MANIFEST = ".jwstnb-tutorials.json"
_MAX_LINE = 500

# Optional packages and the extra that installs each (for "X is not installed" lines).
EXTRAS = {
    "s3fs": "s3",
    "secantus": "local",
    "jupyterlab": "jupyter",
    "jupyter_server": "jupyter",
    "astroquery": "mast",
    "dask": "dask",
    "distributed": "dask",
    "pandas": "pandas",
}


class CliError(Exception):
    """A problem the user can fix, found by the CLI itself; printed as one line, exit 1."""


# --------------------------------------------------------------------------- failures


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


def _validation_line(exc: Any, command: str) -> str:
    """A pydantic ValidationError as ``line N: field: problem`` (the first error, and a count)."""
    errors = exc.errors(include_url=False)
    if not errors:
        return "invalid input"
    first = errors[0]
    loc = list(first.get("loc") or ())
    parts: list[str] = []
    for i, part in enumerate(loc):
        if i == 0 and isinstance(part, int) and command == "restore":
            parts.append(f"line {part}")
        elif part != "line" or len(loc) > 1:
            parts.append(str(part))
    text = ": ".join([*parts, str(first.get("msg", "invalid"))])
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return text


def _storage_line(exc: BaseException) -> str:
    """A storage back end's own error (botocore, aiohttp, s3fs) as what failed + what to do."""
    name = type(exc).__name__
    text = str(exc) or name
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return (
            "no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
            "AWS_PROFILE), or give anon=True for a public bucket"
        )
    if "NoSuchBucket" in text or "bucket does not exist" in text.lower():
        return f"storage: the bucket does not exist ({text}); check the URL"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError"):
        return f"storage: cannot reach the S3 endpoint ({text}); check the network and the URL"
    return f"storage failed: {name}: {text}; check the storage URL and its credentials"


def error_line(exc: BaseException, command: str = "", sources: Sequence[str | None] = ()) -> str:
    """The one line the CLI prints for ``exc``: what failed and what to do, secrets removed
    (URIs redacted, and the passwords written in the URLs ``sources`` the user gave).

    The one place where exceptions become messages: library errors carry their own
    (``jwstnb.errors``); pydantic's are ``field: problem``; back-end and OS errors get a hint.
    """
    from jwstnb.errors import ConnectionFailed, JwstnbError, StorageError

    module = type(exc).__module__.split(".")[0]
    doctor = " (see `jwstnb doctor`)" if command not in ("", "doctor") else ""
    if isinstance(exc, CliError):
        text = str(exc)
    elif module.startswith("pydantic") and hasattr(exc, "errors"):
        text = _validation_line(exc, command)
    elif isinstance(exc, ConnectionFailed | StorageError):
        text = f"{exc}{doctor}"
    elif isinstance(exc, JwstnbError):
        text = str(exc) or type(exc).__name__
    elif isinstance(exc, ModuleNotFoundError) and not (exc.name or "").startswith("jwstnb"):
        missing = (exc.name or "").split(".")[0]
        extra = EXTRAS.get(missing)
        fix = f"pip install 'jwstnb[{extra}]'" if extra else f"pip install {missing or 'jwstnb'}"
        text = f"{missing or exc} is not installed: {fix}"
    elif module in ("botocore", "aiobotocore", "boto3", "aiohttp", "s3fs"):
        text = _storage_line(exc)
    elif module in ("pymongo", "bson"):
        text = f"database error: {type(exc).__name__}: {exc}{doctor}"
    elif isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError):
        where = exc.filename if getattr(exc, "filename", None) else exc
        text = f"{exc.strerror or 'not found'}: {where}; check the path"
    elif isinstance(exc, PermissionError):
        where = exc.filename if getattr(exc, "filename", None) else exc
        text = f"permission denied: {where}; check the path and its permissions"
    elif isinstance(exc, OSError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = (
            f"unexpected {type(exc).__name__}: {exc} (run again with {DEBUG_ENV}=1 to see "
            "where, and report it)"
        )
    found = [credentials(source)[1] for source in sources if source]
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        found.append(os.environ.get(name))
    prefix = f"jwstnb {command}: " if command else "jwstnb: "
    return prefix + _one_line(redact_text(text, *[s for s in found if s and len(s) >= 4]))


# --------------------------------------------------------------------------- warnings


class _Collect(logging.Handler):
    """Log records of WARNING and above, kept as text for the command's report."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@contextlib.contextmanager
def collected_warnings() -> Iterator[list[str]]:
    """Collect warnings (Python's, astropy's, WARNING log records) instead of printing them,
    so they never land inside a progress bar; the list is filled when the block ends."""
    found: list[str] = []
    with contextlib.suppress(Exception):
        # astropy routes its warnings to its logger (printed at once); take them back.
        from astropy import log

        if log.warnings_logging_enabled():
            log.disable_warnings_logging()
    handler = _Collect(found)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            yield found
    finally:
        root.removeHandler(handler)
        found[:0] = [f"{w.category.__name__}: {w.message}" for w in caught]


def _print_warnings(*groups: Sequence[str]) -> None:
    counts: dict[str, int] = {}
    for group in groups:
        for text in group:
            key = _one_line(redact(str(text)))
            counts[key] = counts.get(key, 0) + 1
    for text, n in counts.items():
        _out(f"  warning: {text}" + (f" (x{n})" if n > 1 else ""))


# --------------------------------------------------------------------------- pure helpers


def has_module(name: str) -> bool:
    """True when ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def lab_command(notebooks: Path, *, no_browser: bool, port: int | None, is_root: bool) -> list[str]:
    """The ``jupyter lab`` command line for ``jwstnb demo`` (pure, so it can be tested)."""
    cmd = [sys.executable, "-m", "jupyterlab", str(notebooks)]
    if is_root:
        cmd.append("--allow-root")
    if no_browser:
        cmd.append("--no-browser")
    if port:
        cmd.append(f"--port={port}")
    return cmd


def local_path(url: str) -> Path | None:
    """The local path of a ``file://`` URL or a plain path; ``None`` for remote URLs."""
    if "://" not in url:
        return Path(url).expanduser()
    parts = urlsplit(url)
    if parts.scheme.lower() in ("file", "local"):
        return Path(unquote(parts.netloc + parts.path))
    return None


def check_parent(url: str, *, create: bool) -> None:
    """Refuse (or, when asked, create) a missing folder for a local output ``url``.

    fsspec creates every missing folder of an output path; a typo would then make folders
    anywhere (even at the filesystem root). Remote URLs have no folders to make.
    """
    path = local_path(url)
    if path is None or path.parent.is_dir():
        return
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    raise CliError(
        f"folder {path.parent} does not exist: create it first, or pass --parents to create it"
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare_tutorials(source: Path, target: Path) -> list[str]:
    """Copy the tutorial notebooks from ``source`` into the working folder ``target``.

    JupyterLab saves the notebooks it runs, so the demo opens copies and the tracked ones
    stay clean. A copy the user has changed is kept (and named in the returned notes); one
    they have not touched is refreshed when its tutorial changed.
    """
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = target / _MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    notes: list[str] = []
    for notebook in sorted(source.glob("*.ipynb")):
        copy = target / notebook.name
        wanted = _digest(notebook)
        if copy.exists():
            current = _digest(copy)
            if current == wanted:
                manifest[notebook.name] = wanted
                continue
            if current != manifest.get(notebook.name):
                notes.append(
                    f"kept your changed copy of {notebook.name} (delete {copy} for the current one)"
                )
                continue
        shutil.copyfile(notebook, copy)
        manifest[notebook.name] = wanted
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return notes


# --------------------------------------------------------------------------- wiring


def _session(args: argparse.Namespace, **options: Any) -> Session:
    """An admin session: every CLI command is the operator's own work (imports, backups)."""
    from jwstnb.session import connect

    if args.database:
        options["database"] = args.database
    return connect(args.uri or None, admin=True, **options)


def _storage(args: argparse.Namespace) -> Storage:
    from jwstnb.storage import Storage

    return Storage(args.storage or None)


def _out(msg: str) -> None:
    print(msg, flush=True)


def _progress(args: argparse.Namespace) -> bool:
    """A progress bar only for a person watching: not with --quiet, not into a log or pipe."""
    return not args.quiet and sys.stderr.isatty()


def _report(what: str, report: Any) -> int:
    """Print a library report (its own string) and its warnings; 1 when anything failed."""
    _out(f"{what}: {report}")
    _print_warnings(getattr(report, "warnings", None) or [])
    return 1 if getattr(report, "failed", None) else 0


# --------------------------------------------------------------------------- commands


def cmd_seed(args: argparse.Namespace) -> int:
    from jwstnb import samples

    storage = _storage(args)
    with _session(args) as session:
        summary = samples.seed(session, storage)
    _out(
        f"seeded {summary['files']} sample files into {summary['storage']} and "
        f"{summary['records']} records (observation {summary['observation']})"
    )
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from jwstnb import ingest

    storage = _storage(args) if args.storage else None
    with _session(args) as session:
        report = ingest.scan_url(
            session, args.url, mount=args.mount, storage=storage, progress=_progress(args)
        )
    return _report(redact(args.url), report)


def cmd_import_mast(args: argparse.Namespace) -> int:
    from jwstnb import ingest

    pairs = ingest.read_mast_file(args.file)  # a broken file is reported before anything else
    storage = _storage(args) if (args.storage or os.environ.get(STORAGE_ENV)) else None
    with _session(args) as session:
        report = ingest.import_mast_many(session, pairs, storage=storage,
                                         progress=_progress(args))
    return _report(f"{args.file} ({len(pairs)} observations)", report)


def cmd_export(args: argparse.Namespace) -> int:
    from jwstnb import backup

    check_parent(args.url, create=args.parents)
    with _session(args) as session:
        count = backup.export(session, args.url)
    _out(f"exported {count} records to {redact(args.url)}")
    return 0


# Criteria the `table` command does not take as options (paging: it writes every match).
_NOT_OPTIONS = ("page", "page_size")
_RANGES = ("exposure_time", "wavelength")


def criteria_options(parser: argparse.ArgumentParser) -> None:
    """One option per search criterion, made from :class:`jwstnb.criteria.Criteria`'s fields
    (so the command line has every criterion the library has): ``--exclude-instrument MIRI``;
    list criteria repeat (``--instrument NIRCAM --instrument MIRI``); ranges take two values,
    ``-`` for an open end (``--exposure-time 100 -``, seconds; ``--wavelength 1.5 2.5``,
    microns); times take ISO or MJD; flags take true/false."""
    from jwstnb.criteria import Criteria

    group = parser.add_argument_group("search criteria (as Session.search)")
    for name, field in Criteria.model_fields.items():
        if name in _NOT_OPTIONS:
            continue
        flag = "--" + name.replace("_", "-")
        text = str(field.annotation)
        if name in _RANGES:
            group.add_argument(flag, nargs=2, metavar=("MIN", "MAX"), default=None)
        elif "tuple[str" in text or "tuple[int" in text:
            group.add_argument(flag, action="append", default=None, metavar="VALUE")
        else:
            group.add_argument(flag, default=None, metavar="VALUE")


def criteria_from(args: argparse.Namespace) -> dict[str, Any]:
    """The criteria given on the command line, as ``Session.search`` keyword arguments (the
    library validates them; a bad one is an error naming it)."""
    from jwstnb.criteria import Criteria

    out: dict[str, Any] = {}
    for name, field in Criteria.model_fields.items():
        value = getattr(args, name, None)
        if name in _NOT_OPTIONS or value is None:
            continue
        if name in _RANGES:
            try:
                value = tuple(None if v in ("-", "") else float(v) for v in value)
            except ValueError:
                raise CliError(f"--{name.replace('_', '-')} takes two numbers (or - for an "
                               f"open end), not {' '.join(value)}") from None
        elif name == "calib_level":
            try:
                value = [int(v) for v in value]
            except ValueError:
                raise CliError(f"--calib-level takes whole numbers, not {value}") from None
        elif "bool" in str(field.annotation):
            value = {"true": True, "false": False}.get(str(value).lower(), value)
        out[name] = value  # text as typed: the library reads positions, angles and times
    return out


def cmd_table(args: argparse.Namespace) -> int:
    """Every matching record (or every record near each target of ``--targets``) written to
    a table file: ECSV, CSV or VOTable by the file's extension."""
    import math

    criteria = criteria_from(args)
    formats = {".ecsv": "ascii.ecsv", ".csv": "ascii.csv", ".xml": "votable",
               ".vot": "votable"}
    suffix = Path(args.out).suffix.lower()
    if suffix not in formats:
        raise CliError(f"write the table to .ecsv, .csv or .xml (VOTable), not {args.out!r}")
    check_parent(args.out, create=False)
    with _session(args) as session:
        if args.targets:
            from astropy.table import Table

            targets: Any = (Table.read(args.targets) if Path(args.targets).suffix.lower()
                            in formats else Path(args.targets).read_text())
            radius = criteria.pop("radius", 0.0)
            intersect = criteria.pop("intersect", "overlaps")
            table = session.search_targets(targets, radius=radius, intersect=intersect,
                                           **criteria)
        else:
            table = session.table(limit=args.limit, **criteria)
    if "coord" in table.colnames:
        table.remove_column("coord")
    for name in table.colnames:  # masked floats as NaN: every format reads them back
        if getattr(table[name], "mask", None) is not None and table[name].dtype.kind == "f":
            table[name] = table[name].filled(math.nan)
    table.write(args.out, format=formats[suffix], overwrite=True)
    _out(f"wrote {len(table)} rows to {args.out}")
    return 0


def cmd_asn(args: argparse.Namespace) -> int:
    """Write the association of a group's files (``Lineage.to_asn``) as the pipeline's JSON."""
    with _session(args) as session:
        asn = session.lineage(args.group).to_asn(args.kind, optics=args.optics)
    text = json.dumps(asn, indent=4) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    Path(args.output).write_text(text, encoding="utf-8")
    members = sum(len(p["members"]) for p in asn["products"])
    _out(f"wrote {args.output}: {asn['asn_type']} association of {args.group}, "
         f"{len(asn['products'])} product(s), {members} member(s)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from jwstnb import backup

    with _session(args) as session:
        count = backup.restore(session, args.url)
    _out(f"restored {count} records from {redact(args.url)}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from jwstnb import localdb

    if args.uri:
        raise CliError(
            "`jwstnb db` manages the embedded local database; --uri names another server "
            "(drop --uri, or use `jwstnb --uri URI doctor` to check that server)"
        )
    home = data_home()
    if args.action == "start":
        localdb.ensure_running(home)
        _out(_running_line(localdb.status(home)))
        return 0
    if args.action == "stop":
        stopped = localdb.stop(home)
        _out("embedded database stopped" if stopped else "embedded database was not running")
        return 0
    if args.action == "reset-password":
        localdb.reset_password(home)
        _out(f"embedded database in {home}: new credentials written to its state file")
        return 0
    st = localdb.status(home)
    if args.json:
        _out(json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in st.items()}))
    elif st.get("running"):
        _out(_running_line(st))
    else:
        _out(
            f"embedded database not running (data {st.get('data_dir')}); "
            "`jwstnb db start` starts it"
        )
    return 0 if st.get("running") else 3


def _running_line(st: dict[str, Any]) -> str:
    return (
        f"embedded database running (pid {st.get('pid')}, port {st.get('port')}, "
        f"data {st.get('data_dir')})"
    )


def notebooks_dir(explicit: str | None) -> Path:
    """The tutorials folder: ``--notebooks``, else ``./notebooks``, else the source checkout's."""
    candidates = (
        [Path(explicit)]
        if explicit
        else [Path.cwd() / "notebooks", Path(__file__).resolve().parent.parent / "notebooks"]
    )
    for path in candidates:
        if path.is_dir() and any(path.glob("*.ipynb")):
            return path.resolve()
    raise CliError(
        "no tutorials folder: run `jwstnb demo` from a jwstnb checkout or pass --notebooks DIR"
    )


def _run_lab(cmd: list[str]) -> int:
    """Run JupyterLab until it exits; Ctrl-C and SIGTERM go to it, and we wait for it."""
    proc = subprocess.Popen(cmd)

    def forward(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # JupyterLab got the same Ctrl-C and decides itself
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_demo(args: argparse.Namespace) -> int:
    from jwstnb import localdb, samples

    source = notebooks_dir(args.notebooks)
    if not has_module("jupyterlab"):
        raise CliError("JupyterLab is not installed: pip install 'jwstnb[jupyter]'")
    os.environ.setdefault(STORAGE_ENV, storage_url())
    home = data_home()
    embedded = not (args.uri or configured_uri()[0])
    was_running = embedded and bool(localdb.status(home).get("running"))
    storage = _storage(args)
    with _session(args) as session:
        summary = samples.seed(session, storage)
    _out(f"sample data ready: {summary['records']} records, files in {summary['storage']}")
    tutorials = home / TUTORIALS_DIR
    for note in prepare_tutorials(source, tutorials):
        _out(note)
    _out(f"tutorials: working copies in {tutorials} (the ones in {source} stay as they are)")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    cmd = lab_command(tutorials, no_browser=args.no_browser, port=args.port, is_root=is_root)
    _out("starting JupyterLab: " + " ".join(cmd[2:]))
    try:
        code = _run_lab(cmd)
    finally:
        if embedded and not was_running:
            stopped = localdb.stop(home)
            _out("embedded database stopped" if stopped else "embedded database was not running")
        elif embedded:
            _out(
                "the embedded database keeps running (it was running before the demo): "
                "`jwstnb db stop` stops it"
            )
    return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code


# --------------------------------------------------------------------------- doctor


@dataclass
class Check:
    """One line of ``jwstnb doctor``: what was checked, whether it is fine, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    fatal: bool = True


def doctor_checks(
    env: dict[str, str] | None = None, *, database: str | None = None
) -> list[Check]:
    """Run the doctor checks; each failed one carries the exact command or setting that fixes it.

    The database and storage come from ``env`` (``os.environ``, where the CLI put ``--uri``
    and ``--storage``), read by the library's own ``connect`` and ``Storage``.
    """
    env = dict(os.environ if env is None else env)
    checks: list[Check] = []
    py = sys.version_info
    checks.append(
        Check(
            "python",
            py[:2] >= MIN_PYTHON,
            f"Python {py.major}.{py.minor}.{py.micro} ({sys.executable})",
            fix=f"use Python >= {MIN_PYTHON[0]}.{MIN_PYTHON[1]}",
        )
    )
    for package in ("pymongo", "astropy", "fsspec", "ipywidgets", "pydantic"):
        checks.append(_package_check(package, package, "pip install jwstnb", fatal=True))
    checks.append(
        _package_check("jupyterlab", "jupyterlab", "pip install 'jwstnb[jupyter]'", fatal=False)
    )

    uri, problem = configured_uri(env)
    if problem:
        checks.append(Check("database", False, problem, fix=f"fix or unset {URI_ENV}"))
    elif uri:
        checks.append(_database_check(uri, database))
    elif has_module("secantus"):
        checks.append(_embedded_check(database))
    else:
        checks.append(
            Check(
                "database",
                False,
                f"no database: {URI_ENV} is not set and the embedded database (SecantusDB, the "
                "`local` extra) is not installed",
                fix=f"pip install 'jwstnb[local]'   (or set {URI_ENV}=mongodb://HOST:27017/)",
            )
        )
    checks.append(_storage_check(env.get(STORAGE_ENV)))
    return checks


def _package_check(module: str, package: str, fix: str, *, fatal: bool) -> Check:
    if not has_module(module):
        return Check(f"package {package}", False, "not installed", fix=fix, fatal=fatal)
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version(package)
    except PackageNotFoundError:
        ver = "installed"
    return Check(f"package {package}", True, ver, fatal=fatal)


def _count(uri: str | None, database: str | None) -> str:
    """Connect as the library does and count the records (raises the library's errors)."""
    from jwstnb.session import connect

    options: dict[str, Any] = {"database": database} if database else {}
    with connect(uri, admin=True, timeout=DOCTOR_TIMEOUT, **options) as session:
        total = session.statistics()["total"]
        return (f"{session.database_name}.{session.collection_name}: {total} records; "
                f"counts summary {session.summary_state()}")


def _failed(name: str, what: str, exc: BaseException, source: str | None, fix: str) -> Check:
    """A failed check whose detail ends with the error's own line (secrets of ``source`` out)."""
    reason = error_line(exc, sources=[source]).split(": ", 1)[-1]
    return Check(name, False, f"{what} ({reason})", fix=fix)


def _database_check(uri: str, database: str | None) -> Check:
    shown = redact(uri)
    try:
        return Check("database", True, f"{shown} answers ({_count(uri, database)})")
    except Exception as exc:
        fix = f"start that server, or fix --uri / {URI_ENV} (unset it for the embedded database)"
        return _failed("database", f"{shown} does not answer", exc, uri, fix)


def _embedded_check(database: str | None) -> Check:
    from jwstnb import localdb

    st = localdb.status(data_home())
    if not st.get("running"):
        return Check(
            "database",
            True,
            "embedded database installed, not running: it starts on first jwstnb.connect() "
            "(or `jwstnb db start`)",
        )
    try:
        counted = _count(None, database)
    except Exception as exc:
        from jwstnb.errors import CredentialsLost

        fix = (
            "jwstnb db reset-password"
            if isinstance(exc, CredentialsLost)
            else f"`jwstnb db stop`, then `jwstnb db start` (see its log: {st.get('log')})"
        )
        return _failed("database", f"embedded database on port {st.get('port')}", exc, None, fix)
    return Check(
        "database", True, f"embedded database running on port {st.get('port')} ({counted})"
    )


def _storage_check(url: str | None) -> Check:
    from jwstnb.storage import Storage

    if not url:
        return Check(
            "storage",
            True,
            f"{STORAGE_ENV} not set: using {storage_url()} (set it or --storage to use S3)",
            fatal=False,
        )
    shown = redact(url)
    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    if protocol in ("s3", "s3a") and not has_module("s3fs"):
        return Check("storage", False, f"{shown} needs s3fs", fix="pip install 'jwstnb[s3]'")
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        options["config_kwargs"] = {
            "connect_timeout": DOCTOR_TIMEOUT,
            "read_timeout": DOCTOR_TIMEOUT,
            "retries": {"max_attempts": 1},
        }
    try:
        storage = Storage(url, **options)
        fs = storage.fs
        root = type(fs)._strip_protocol(url)
        if storage.is_local and not fs.exists(root):
            return Check(
                "storage", True, f"{shown} does not exist yet (made on first write)", fatal=False
            )
        fs.ls(root)
        return Check("storage", True, f"{shown} is readable")
    except Exception as exc:
        fix = f"check --storage / {STORAGE_ENV} and its credentials"
        return _failed("storage", f"{shown} is not readable", exc, url, fix)


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.recount:
        return _recount(args)
    bad = 0
    for c in doctor_checks(database=args.database):
        mark = "ok  " if c.ok else ("FAIL" if c.fatal else "warn")
        _out(f"{mark} {c.name}: {c.detail}")
        if not c.ok:
            _out(f"     fix: {c.fix}")
            bad += c.fatal
    if bad:
        _out(f"{bad} problem(s) found")
        return 1
    _out("all good")
    return 0


def _recount(args: argparse.Namespace) -> int:
    """``jwstnb doctor --recount``: count every record again and repair the counts summary."""
    with _session(args) as session:
        _out(f"recounting {session.database_name}.{session.collection_name} ...")
        found = session.recount()
    for line in found.differences[:50]:
        _out(f"  differed: {line}")
    if len(found.differences) > 50:
        _out(f"  ... and {len(found.differences) - 50} more")
    if not found.was_exact:
        verdict = "the summary was not exact (never established, or a write was cut off)"
    elif found.differences:
        verdict = f"the summary differed in {len(found.differences)} count(s)"
    else:
        verdict = "the summary was exact"
    _out(f"{found.total:,} records counted; {verdict}; it is exact now")
    return 0


# --------------------------------------------------------------------------- archive service


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the archive service (jwstnb.service); secrets come from the environment/config."""
    from jwstnb.service.server import run_args

    return run_args(args)


def cmd_token(args: argparse.Namespace) -> int:
    """Issue (printed once, on stdout), list or revoke the service's bearer tokens."""
    from jwstnb.service.tokens import TOKENS_COLLECTION, TokenStore

    with _session(args) as session:
        return _token_action(args, TokenStore(session.client[session.database_name][
            TOKENS_COLLECTION]))


def _token_action(args: argparse.Namespace, store: Any) -> int:
    if args.action == "add":
        if not args.name and args.role != "anonymous":
            raise SystemExit("jwstnb token add: name the user the token is for")
        token_id, token = store.add(args.name, role=args.role, days=args.days)
        print(f"token {token_id} for {args.name or 'anonymous'} ({args.role}), valid "
              f"{args.days:g} days; shown once, keep it in a file only you can read:",
              file=sys.stderr, flush=True)
        print(token, flush=True)
    elif args.action == "list":
        for t in store.list(args.name):
            state = "revoked" if t.revoked else ("expired" if t.expired else "active")
            used = t.last_used.isoformat(timespec="seconds") if t.last_used else "never"
            _out(f"{t.id}  {t.user or '-':20}  {t.role:9}  {state:7}  expires "
                 f"{t.expires.isoformat(timespec='seconds')}  last used {used}")
    else:
        if not args.name:
            raise SystemExit("jwstnb token revoke: name a user or a token id")
        _out(f"revoked {store.revoke(args.name)} token(s) of {args.name}")
    return 0


def _service_commands(command: Any) -> None:
    from jwstnb.service.server import build_parser as serve_options

    p = command("serve", cmd_serve, "run the archive service for a team (HTTP API + tokens)")
    serve_options(p)
    p = command("token", cmd_token, "issue, list or revoke the archive service's tokens")
    p.add_argument("action", choices=["add", "list", "revoke"])
    p.add_argument("name", nargs="?", default=None, help="user (or, for revoke, a token id)")
    p.add_argument("--role", choices=["user", "admin", "anonymous"], default="user")
    p.add_argument("--days", type=float, default=90.0, help="lifetime of a new token (days)")


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On the sub-commands the defaults are SUPPRESS, so a value given before the command
    # is not overwritten by the sub-parser's default.
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--uri", default=default, help=f"MongoDB URI (default ${URI_ENV}, else the embedded one)"
    )
    parser.add_argument(
        "--storage", default=default, help=f"storage URL (default ${STORAGE_ENV}, else a folder)"
    )
    parser.add_argument(
        "--database", default=default, help="database name (default: the config file's)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``jwstnb`` (kept separate so tests can inspect it)."""
    import jwstnb

    parser = _Parser(prog="jwstnb", description="JWST data in MongoDB, in Jupyter.")
    parser.add_argument("--version", action="version", version=f"jwstnb {jwstnb.__version__}")
    _global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        _global_options(p, top=False)
        p.set_defaults(func=func)
        return p

    p = command("demo", cmd_demo, "seed the sample data and open JupyterLab on the tutorials")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--port", type=int, default=None, help="JupyterLab port")
    p.add_argument("--notebooks", default=None, help="tutorials folder (default ./notebooks)")

    command("seed", cmd_seed, "write the synthetic sample observation and import it")

    def quiet_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-q", "--quiet", action="store_true", help="no progress bar (none when not a terminal)"
        )

    p = command("scan", cmd_scan, "import every file under a storage URL")
    p.add_argument("url", help="storage URL, e.g. file:///data/jwst or s3://bucket/prefix")
    p.add_argument("--mount", default=None, help="register URL as this storage mount first")
    quiet_option(p)

    p = command("import-mast", cmd_import_mast, "import saved MAST rows (JSON)")
    p.add_argument("file", help='JSON: {"observation": {...}, "products": [...]} or a list')
    quiet_option(p)

    p = command("export", cmd_export, "export the collection to a URL (extended JSON lines)")
    p.add_argument("url")
    p.add_argument("--parents", action="store_true", help="create missing folders of a local URL")

    p = command("table", cmd_table, "write the records a search finds to a table file")
    p.add_argument("out", help="file to write: .ecsv, .csv or .xml (VOTable)")
    p.add_argument("--limit", type=int, default=None, help="at most this many rows")
    p.add_argument("--targets", default=None,
                   help="a target list (a table with ra/dec or names, or text with one "
                   "target per line): every record near each, with a target_index column")
    criteria_options(p)

    p = command("restore", cmd_restore, "restore the collection from an export")
    p.add_argument("url")

    from jwstnb.lineage import ASN_KINDS

    p = command("asn", cmd_asn, "write a pipeline association (asn.json) of a group's files")
    p.add_argument("group", help="the group (observationBaseId), e.g. jw02733-o001_t001_nircam")
    p.add_argument("--kind", required=True, choices=sorted(ASN_KINDS),
                   help="association type: level 2 (image2, spec2) or 3 (image3, coron3...)")
    p.add_argument("--optics", default=None, help="the filter to take when the group has several")
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")

    p = command("db", cmd_db, "the embedded local database")
    p.add_argument("action", choices=["start", "stop", "status", "reset-password"])
    p.add_argument("--json", action="store_true", help="status as JSON")

    p = command("doctor", cmd_doctor, "check Python, packages, database and storage")
    p.add_argument("--recount", action="store_true",
                   help="count every record again and repair the counts summary (admin)")
    _service_commands(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jwstnb`` console script."""
    args = build_parser().parse_args(argv)
    for name in ("uri", "storage", "database"):
        setattr(args, name, getattr(args, name, None))
    # Global options go into the environment: every library call (and demo's kernels) sees them.
    if args.uri:
        os.environ[URI_ENV] = args.uri
    if args.storage:
        os.environ[STORAGE_ENV] = args.storage
    sources = [args.uri, args.storage, getattr(args, "url", None)]
    try:
        with collected_warnings() as found:
            code = int(args.func(args) or 0)
        _print_warnings(found)
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        print(error_line(exc, args.command, sources), file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
