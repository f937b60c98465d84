"""Real servers for the integration tests, all on 127.0.0.1.

- ``mongo_uri``: ``JWSTNB_TEST_MONGO_URI`` when set (a real mongod), else a SecantusDB daemon
  started as a subprocess for the whole test run (``python -m secantus``).
- ``s3_endpoint``: moto's S3 server (``ThreadedMotoServer``) for the whole test run.

Tests get isolation from a fresh database name (``db_name``) or bucket (``s3_bucket``) each.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SecantusProcess:
    """A SecantusDB daemon in a subprocess; ``stop()``/``start()`` to simulate an outage."""

    def __init__(self, storage_path: Path, port: int | None = None, auth: bool = False) -> None:
        self.storage_path = storage_path
        self.port = port or free_port()
        self.auth = auth
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = storage_path.parent / f"secantus-{self.port}.log"

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 30.0) -> None:
        self.storage_path.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(self.port),
            "--storage-path", str(self.storage_path), "--log-level", "WARNING",
            *(["--auth"] if self.auth else []),
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"SecantusDB exited early; see {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"SecantusDB did not listen on port {self.port} within {timeout}s")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of the test MongoDB: JWSTNB_TEST_MONGO_URI, else a SecantusDB subprocess."""
    external = os.environ.get("JWSTNB_TEST_MONGO_URI")
    if external:
        yield external
        return
    server = SecantusProcess(tmp_path_factory.mktemp("secantus") / "data")
    server.start()
    try:
        yield server.uri
    finally:
        server.stop()


#: Accounts of the ``auth_server`` fixture: name -> (password, roles). ``boss`` is an admin
#: account (root); ``alice`` and ``bob`` may read and write the one database, nothing more.
AUTH_DATABASE = "jwstnb_team"
AUTH_ACCOUNTS: dict[str, tuple[str, list[dict[str, str]]]] = {
    "boss": ("boss-pw-0x1", [{"role": "root", "db": "admin"}]),
    "alice": ("alice-pw-0x2", [{"role": "readWrite", "db": AUTH_DATABASE}]),
    "bob": ("bob-pw-0x3", [{"role": "readWrite", "db": AUTH_DATABASE}]),
}


@dataclass(frozen=True)
class AuthServer:
    """A SecantusDB daemon running with ``--auth`` and the accounts of ``AUTH_ACCOUNTS``."""

    port: int
    database: str = AUTH_DATABASE

    def uri(self, account: str) -> str:
        password = AUTH_ACCOUNTS[account][0]
        return (f"mongodb://{account}:{password}@127.0.0.1:{self.port}/{self.database}"
                "?authSource=admin&directConnection=true")


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """SecantusDB under ``--auth`` (accounts are made by a daemon without it, then it restarts
    with it: SecantusDB creates accounts only that way)."""
    from pymongo import MongoClient

    data = tmp_path_factory.mktemp("secantus-auth") / "data"
    setup = SecantusProcess(data)
    setup.start()
    client: MongoClient = MongoClient(setup.uri, serverSelectionTimeoutMS=5000)
    try:
        for name, (password, roles) in AUTH_ACCOUNTS.items():
            client.admin.command("createUser", name, pwd=password, roles=roles)
    finally:
        client.close()
        setup.stop()
    server = SecantusProcess(data, port=setup.port, auth=True)
    server.start()
    try:
        yield AuthServer(server.port)
    finally:
        server.stop()


@pytest.fixture
def db_name(mongo_uri: str) -> Iterator[str]:
    """A fresh database name for one test; dropped afterwards."""
    name = f"jwstnb_test_{uuid.uuid4().hex[:12]}"
    yield name
    from pymongo import MongoClient

    client: MongoClient = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(name)
    except Exception:  # the server may have been stopped by the test itself
        pass
    finally:
        client.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Endpoint URL of a moto S3 server on 127.0.0.1 (a real HTTP server)."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket on the moto server; returns its name."""
    import boto3

    name = f"jwstnb-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=name
    )
    return name


@contextlib.contextmanager
def benchmark_server(uri: str | None) -> Iterator[tuple[str, str]]:
    """``(uri, description)`` for a benchmark: the given server, else a SecantusDB started
    here on a temporary folder and stopped (and removed) afterwards."""
    if uri:
        yield uri, "given URI"
        return
    with tempfile.TemporaryDirectory(prefix="jwstnb-bench-") as tmp:
        proc = SecantusProcess(Path(tmp) / "data")
        proc.start(timeout=60)
        try:
            yield proc.uri, "SecantusDB (started here)"
        finally:
            proc.stop()
