"""The ``jwstnb`` command: a thin layer over the library for things people do from a shell.

    jwstnb demo [--no-browser]        seed the sample data and open JupyterLab on the tutorials
    jwstnb seed                       write the synthetic sample to storage and import it
    jwstnb scan URL [--prefix P]      import every file under a storage URL
    jwstnb import-mast FILE           import saved MAST observation/product rows (JSON)
    jwstnb export URL / restore URL   back up / restore the collection (extended JSON lines)
    jwstnb db start|stop|status       the embedded local database
    jwstnb doctor                     check Python, packages, database and storage; say what to fix

The database is ``--uri``, else ``JWSTNB_MONGO_URI``, else the embedded local database.
Storage is ``--storage``, else ``JWSTNB_STORAGE_URL``, else a folder under ``JWSTNB_HOME``.
Every command prints what it did; errors are one line and exit non-zero. Passwords are never
printed: URIs are shown redacted.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jwstnb.config import STORAGE_ENV, URI_ENV, configured_uri, redact, storage_url
from jwstnb.localdb import data_home

if TYPE_CHECKING:
    from jwstnb.session import Session
    from jwstnb.storage import Storage

MIN_PYTHON = (3, 11)


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""


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


# --------------------------------------------------------------------------- wiring


def _session(args: argparse.Namespace) -> Session:
    """An admin session: every CLI command is the operator's own work (imports, backups)."""
    from jwstnb.session import connect

    options: dict[str, Any] = {"database": args.database} if args.database else {}
    return connect(args.uri or None, admin=True, **options)


def _storage(url: str | None) -> Storage:
    from jwstnb.storage import Storage

    return Storage(url or storage_url())


def _out(msg: str) -> None:
    print(msg, flush=True)


def _report_list(report: Any, name: str) -> list[Any]:
    value = getattr(report, name, None)
    if value is None and isinstance(report, dict):
        value = report.get(name)
    if isinstance(value, int):
        return [None] * value
    return list(value or [])


# --------------------------------------------------------------------------- commands


def cmd_seed(args: argparse.Namespace) -> int:
    storage = _storage(args.storage)
    with _session(args) as session:
        session.ensure_indexes()
        from jwstnb import samples

        summary = samples.seed(session, storage)
    _out(
        f"seeded {summary['files']} sample files into {summary['storage']} and "
        f"{summary['records']} records (observation {summary['observation']})"
    )
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from jwstnb import ingest

    storage = _storage(args.url)
    with _session(args) as session:
        session.ensure_indexes()
        report = ingest.scan(session, storage, prefix=args.prefix, progress=not args.quiet)
    failed = _report_list(report, "failed")
    _out(
        f"scanned {storage.url}: {len(_report_list(report, 'imported'))} imported, "
        f"{len(_report_list(report, 'updated'))} updated, "
        f"{len(_report_list(report, 'skipped'))} skipped, {len(failed)} failed"
    )
    for item in failed:
        key, reason = item if isinstance(item, tuple | list) and len(item) == 2 else (item, "")
        _out(f"  failed: {key}: {reason}")
    return 1 if failed else 0


def cmd_import_mast(args: argparse.Namespace) -> int:
    from jwstnb import ingest

    pairs = ingest.read_mast_file(args.file)  # a broken file is reported before anything else

    storage = _storage(args.storage) if (args.storage or os.environ.get(STORAGE_ENV)) else None
    with _session(args) as session:
        session.ensure_indexes()
        for obs, products in pairs:
            report = ingest.import_mast(session, obs, products, storage=storage)
            _out(
                f"{obs.get('obs_id', '?')}: {len(_report_list(report, 'imported'))} imported, "
                f"{len(_report_list(report, 'updated'))} updated"
            )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from jwstnb import backup

    with _session(args) as session:
        count = backup.export(session, args.url)
    _out(f"exported {count} records to {redact(args.url)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from jwstnb import backup

    with _session(args) as session:
        session.ensure_indexes()
        count = backup.restore(session, args.url)
    _out(f"restored {count} records from {redact(args.url)}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from jwstnb import localdb

    home = data_home()
    if args.action == "start":
        localdb.ensure_running(home)
        st = localdb.status(home)
        _out(_running_line(st))
        return 0
    if args.action == "stop":
        stopped = localdb.stop(home)
        _out("embedded database stopped" if stopped else "embedded database was not running")
        return 0
    st = localdb.status(home)
    if args.json:
        _out(json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in st.items()}))
    elif st.get("running"):
        _out(_running_line(st))
    else:
        _out(f"embedded database not running (data {_data_dir(st)}); `jwstnb db start` starts it")
    return 0 if st.get("running") else 3


