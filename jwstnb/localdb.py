"""The embedded local database: one SecantusDB daemon per data directory, shared by all kernels.

``jwstnb.connect()`` with no URI configured calls :func:`ensure_running`, which starts (or
reuses) a SecantusDB daemon for ``JWSTNB_HOME`` (default: the user's data directory):

- bound to 127.0.0.1 on a free port, auth on (SCRAM-SHA-256) with a generated password kept
  in ``localdb.json`` (mode 0600) next to the data;
- started detached (its own session, output to ``localdb.log``), so it survives the kernel
  that started it and is reused by every later kernel or process;
- a file lock (``localdb.lock``) makes two simultaneous first connects start one server.

Layout of ``JWSTNB_HOME``: ``db/`` (WiredTiger files), ``localdb.json``, ``localdb.lock``,
``localdb.log``, ``secantusd.toml`` (empty: keeps a user's global SecantusDB config out).
SecantusDB is the optional extra ``jwstnb[local]`` (GPL-2.0, never vendored).
"""

from __future__ import annotations

import contextlib
import hmac
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jwstnb.errors import ConnectionFailed

__all__ = ["ADMIN_USER", "HOME_ENV", "data_home", "ensure_running", "owns", "status", "stop"]

HOME_ENV = "JWSTNB_HOME"
ADMIN_USER = "jwstnb"
HOST = "127.0.0.1"
_STATE = "localdb.json"
_LOCK = "localdb.lock"
_LOG = "localdb.log"
_CONFIG = "secantusd.toml"
_DB_DIR = "db"
_LOCK_TIMEOUT = 120.0


def data_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``home``, else ``JWSTNB_HOME``, else the user's data dir for jwstnb."""
    if home is not None:
        return Path(home).expanduser()
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("jwstnb", appauthor=False))


# --- state file ---------------------------------------------------------------------------


