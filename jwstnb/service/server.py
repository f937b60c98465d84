"""Run the archive service: ``jwstnb serve`` / ``python -m jwstnb.service``.

The database URI comes from the environment or the config file (``JWSTNB_MONGO_URI``,
``JWSTNB_MONGO_URI_FILE``, ``[mongo]``), storage from ``JWSTNB_STORAGE_URL`` / ``[storage]``,
TLS from ``[service] certfile/keyfile`` or the options: never a secret on the command line.
uvicorn's access log is off (signed URLs carry their signature in the query); the service
logs method, path, caller and status only, never a header.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from jwstnb.service.signing import DEFAULT_TTL

__all__ = ["build_parser", "main", "serve", "service_settings"]

log = logging.getLogger("jwstnb.service")


def service_settings() -> dict[str, Any]:
    """The config file's ``[service]`` table (host, port, certfile, keyfile, ttl...)."""
    from jwstnb.config import load_config

    table = load_config().get("service", {})
    return dict(table) if isinstance(table, dict) else {}


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    allow_anonymous: bool = False,
    ttl: int = DEFAULT_TTL,
    database: str | None = None,
    collection: str | None = None,
    storage: bool = True,
    log_level: str = "info",
) -> None:
    """Serve the archive until interrupted (connects as admin with the configured URI)."""
    import uvicorn

    from jwstnb.service.app import Service, create_app
    from jwstnb.session import connect

    settings = service_settings()
    certfile = certfile or settings.get("certfile")
    keyfile = keyfile or settings.get("keyfile")
    session = connect(admin=True, database=database, collection=collection)
    store = None
    if storage:
        from jwstnb.storage import Storage

        store = Storage()
    service = Service.open(session, store, allow_anonymous=allow_anonymous, ttl=ttl,
                           public_url=settings.get("public_url"))
    app = create_app(service)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    scheme = "https" if certfile else "http"
    print(f"jwstnb archive service on {scheme}://{host}:{port}", flush=True)
    try:
        uvicorn.run(
            app,
            host=host,
            port=int(port),
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            access_log=False,
            log_config=None,
            log_level=log_level,
            server_header=False,
            proxy_headers=False,
        )
    finally:
        session.close()


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The options of ``jwstnb serve`` (no secret is ever an option)."""
    parser = parser or argparse.ArgumentParser(
        prog="python -m jwstnb.service", description="the jwstnb archive service"
    )
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8765)")
    parser.add_argument("--certfile", default=None, help="TLS certificate chain (PEM)")
    parser.add_argument("--keyfile", default=None, help="TLS private key (PEM)")
    parser.add_argument(
        "--anonymous", action="store_true", help="let callers without a token read public records"
    )
    parser.add_argument("--ttl", type=int, default=None, help="signed URL lifetime, seconds")
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    if not any(a.dest == "database" for a in parser._actions):
        parser.add_argument("--database", default=None, help="database name")
    parser.add_argument("--collection", default=None, help="collection name")
    return parser


def run_args(args: argparse.Namespace) -> int:
    """Serve with parsed options (config file ``[service]`` fills what is not given)."""
    settings = service_settings()
    serve(
        host=args.host or settings.get("host", "127.0.0.1"),
        port=args.port or int(settings.get("port", 8765)),
        certfile=args.certfile,
        keyfile=args.keyfile,
        allow_anonymous=bool(args.anonymous or settings.get("anonymous", False)),
        ttl=args.ttl or int(settings.get("ttl", DEFAULT_TTL)),
        database=getattr(args, "database", None),
        collection=args.collection,
        log_level=args.log_level,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jwstnb.service``."""
    return run_args(build_parser().parse_args(argv))