def _running_line(st: dict[str, Any]) -> str:
    return (
        f"embedded database running (pid {st.get('pid')}, port {st.get('port')}, "
        f"data {_data_dir(st)})"
    )


def _data_dir(st: dict[str, Any]) -> Any:
    return st.get("data_dir") or st.get("data") or st.get("path") or st.get("dbpath")


def notebooks_dir(explicit: str | None) -> Path:
    """The tutorials folder: ``--notebooks``, else ``./notebooks``, else the source checkout's."""
    candidates = (
        [Path(explicit)]
        if explicit
        else [Path.cwd() / "notebooks", Path(__file__).resolve().parent.parent / "notebooks"]
    )
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    raise CliError(
        "no notebooks folder: run `jwstnb demo` from a jwstnb checkout or pass --notebooks DIR"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    notebooks = notebooks_dir(args.notebooks)
    if not has_module("jupyterlab"):
        raise CliError("JupyterLab is not installed: pip install 'jwstnb[jupyter]'")
    url = args.storage or storage_url()
    os.environ[STORAGE_ENV] = url
    storage = _storage(url)
    with _session(args) as session:
        session.ensure_indexes()
        from jwstnb import samples

        summary = samples.seed(session, storage)
    _out(f"sample data ready: {summary['records']} records, files in {summary['storage']}")
    if args.uri:
        os.environ[URI_ENV] = args.uri
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    cmd = lab_command(notebooks, no_browser=args.no_browser, port=args.port, is_root=is_root)
    _out("starting JupyterLab: " + " ".join(cmd[2:]))
    sys.stdout.flush()
    os.execv(cmd[0], cmd)
    return 0  # pragma: no cover - execv does not return


# --------------------------------------------------------------------------- doctor


@dataclass
class Check:
    """One line of ``jwstnb doctor``: what was checked, whether it is fine, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    fatal: bool = True


def doctor_checks(env: dict[str, str] | None = None) -> list[Check]:
    """Run the doctor checks; each failed one carries the exact command or setting that fixes it."""
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
    for mod, pkg in (
        ("pymongo", "pymongo"),
        ("astropy", "astropy"),
        ("fsspec", "fsspec"),
        ("ipywidgets", "ipywidgets"),
        ("pydantic", "pydantic"),
    ):
        checks.append(_package_check(mod, pkg, "pip install jwstnb", fatal=True))
    checks.append(
        _package_check("jupyterlab", "jupyterlab", "pip install 'jwstnb[jupyter]'", fatal=False)
    )

    uri, problem = configured_uri(env)
    if problem:
        checks.append(Check("database", False, problem, fix=f"fix or unset {URI_ENV}"))
    elif uri:
        checks.append(_database_check(uri))
    elif has_module("secantus"):
        checks.append(_embedded_check())
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

    storage_url = env.get(STORAGE_ENV)
    checks.append(_storage_check(storage_url))
    return checks


def _package_check(module: str, package: str, fix: str, *, fatal: bool) -> Check:
    if not has_module(module):
        return Check(f"package {package}", False, "not installed", fix=fix, fatal=fatal)
    try:
        from importlib.metadata import version

        ver = version(package)
    except Exception:
        ver = "installed"
    return Check(f"package {package}", True, ver, fatal=fatal)


def _database_check(uri: str) -> Check:
    shown = redact(uri)
    if not has_module("pymongo"):
        return Check("database", False, f"{URI_ENV}={shown}", fix="pip install pymongo")
    from pymongo import MongoClient

    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000)
    try:
        client.admin.command("ping")
        return Check("database", True, f"{shown} answers")
    except Exception as exc:
        reason = redact(str(exc).split(",")[0][:200])
        return Check(
            "database",
            False,
            f"{shown} does not answer ({reason})",
            fix=f"start that server, or fix {URI_ENV} (unset it to use the embedded database)",
        )
    finally:
        client.close()


def _embedded_check() -> Check:
    try:
        from jwstnb import localdb

        st = localdb.status(data_home())
    except Exception as exc:
        return Check(
            "database",
            False,
            f"embedded database: cannot read its status ({exc})",
            fix="pip install -U 'jwstnb[local]'",
        )
    if st.get("running"):
        return Check("database", True, f"embedded database running on port {st.get('port')}")
    return Check(
        "database",
        True,
        "embedded database installed, not running: it starts on first jwstnb.connect() "
        "(or `jwstnb db start`)",
    )


def _storage_check(url: str | None) -> Check:
    if not url:
        return Check(
            "storage",
            True,
            f"{STORAGE_ENV} not set: using {storage_url()} (set it to use S3)",
            fatal=False,
        )
    shown = redact(url)
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    if protocol in ("s3", "s3a") and not has_module("s3fs"):
        return Check(
            "storage", False, f"{STORAGE_ENV}={shown} needs s3fs", fix="pip install 'jwstnb[s3]'"
        )
    try:
        st = _storage(url)
        st.list("")
        return Check("storage", True, f"{shown} is readable")
    except Exception as exc:
        return Check(
            "storage",
            False,
            f"{shown} is not readable ({redact(str(exc))[:200]})",
            fix=f"check {STORAGE_ENV} and its credentials",
        )


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = doctor_checks()
    bad = 0
    for c in checks:
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


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``jwstnb`` (kept separate so tests can inspect it)."""
    parser = argparse.ArgumentParser(prog="jwstnb", description="JWST data in MongoDB, in Jupyter.")
    parser.add_argument(
        "--uri", default=None, help=f"MongoDB URI (default: ${URI_ENV}, else the embedded database)"
    )
    parser.add_argument(
        "--database",
        default=None,
        help="database name (default: the config file's, else jwst_data_analysis)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="seed the sample data and open JupyterLab on the tutorials")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--port", type=int, default=None, help="JupyterLab port")
    p.add_argument("--notebooks", default=None, help="tutorials folder (default ./notebooks)")
    p.add_argument("--storage", default=None, help=f"storage URL (default ${STORAGE_ENV})")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("seed", help="write the synthetic sample observation and import it")
    p.add_argument("--storage", default=None, help=f"storage URL (default ${STORAGE_ENV})")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("scan", help="import every file under a storage URL")
    p.add_argument("url", help="storage URL, e.g. file:///data/jwst or s3://bucket/prefix")
    p.add_argument("--prefix", default="", help="only keys under this prefix")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("import-mast", help="import saved MAST observation/product rows (JSON)")
    p.add_argument("file", help='JSON: {"observation": {...}, "products": [...]} or a list')
    p.add_argument("--storage", default=None, help="storage URL holding the product files")
    p.set_defaults(func=cmd_import_mast)

    p = sub.add_parser("export", help="export the collection to a URL (extended JSON lines)")
    p.add_argument("url")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("restore", help="restore the collection from an export")
    p.add_argument("url")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("db", help="the embedded local database")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("doctor", help="check Python, packages, database and storage")
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jwstnb`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(f"jwstnb: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from jwstnb.errors import JwstnbError

        if isinstance(exc, JwstnbError | ImportError | OSError | ValueError):
            print(f"jwstnb {args.command}: {redact(str(exc))}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