def _read_state(home: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((home / _STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _write_state(home: Path, state: dict[str, Any]) -> None:
    """Write the state atomically, readable by the owner only (it holds the password)."""
    path = home / _STATE
    tmp = home / f".{_STATE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _uri(state: dict[str, Any]) -> str:
    user = quote(str(state["user"]), safe="")
    password = quote(str(state["password"]), safe="")
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
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"
    return True


def _is_our_daemon(pid: int | None, home: Path) -> bool:
    """True when ``pid`` is a live SecantusDB serving ``home`` (guards against pid reuse)."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes().split(b"\0")  # type: ignore[arg-type]
    except OSError:
        return True  # no /proc (macOS): the pid is alive, trust the state file
    args = [a.decode(errors="replace") for a in cmdline]
    return "secantus" in args and str(home / _DB_DIR) in args


def _listening(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((HOST, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _ping(uri: str, timeout: float = 3.0) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(
        uri, serverSelectionTimeoutMS=int(timeout * 1000)
    )
    try:
        client.admin.command("ping")
    finally:
        client.close()


def _spawn(home: Path, port: int, *, auth: bool) -> int:
    """Start SecantusDB detached (its own session, reparented to init) and return its pid.

    A short-lived launcher process starts the daemon and exits, so the daemon is not our
    child: it outlives the kernel and never lingers as a zombie of it.
    """
    if importlib.util.find_spec("secantus") is None:
        raise ConnectionFailed(
            "no MongoDB URI is configured and the embedded database is not installed; "
            "install it with `pip install 'jwstnb[local]'` or set JWSTNB_MONGO_URI"
        )
    (home / _DB_DIR).mkdir(parents=True, exist_ok=True)
    (home / _CONFIG).touch(exist_ok=True)
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
    ]
    if auth:
        cmd.append("--auth")
    launcher = (
        "import subprocess, sys\n"
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
        if _listening(port):
            return
        if not _pid_alive(pid):
            break
        time.sleep(0.05)
    _terminate(pid)
    raise ConnectionFailed(
        f"the embedded database did not start on {HOST}:{port}; see {home / _LOG}"
    )


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


def _provision(home: Path) -> dict[str, Any]:
    """First start on a fresh data dir: create the admin user with a generated password.

    SecantusDB provisions users with auth off; it is bound to 127.0.0.1 for the second or
    two this takes, then restarted with ``--auth``.
    """
    from pymongo import MongoClient

    password = secrets.token_urlsafe(32)
    port = _free_port()
    pid = _spawn(home, port, auth=False)
    try:
        _wait_listening(pid, port, home)
        client: MongoClient[dict[str, Any]] = MongoClient(
            f"mongodb://{HOST}:{port}/?directConnection=true", serverSelectionTimeoutMS=10000
        )
        try:
            users = client.admin.command("usersInfo", ADMIN_USER).get("users", [])
            if users:
                client.admin.command("updateUser", ADMIN_USER, pwd=password)
            else:
                client.admin.command("createUser", ADMIN_USER, pwd=password, roles=["root"])
        finally:
            client.close()
    finally:
        _terminate(pid)
    return {"user": ADMIN_USER, "password": password, "provisioned": time.time()}


def _start_locked(home: Path, state: dict[str, Any] | None) -> dict[str, Any]:
    if not state or not state.get("password") or not (home / _DB_DIR).exists():
        state = _provision(home)
        _write_state(home, {**state, "pid": None, "port": None})
    last_error: Exception | None = None
    for _attempt in range(3):
        port = (
            int(state["port"])
            if state.get("port") and not _listening(state["port"])
            else _free_port()
        )
        pid = _spawn(home, port, auth=True)
        try:
            _wait_listening(pid, port, home)
        except ConnectionFailed as exc:  # e.g. the port was taken between choice and bind
            last_error = exc
            continue
        state = {**state, "pid": pid, "port": port, "started": time.time(), "home": str(home)}
        _write_state(home, state)
        try:
            _ping(_uri(state), timeout=10)
        except Exception as exc:
            _terminate(pid)
            raise ConnectionFailed(
                f"the embedded database in {home} started but refused jwstnb's credentials "
                f"({type(exc).__name__}); stop it and remove {home / _STATE} to re-provision"
            ) from None
        return state
    raise last_error or ConnectionFailed(f"could not start the embedded database in {home}")


def _lock(home: Path) -> Any:
    from filelock import FileLock

    home.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(home, 0o700)
    return FileLock(str(home / _LOCK), timeout=_LOCK_TIMEOUT)


def _healthy(home: Path, state: dict[str, Any] | None) -> bool:
    return bool(
        state
        and state.get("port")
        and _is_our_daemon(state.get("pid"), home)
        and _listening(int(state["port"]))
    )


def ensure_running(home: str | os.PathLike[str] | None = None) -> str:
    """Start the local daemon for ``home`` unless it already runs; return its URI.

    The URI carries the generated password: hand it to pymongo, never print it (use
    :func:`jwstnb.config.redact`). Safe to call from many processes at once.
    """
    path = data_home(home)
    state = _read_state(path)
    if _healthy(path, state):
        assert state is not None
        return _uri(state)
    from filelock import Timeout

    try:
        with _lock(path):
            state = _read_state(path)  # another process may have started it meanwhile
            if not _healthy(path, state):
                state = _start_locked(path, state)
            assert state is not None
            return _uri(state)
    except Timeout:
        raise ConnectionFailed(
            f"another process holds {path / _LOCK} for more than {_LOCK_TIMEOUT:.0f}s while "
            "starting the embedded database; check `jwstnb db status`"
        ) from None


def owns(uri: str, home: str | os.PathLike[str] | None = None) -> bool:
    """True when ``uri`` is this data home's embedded server (as handed to kernels).

    So ``connect()`` treats it as the local database, with its owner's role, rather than
    as a team's server.
    """
    state = _read_state(data_home(home))
    if not state or not state.get("port") or not state.get("password"):
        return False
    try:
        return hmac.compare_digest(_uri(state), uri)
    except (KeyError, TypeError, ValueError):
        return False


def status(home: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What is known about the local daemon: running, pid, port, data dir, log (no password)."""
    path = data_home(home)
    state = _read_state(path) or {}
    running = _healthy(path, state)
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
    }


def stop(home: str | os.PathLike[str] | None = None) -> bool:
    """Stop the local daemon of ``home``; True if one was running. Data and password are kept."""
    path = data_home(home)
    if not (path / _STATE).exists():
        return False
    with _lock(path):
        state = _read_state(path)
        if not state:
            return False
        stopped = False
        if _is_our_daemon(state.get("pid"), path):
            stopped = _terminate(int(state["pid"]))
        _write_state(path, {**state, "pid": None})
        return stopped
