"""The embedded local database: one SecantusDB daemon per data directory, shared by all kernels.

``jwstnb.connect()`` with no URI configured calls :func:`ensure_running`, which starts (or
reuses) a SecantusDB daemon for ``JWSTNB_HOME`` (default: the user's data directory):

- bound to 127.0.0.1 on a free port, auth on (SCRAM-SHA-256, which also proves the server to
  the client), every commit synced to the log (``--sync-on-commit``): a write it
  acknowledged survives ``kill -9`` or a power cut;
- two accounts with generated passwords kept in ``localdb.json`` (mode 0600, in the 0700
  data directory): ``jwstnb`` (root, for the owner's tooling: :func:`admin_uri`,
  provisioning, recovery) and ``jwstnb_app`` (readWrite + dbAdmin on the toolkit's database
  only), whose URI :func:`ensure_running` returns and the server extension hands to kernels;
- provisioned with no unauthenticated moment: the accounts are created by a short-lived
  daemon that speaks only TLS and requires a client certificate signed by a throwaway CA
  (keys in a 0700 folder of the data directory, deleted right after); then the daemon runs
  with ``--auth``. Nothing else on the machine can talk to it without a password at any time;
- started detached (its own session, output to ``localdb.log``), so it survives the kernel
  that started it and is reused by every later kernel or process;
- a file lock (``localdb.lock``) makes two simultaneous first connects start one server.

It fails closed: a data directory open to other users, a state file readable by others or
not valid, or data whose state file is gone never starts a daemon; the error names the fix
(``chmod 700``, or ``jwstnb db reset-password``, which is :func:`reset_password`).

Layout of ``JWSTNB_HOME``: ``db/`` (WiredTiger files), ``localdb.json``, ``localdb.lock``,
``localdb.log``, ``secantusd.toml`` (empty: keeps a user's global SecantusDB config out).
SecantusDB is the optional extra ``jwstnb[local]`` (GPL-2.0, never vendored).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import importlib.util
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jwstnb.errors import ConnectionFailed, CredentialsLost

__all__ = [
    "ADMIN_USER",
    "APP_USER",
    "HOME_ENV",
    "admin_uri",
    "data_home",
    "ensure_running",
    "owns",
    "reset_password",
    "status",
    "stop",
]

log = logging.getLogger(__name__)

HOME_ENV = "JWSTNB_HOME"
ADMIN_USER = "jwstnb"
APP_USER = "jwstnb_app"
HOST = "127.0.0.1"
RESET_COMMAND = "jwstnb db reset-password"
_STATE = "localdb.json"
_LOCK = "localdb.lock"
_LOG = "localdb.log"
_CONFIG = "secantusd.toml"
_DB_DIR = "db"
_LOCK_TIMEOUT = 120.0
_STATE_VERSION = 2


def data_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``home``, else ``JWSTNB_HOME``, else the user's data dir for jwstnb."""
    if home is not None:
        return Path(home).expanduser()
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("jwstnb", appauthor=False))


# --- fail closed: permissions and the state file ----------------------------------------------


def _private(path: Path, what: str, fix: str, *, follow: bool = False) -> None:
    """Refuse ``path`` unless it is ours and closed to group and others (POSIX only).

    A link is refused unless ``follow`` (a data directory may be a link to a bigger disk:
    its target is checked)."""
    if os.name != "posix":
        return
    info = path.stat() if follow else path.lstat()
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        raise ConnectionFailed(
            f"{what} {path} is a link or belongs to another user; the embedded database "
            f"keeps its data and passwords there, so it stays closed: {fix}"
        )
    if info.st_mode & 0o077:
        raise ConnectionFailed(
            f"{what} {path} is open to other users (mode {stat.S_IMODE(info.st_mode):o}); "
            f"the embedded database stays closed: {fix}"
        )


def _has_data(home: Path) -> bool:
    db = home / _DB_DIR
    return db.is_dir() and any(db.iterdir())


def _check_home(home: Path) -> None:
    """Create a fresh data directory 0700, or check that an existing one is private."""
    fresh = not (home / _STATE).exists() and not _has_data(home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if fresh and os.name == "posix" and home.stat().st_uid == os.geteuid():
        os.chmod(home, 0o700)
    _private(
        home, "the data directory", f"run `chmod 700 {home}` (as its owner) and retry", follow=True
    )
    db = home / _DB_DIR
    if db.is_dir() and stat.S_IMODE(db.stat().st_mode) & 0o077:
        os.chmod(db, 0o700)  # inside a private home: tighten, nothing was exposed


def _lost(home: Path, why: str) -> CredentialsLost:
    return CredentialsLost(
        f"the embedded database in {home} stays closed: {why}. Its owner can set new "
        f"passwords on the same data with `{RESET_COMMAND}` (then connect again)"
    )


def _load_state(home: Path) -> dict[str, Any] | None:
    """The state file, checked: None when there is none; raises when it is unusable."""
    path = home / _STATE
    if not os.path.lexists(path):
        if _has_data(home):
            raise _lost(home, f"it holds data but its credentials file {path} is missing")
        return None
    _private(path, "the credentials file", f"its passwords may be known: run `{RESET_COMMAND}`")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        why = f"its credentials file {path} cannot be read ({type(exc).__name__})"
        raise _lost(home, why) from None
    needed = ("user", "password", "admin_user", "admin_password")
    if not isinstance(state, dict) or not all(isinstance(state.get(k), str) for k in needed):
        if isinstance(state, dict) and _legacy(state):
            return state
        raise _lost(home, f"its credentials file {path} is not one jwstnb wrote")
    return state


def _legacy(state: dict[str, Any]) -> bool:
    """A state file of an older jwstnb: one root account, no kernel account yet."""
    return (
        isinstance(state.get("user"), str)
        and isinstance(state.get("password"), str)
        and "admin_password" not in state
    )


def _peek_state(home: Path) -> dict[str, Any]:
    """The state file as far as it can be read, never raising (for status and stop)."""
    try:
        state = json.loads((home / _STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(home: Path, state: dict[str, Any]) -> None:
    """Write the state atomically, readable by the owner only (it holds the passwords)."""
    path = home / _STATE
    tmp = home / f".{_STATE}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _new_state() -> dict[str, Any]:
    return {
        "version": _STATE_VERSION,
        "user": APP_USER,
        "password": secrets.token_urlsafe(32),
        "admin_user": ADMIN_USER,
        "admin_password": secrets.token_urlsafe(32),
        "provisioned": None,
        "pid": None,
        "port": None,
    }


def _uri(state: dict[str, Any], *, admin: bool = False) -> str:
    user = quote(str(state["admin_user" if admin else "user"]), safe="")
    password = quote(str(state["admin_password" if admin else "password"]), safe="")
    return (
        f"mongodb://{user}:{password}@{HOST}:{int(state['port'])}/"
        "?authSource=admin&directConnection=true"
    )


# --- processes -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive; /proc tells (Linux), elsewhere trust kill(0).
    with contextlib.suppress(OSError):
        proc_stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return proc_stat.rsplit(")", 1)[-1].split()[0] != "Z"
    return True


def _serves(pid: int, home: Path) -> bool | None:
    """True/False when /proc tells whether ``pid`` is a SecantusDB on ``home``; None without."""
    try:
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    args = [a.decode(errors="replace") for a in cmdline]
    return "secantus" in args and str(home / _DB_DIR) in args


def _is_our_daemon(pid: int | None, home: Path) -> bool:
    """True when ``pid`` is a live SecantusDB serving ``home`` (guards against pid reuse)."""
    if not _pid_alive(pid):
        return False
    assert pid is not None
    serves = _serves(pid, home)
    return True if serves is None else serves  # no /proc (macOS): trust the state file


def _daemons(home: Path, state: dict[str, Any]) -> list[int]:
    """Every live daemon on ``home``: the state file's, and any /proc shows (state lost)."""
    found = {int(state["pid"])} if _is_our_daemon(state.get("pid"), home) else set()
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            pid = int(entry.name) if entry.name.isdigit() else 0
            if _pid_alive(pid) and _serves(pid, home):
                found.add(pid)
    return sorted(found)


def _listening(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((HOST, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _client(uri: str, timeout: float = 10.0, **options: Any) -> Any:
    from pymongo import MongoClient

    ms = int(timeout * 1000)
    return MongoClient(uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, **options)


def _ping(uri: str, timeout: float = 3.0) -> None:
    client = _client(uri, timeout)
    try:
        client.admin.command("ping")
    finally:
        client.close()


def _spawn(home: Path, port: int, extra: list[str]) -> int:
    """Start SecantusDB detached (its own session, reparented to init) and return its pid.

    A short-lived launcher process starts the daemon and exits, so the daemon is not our
    child: it outlives the kernel and never lingers as a zombie of it. Its umask keeps every
    file it creates private to the owner.
    """
    if importlib.util.find_spec("secantus") is None:
        raise ConnectionFailed(
            "no MongoDB URI is configured and the embedded database is not installed; "
            "install it with `pip install 'jwstnb[local]'` or set JWSTNB_MONGO_URI"
        )
    (home / _DB_DIR).mkdir(parents=True, exist_ok=True, mode=0o700)
    (home / _CONFIG).touch(mode=0o600, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "secantus",
        "--config",
        str(home / _CONFIG),
        "--host",
        HOST,
        "--port",
        str(port),
        "--storage-path",
        str(home / _DB_DIR),
        "--log-level",
        "WARNING",
        "--cache-size",
        "256M",
        "--sync-on-commit",
        *extra,
    ]
    launcher = (
        "import os, subprocess, sys\n"
        "os.umask(0o077)\n"
        "log = open(sys.argv[1], 'ab')\n"
        "p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log,\n"
        "                     stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)\n"
        "print(p.pid)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", launcher, str(home / _LOG), *cmd],
        capture_output=True,
        text=True,
        cwd=home,
        timeout=60,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.strip().isdigit():
        raise ConnectionFailed(
            f"could not start the embedded database in {home}: {out.stderr.strip()[-500:]}"
        )
    return int(out.stdout.strip())


def _wait_listening(pid: int, port: int, home: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _listening(port) and _pid_alive(pid):
            return
        if not _pid_alive(pid):
            break
        time.sleep(0.05)
    _terminate(pid)
    raise ConnectionFailed(
        f"the embedded database did not start on {HOST}:{port}; see {home / _LOG}"
    )


def _launch(home: Path, extra: list[str], port: int | None = None) -> tuple[int, int]:
    """Start a daemon on ``port`` (else a free one; retried if taken meanwhile): (pid, port)."""
    last_error: ConnectionFailed | None = None
    for _attempt in range(3):
        chosen = port if port and not _listening(port) else _free_port()
        pid = _spawn(home, chosen, extra)
        try:
            _wait_listening(pid, chosen, home)
        except ConnectionFailed as exc:  # e.g. the port was taken between choice and bind
            last_error = exc
            port = None
            continue
        return pid, chosen
    raise last_error or ConnectionFailed(f"could not start the embedded database in {home}")


def _terminate(pid: int | None, timeout: float = 20.0) -> bool:
    if not _pid_alive(pid):
        return False
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    return True


# --- provisioning: over mutual TLS with throwaway keys, never unauthenticated --------------------


def _pem_write(path: Path, data: bytes) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return str(path)


def _throwaway_tls(folder: Path) -> dict[str, str]:
    """A one-use CA, a server certificate for 127.0.0.1 and a client certificate, as files.

    Written 0600 into ``folder`` (0700). Only the process holding the client key (the
    provisioning one: it wrote it) can complete the TLS handshake with the daemon.
    """
    import ipaddress

    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise ConnectionFailed(
            "setting up the embedded database needs the `cryptography` package; install "
            "it with `pip install 'jwstnb[local]'` or set JWSTNB_MONGO_URI"
        ) from None

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def issue(
        subject: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey,
        *, ca: bool, usage: Any = None, ip: bool = False,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name("jwstnb provisioning CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if ip:
            alt = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))])
            builder = builder.add_extension(alt, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = issue("jwstnb provisioning CA", ca_key, ca_key, ca=True)
    server = issue(HOST, server_key, ca_key, ca=False, usage=ExtendedKeyUsageOID.SERVER_AUTH,
                   ip=True)
    client = issue("jwstnb provisioner", client_key, ca_key, ca=False,
                   usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    return {
        "ca": _pem_write(folder / "ca.pem", ca.public_bytes(pem)),
        "cert": _pem_write(folder / "server.pem", server.public_bytes(pem)),
        "key": _pem_write(folder / "server.key", key_pem(server_key)),
        "client": _pem_write(folder / "client.pem", client.public_bytes(pem) + key_pem(client_key)),
    }


def _accounts(state: dict[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    """The two accounts: user -> (password, roles). The kernels' one is limited to one db."""
    from jwstnb.schema import DATABASE

    return {
        str(state["admin_user"]): (str(state["admin_password"]), ["root"]),
        str(state["user"]): (
            str(state["password"]),
            [{"role": "readWrite", "db": DATABASE}, {"role": "dbAdmin", "db": DATABASE}],
        ),
    }


def _set_accounts(
    client: Any, accounts: dict[str, tuple[str, list[Any]]], *, only_these: bool
) -> None:
    """Create or update ``accounts`` in ``admin``; ``only_these`` drops every other account."""
    admin = client.admin
    existing = {u["user"] for u in admin.command("usersInfo", 1).get("users", [])}
    for user, (password, roles) in accounts.items():
        verb = "updateUser" if user in existing else "createUser"
        admin.command(verb, user, pwd=password, roles=roles)
    if not only_these:
        return
    from jwstnb.schema import DATABASE

    # ``admin`` (and a fresh toolkit database) may hold no collection, so are not listed
    for db_name in {"admin", DATABASE, *client.list_database_names()}:
        db = client[db_name]
        for record in db.command("usersInfo", 1).get("users", []):
            if db_name == "admin" and record["user"] in accounts:
                continue
            log.warning("embedded database: removed the account %s@%s", record["user"], db_name)
            db.command("dropUser", record["user"])


def _provision(home: Path, state: dict[str, Any], *, only_these: bool) -> None:
    """Set both accounts' passwords on ``home``'s data with no unauthenticated moment.

    SecantusDB creates accounts only through a daemon running without ``--auth`` (it has no
    localhost exception). That daemon is started here speaking TLS only and requiring a
    client certificate from a CA made for this one run; its keys live in a 0700 folder of
    the private data directory and are deleted before this returns. Any other process that
    reaches the port fails the TLS handshake before it can send a command.
    """
    folder = Path(tempfile.mkdtemp(prefix=".provision-", dir=home))
    pid: int | None = None
    try:
        tls = _throwaway_tls(folder)
        pid, port = _launch(
            home,
            ["--tls-cert-file", tls["cert"], "--tls-key-file", tls["key"],
             "--tls-ca-file", tls["ca"], "--tls-require-client-cert"],
        )
        client = _client(
            f"mongodb://{HOST}:{port}/?directConnection=true",
            timeout=30,
            tls=True,
            tlsCAFile=tls["ca"],
            tlsCertificateKeyFile=tls["client"],
        )
        try:
            _set_accounts(client, _accounts(state), only_these=only_these)
        finally:
            client.close()
    finally:
        _terminate(pid)
        shutil.rmtree(folder, ignore_errors=True)


def _migrate(home: Path, state: dict[str, Any]) -> dict[str, Any]:
    """An older data directory (one root account): add the kernels' account, keep the data."""
    fresh = _new_state()
    upgraded = {
        **state,
        "version": _STATE_VERSION,
        "admin_user": state["user"],
        "admin_password": state["password"],
        "user": APP_USER,
        "password": fresh["password"],
    }
    client = _client(_uri(upgraded, admin=True), timeout=10)
    try:
        accounts = _accounts(upgraded)
        _set_accounts(client, {APP_USER: accounts[APP_USER]}, only_these=False)
    finally:
        client.close()
    _write_state(home, upgraded)
    return upgraded


# --- starting ----------------------------------------------------------------------------------


def _start_locked(home: Path, state: dict[str, Any] | None) -> dict[str, Any]:
    if state is None:
        state = _new_state()
        _write_state(home, state)  # first: a crash below leaves passwords to finish with
    if not _legacy(state) and not (state.get("provisioned") and _has_data(home)):
        _provision(home, state, only_these=False)
        state = {**state, "provisioned": time.time()}
        _write_state(home, state)
    pid, port = _launch(home, ["--auth"], port=state.get("port"))
    state = {**state, "pid": pid, "port": port, "started": time.time(), "home": str(home)}
    _write_state(home, state)
    try:
        if _legacy(state):
            state = _migrate(home, state)
        _ping(_uri(state), timeout=10)
    except Exception as exc:
        _terminate(pid)
        raise ConnectionFailed(
            f"the embedded database in {home} started but refused jwstnb's credentials "
            f"({type(exc).__name__}); its owner can set new ones with `{RESET_COMMAND}`"
        ) from None
    return state


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(home / _LOCK), timeout=_LOCK_TIMEOUT, mode=0o600):
            yield
    except Timeout:
        raise ConnectionFailed(
            f"another process holds {home / _LOCK} for more than {_LOCK_TIMEOUT:.0f}s while "
            "starting the embedded database; check `jwstnb db status`"
        ) from None


def _healthy(home: Path, state: dict[str, Any] | None) -> bool:
    return bool(
        state
        and state.get("port")
        and not _legacy(state)
        and _is_our_daemon(state.get("pid"), home)
        and _listening(int(state["port"]))
    )


def _running_state(home: Path) -> dict[str, Any]:
    _check_home(home)
    state = _load_state(home)
    if _healthy(home, state):
        assert state is not None
        return state
    with _locked(home):
        state = _load_state(home)  # another process may have started it meanwhile
        if not _healthy(home, state):
            state = _start_locked(home, state)
        assert state is not None
        return state


def ensure_running(home: str | os.PathLike[str] | None = None) -> str:
    """Start the local daemon for ``home`` unless it already runs; return the kernels' URI.

    That URI's account may read, write, index and set the validator of the toolkit's
    database, nothing else. It carries the generated password: hand it to pymongo, never
    print it (use :func:`jwstnb.config.redact`). Safe to call from many processes at once.
    Raises :class:`~jwstnb.errors.CredentialsLost` when data is there but its credentials
    are not, and :class:`~jwstnb.errors.ConnectionFailed` when the data directory or the
    state file is open to other users.
    """
    return _uri(_running_state(data_home(home)))


def admin_uri(home: str | os.PathLike[str] | None = None) -> str:
    """The root account's URI of ``home``'s daemon (started if needed), for its owner's tools.

    Kernels never get this one; it can create accounts and reach every database.
    """
    return _uri(_running_state(data_home(home)), admin=True)


def reset_password(home: str | os.PathLike[str] | None = None) -> None:
    """Give both accounts new passwords on the existing data and write a new state file.

    For the owner (the OS user who can read ``db/``) after the state file was lost, damaged
    or exposed. Any running daemon of ``home`` is stopped; the accounts are set over the
    same mutual-TLS provisioning as a first start (never an unauthenticated daemon), every
    other account in the embedded database is removed, and the daemon is left STOPPED: the
    next :func:`ensure_running` (or ``connect()``) starts it with the new passwords. Kernels
    holding the old URI must reconnect.
    """
    path = data_home(home)
    _check_home(path)
    with _locked(path):
        for pid in _daemons(path, _peek_state(path)):
            _terminate(pid)
        state = _new_state()
        _write_state(path, state)  # first: a crash below leaves passwords to finish with
        _provision(path, state, only_these=True)
        _write_state(path, {**state, "provisioned": time.time()})


def owns(uri: str, home: str | os.PathLike[str] | None = None) -> bool:
    """True when ``uri`` is this data home's embedded server (as handed to kernels).

    So ``connect()`` treats it as the local database, with its owner's role, rather than
    as a team's server.
    """
    state = _peek_state(data_home(home))
    if not state.get("port") or not state.get("password") or _legacy(state):
        return False
    try:
        return hmac.compare_digest(_uri(state), uri)
    except (KeyError, TypeError, ValueError):
        return False


def status(home: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What is known about the local daemon: running, pid, port, data dir, log (no password).

    ``problem`` is None, or the message :func:`ensure_running` would raise (what keeps the
    database closed and how to fix it).
    """
    path = data_home(home)
    problem: str | None = None
    try:
        if path.exists():
            _private(path, "the data directory", f"run `chmod 700 {path}`", follow=True)
            _load_state(path)
    except ConnectionFailed as exc:
        problem = str(exc)
    state = _peek_state(path)
    running = problem is None and _healthy(path, state)
    return {
        "running": running,
        "pid": state.get("pid") if running else None,
        "port": state.get("port") if running else None,
        "host": HOST,
        "home": str(path),
        "data_dir": str(path / _DB_DIR),
        "log": str(path / _LOG),
        "state_file": str(path / _STATE),
        "provisioned": bool(state.get("password")),
        "user": state.get("user"),
        "admin_user": state.get("admin_user"),
        "problem": problem,
    }


def stop(home: str | os.PathLike[str] | None = None) -> bool:
    """Stop the local daemon of ``home``; True if one was running. Data and passwords are kept.

    Also stops a daemon whose state file is gone (found by its command line, on Linux).
    """
    path = data_home(home)
    if not path.is_dir():
        return False
    with _locked(path):
        state = _peek_state(path)
        stopped = False
        for pid in _daemons(path, state):
            stopped = _terminate(pid) or stopped
        if state.get("pid") and (path / _STATE).is_file():
            _write_state(path, {**state, "pid": None})
        return stopped
