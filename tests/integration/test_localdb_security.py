"""The embedded database against other users of the machine, and its owner's recovery paths.

Real SecantusDB daemons on 127.0.0.1, each test in its own JWSTNB_HOME under tmp_path. The
"attacker" is a separate process (as the OS user ``nobody`` when these tests run as root)
that watches for the daemon of the data directory under test (its port from /proc/net/tcp
and its command line) and tries commands without credentials, in plaintext, over TLS without
a client certificate and over TLS with a certificate of its own, the whole time.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

import jwstnb
from jwstnb import localdb
from jwstnb.errors import ConnectionFailed, CredentialsLost
from jwstnb.schema import DATABASE, JwstDataModel
from tests.integration.test_localdb import _daemons_for, fresh_home

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from fresh_home(tmp_path, monkeypatch)

PROBE = r"""
import json, os, select, sys, tempfile, time
from pymongo import MongoClient

db_path, limit = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + limit
certfile = None
if os.environ.get("PROBE_CERT"):
    fd, certfile = tempfile.mkstemp(suffix=".pem")
    os.write(fd, os.environ["PROBE_CERT"].encode())
    os.close(fd)

def listening():
    ports = set()
    with open("/proc/net/tcp") as fh:
        for line in fh.read().splitlines()[1:]:
            f = line.split()
            ip, port = f[1].split(":")
            if f[3] == "0A" and ip == "0100007F":
                ports.add(int(port, 16))
    return ports

def daemons():
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = [a.decode(errors="replace") for a in fh.read().split(b"\0")]
        except OSError:
            continue
        if "secantus" in args and db_path in args and "--port" in args:
            kind = "open"
            if "--tls-require-client-cert" in args:
                kind = "provisioning"
            elif "--auth" in args:
                kind = "auth"
            found[int(args[args.index("--port") + 1])] = kind
    return found

modes = {"plain": {}, "tls-no-cert": {"tls": True, "tlsInsecure": True}}
if certfile:
    modes["tls-own-cert"] = {"tls": True, "tlsInsecure": True, "tlsCertificateKeyFile": certfile}
attempts = [
    ("ping", lambda c: c.admin.command("ping")),
    ("listDatabases", lambda c: c.admin.command("listDatabases")),
    ("createUser", lambda c: c.admin.command(
        "createUser", "intruder", pwd="intruder-password", roles=["root"])),
    ("find", lambda c: c["jwst_data_analysis"]["jwst_data"].find_one()),
]
print(json.dumps({"ready": os.getuid()}), flush=True)
while time.monotonic() < deadline:
    if select.select([sys.stdin], [], [], 0)[0] and not sys.stdin.readline():
        break
    up = listening()
    for port, kind in daemons().items():
        if port not in up:
            continue
        for mode, options in modes.items():
            client = MongoClient(
                f"mongodb://127.0.0.1:{port}/?directConnection=true",
                serverSelectionTimeoutMS=300, connectTimeoutMS=300, socketTimeoutMS=2000,
                **options,
            )
            try:
                for name, attempt in attempts:
                    try:
                        attempt(client)
                        outcome = "ok"
                    except Exception as exc:
                        outcome = type(exc).__name__
                    print(json.dumps({"port": port, "kind": kind, "mode": mode, "cmd": name,
                                      "outcome": outcome}), flush=True)
            finally:
                client.close()
    time.sleep(0.005)
"""


def _other_user_command() -> list[str]:
    """How to run Python as another OS user (``nobody``) when we are root; [] otherwise.

    The interpreter must be one ``nobody`` may execute: this venv's, else the system's of the
    same version with this venv's packages on its path.
    """
    if os.geteuid() != 0:
        return []
    runners = []
    if runuser := shutil.which("runuser"):
        runners.append([runuser, "-u", "nobody", "--"])
    if setpriv := shutil.which("setpriv"):
        runners.append([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"])
    if not runners:
        pytest.fail("running as root without runuser or setpriv: cannot act as another user")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for runner in runners:
        for python in (sys.executable, shutil.which(version) or f"/usr/bin/{version}"):
            check = subprocess.run(
                [*runner, python, "-c", "import pymongo"],
                env=_probe_env(), cwd="/", capture_output=True, timeout=60, check=False,
            )
            if check.returncode == 0:
                return [*runner, python]
    pytest.fail("no Python interpreter that user nobody may run with pymongo importable")


def _probe_env() -> dict[str, str]:
    import pymongo

    site = str(Path(pymongo.__file__).resolve().parents[1])
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": site, "HOME": "/tmp", "LANG": "C.UTF-8"}


def _foreign_cert() -> str:
    """A client certificate (and key) the attacker made itself: not from the daemon's CA."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwstnb provisioner")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (cert.public_bytes(serialization.Encoding.PEM) + key_pem).decode()


class Attacker:
    """The probe process and what it saw, line by line."""

    def __init__(self, home: Path) -> None:
        self.prefix = _other_user_command()
        python = self.prefix or [sys.executable]
        env = {**_probe_env(), "PROBE_CERT": _foreign_cert()}
        self.proc = subprocess.Popen(
            [*python, "-c", PROBE, str(home / "db"), "600"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env, cwd="/",
        )
        self.lines: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        ready = self.wait_for(lambda line: "ready" in line, timeout=60)
        self.uid = int(ready["ready"])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self.changed:
                self.lines.append(json.loads(raw))
                self.changed.notify_all()

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                hit = next((line for line in self.lines if match(line)), None)
                if hit is not None:
                    return hit
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, (
                    f"the probe never got there: {self.lines[-5:]} "
                    f"{self.proc.stderr.read() if self.proc.poll() is not None else ''}"
                )
                self.changed.wait(min(left, 0.5))

    def tried_everything_on(self, kind: str, timeout: float = 60) -> None:
        """Wait until every mode's last command was tried against a daemon of ``kind``."""
        for mode in ("plain", "tls-no-cert", "tls-own-cert"):
            self.wait_for(
                lambda line, mode=mode: line.get("kind") == kind
                and line.get("mode") == mode and line.get("cmd") == "find",
                timeout,
            )

    def finish(self) -> list[dict[str, Any]]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        return [line for line in self.lines if "cmd" in line]


def _assert_never_in(seen: list[dict[str, Any]]) -> None:
    """No command without credentials ever worked; no daemon ever ran open.

    ``ping`` on the authenticating daemon answers before authentication by design (as on
    mongod: drivers need it for the handshake); it reveals nothing and changes nothing.
    """
    assert seen, "the probe tried nothing"
    assert not [line for line in seen if line["kind"] == "open"], "a daemon ran without auth"
    got_in = [
        line for line in seen
        if line["outcome"] == "ok"
        and not (line["kind"] == "auth" and line["mode"] == "plain" and line["cmd"] == "ping")
    ]
    assert got_in == [], got_in
    # over TLS neither the missing nor a foreign client certificate gets past the handshake
    provisioning = [line for line in seen if line["kind"] == "provisioning"]
    assert provisioning and all(line["outcome"] != "ok" for line in provisioning)


@pytest.fixture
def hold_provisioning(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    """Keep each provisioning daemon up until the waits appended to the list return; and
    record every daemon command line jwstnb starts."""
    waits: list[Callable[[], None]] = []
    spawned: list[list[str]] = []
    real_set, real_spawn = localdb._set_accounts, localdb._spawn

    def held(*args: Any, **kwargs: Any) -> None:
        for wait in waits:
            wait()
        real_set(*args, **kwargs)

    def recorded(home: Path, port: int, extra: list[str]) -> int:
        spawned.append(list(extra))
        return real_spawn(home, port, extra)

    monkeypatch.setattr(localdb, "_set_accounts", held)
    monkeypatch.setattr(localdb, "_spawn", recorded)
    yield waits
    # every daemon jwstnb started either required a client certificate or a password
    assert all(
        "--auth" in extra or "--tls-require-client-cert" in extra for extra in spawned
    ), spawned


def _accounts(home: Path) -> set[str]:
    root: MongoClient[dict[str, Any]] = MongoClient(localdb.admin_uri(home))
    try:
        return {u["user"] for u in root.admin.command("usersInfo", 1)["users"]}
    finally:
        root.close()


def test_another_user_racing_the_first_connect_never_gets_in(
    home: Path, hold_provisioning: list[Callable[[], None]]
) -> None:
    attacker = Attacker(home)
    if os.geteuid() == 0:
        assert attacker.uid != 0, "the probe must run as another OS user"
    hold_provisioning.append(lambda: attacker.tried_everything_on("provisioning"))
    try:
        with jwstnb.connect(timeout=20) as s:
            s.insert(JwstDataModel(file_name="secret.fits", data_type="image"))
        attacker.tried_everything_on("auth")
    finally:
        seen = attacker.finish()
    _assert_never_in(seen)
    # the daemon is the same one the probe attacked, and nothing was added to it
    assert {line["port"] for line in seen if line["kind"] == "auth"} == {
        localdb.status(home)["port"]
    }
    assert _accounts(home) == {localdb.ADMIN_USER, localdb.APP_USER}
    # the data directory and the state file are closed to other users
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "localdb.json").stat().st_mode) == 0o600
    assert not list(home.glob(".provision-*")), "the throwaway keys are deleted"


def test_kernel_account_reaches_only_the_toolkit_database(home: Path) -> None:
    app_uri, root_uri = localdb.ensure_running(home), localdb.admin_uri(home)
    assert app_uri != root_uri
    assert localdb.owns(app_uri, home) and not localdb.owns(root_uri, home)
    root: MongoClient[dict[str, Any]] = MongoClient(root_uri)
    app: MongoClient[dict[str, Any]] = MongoClient(app_uri)
    try:
        root["otherdb"]["private"].insert_one({"secret": 42})
        # what the toolkit needs, on its database
        coll = app[DATABASE]["probe"]
        coll.insert_one({"a": 1})
        assert coll.find_one({"a": 1}) is not None
        assert coll.create_index("a") == "a_1"
        app[DATABASE].command("collMod", "probe", validator={"a": {"$type": "int"}})
        app.admin.command("renameCollection", f"{DATABASE}.probe", to=f"{DATABASE}.probe2")
        assert app[DATABASE]["probe2"].count_documents({}) == 1
        app[DATABASE].drop_collection("probe2")
        # and nothing else
        forbidden: list[Callable[[], Any]] = [
            lambda: app.admin.command("createUser", "mine", pwd="mine-pw", roles=["root"]),
            lambda: app.admin.command("updateUser", localdb.ADMIN_USER, pwd="taken"),
            lambda: app.admin.command(
                "grantRolesToUser", localdb.APP_USER, roles=[{"role": "root", "db": "admin"}]
            ),
            lambda: app["otherdb"]["private"].find_one(),
            lambda: app["otherdb"]["private"].insert_one({"x": 1}),
            lambda: app["otherdb"].command("dropDatabase"),
            lambda: app.admin.command(
                "renameCollection", "otherdb.private", to=f"{DATABASE}.stolen"
            ),
        ]
        for attempt in forbidden:
            with pytest.raises(OperationFailure, match=r"(?i)not authorized|unauthorized"):
                attempt()
        assert root["otherdb"]["private"].find_one({}, {"_id": 0}) == {"secret": 42}
    finally:
        root.close()
        app.close()
    # the toolkit itself works with that account: indexes, validator, CRUD, search
    with jwstnb.connect(timeout=10) as s:
        assert s.role == "admin"
        rid = s.insert(JwstDataModel(file_name="kernel.fits", data_type="image"))
        assert s.get(rid).file_name == "kernel.fits" and s.search().total == 1
    assert _accounts(home) == {localdb.ADMIN_USER, localdb.APP_USER}


def test_lost_state_file_fails_closed_then_reset_password_recovers(
    home: Path, hold_provisioning: list[Callable[[], None]]
) -> None:
    with jwstnb.connect(timeout=20) as s:
        rid = s.insert(JwstDataModel(file_name="keep-me.fits", data_type="image"))
    root: MongoClient[dict[str, Any]] = MongoClient(localdb.admin_uri(home))
    root.admin.command("createUser", "leftover", pwd="leftover-password", roles=["root"])
    root.close()
    old = json.loads((home / "localdb.json").read_text())
    attacker = Attacker(home)
    hold_provisioning.append(lambda: attacker.tried_everything_on("provisioning"))
    try:
        (home / "localdb.json").unlink()
        # the daemon still running demands its (lost) passwords; nothing new starts
        for _ in range(2):
            with pytest.raises(CredentialsLost, match="jwstnb db reset-password"):
                jwstnb.connect(timeout=5)
        assert _daemons_for(home) == [old["pid"]]
        assert localdb.status(home)["problem"] and not localdb.status(home)["running"]
        assert localdb.stop(home) is True  # found without its state file
        assert _daemons_for(home) == []
        with pytest.raises(CredentialsLost, match="jwstnb db reset-password"):
            jwstnb.connect(timeout=5)
        assert _daemons_for(home) == []
        localdb.reset_password(home)
        assert _daemons_for(home) == [], "reset_password leaves the daemon stopped"
        new = json.loads((home / "localdb.json").read_text())
        assert stat.S_IMODE((home / "localdb.json").stat().st_mode) == 0o600
        assert new["password"] != old["password"]
        assert new["admin_password"] != old["admin_password"]
        with jwstnb.connect(timeout=20) as s:
            assert s.get(rid).file_name == "keep-me.fits"
        # a recovery leaves exactly the toolkit's two accounts
        assert _accounts(home) == {localdb.ADMIN_USER, localdb.APP_USER}
        attacker.tried_everything_on("auth")
    finally:
        seen = attacker.finish()
    _assert_never_in(seen)
    # the old passwords are dead
    stale: MongoClient[dict[str, Any]] = MongoClient(
        localdb.ensure_running(home).replace(new["password"], old["password"]),
        serverSelectionTimeoutMS=3000,
    )
    with pytest.raises(OperationFailure, match=r"(?i)auth"):
        stale[DATABASE].list_collection_names()
    stale.close()


def _fails_closed(home: Path, error: type[ConnectionFailed], match: str, secret: str) -> None:
    """connect() raises ``error`` naming the fix (never a password); no daemon is started."""
    with pytest.raises(error, match=match) as info:
        jwstnb.connect(timeout=5)
    assert secret not in str(info.value)
    assert _daemons_for(home) == []
    assert localdb.status(home)["problem"]


def test_open_permissions_and_damaged_state_fail_closed(home: Path) -> None:
    with jwstnb.connect(timeout=20) as s:
        rid = s.insert(JwstDataModel(file_name="guarded.fits", data_type="image"))
    state_file = home / "localdb.json"
    secret = json.loads(state_file.read_text())["password"]
    localdb.stop(home)
    # a data directory others may enter
    os.chmod(home, 0o755)
    _fails_closed(home, ConnectionFailed, r"chmod 700", secret)
    os.chmod(home, 0o700)
    # a state file others may read: its passwords may be known
    os.chmod(state_file, 0o644)
    _fails_closed(home, ConnectionFailed, r"jwstnb db reset-password", secret)
    os.chmod(state_file, 0o600)
    # a damaged state file
    good = state_file.read_text()
    state_file.write_text(good[: len(good) // 2])
    _fails_closed(home, CredentialsLost, r"jwstnb db reset-password", secret)
    state_file.write_text(json.dumps({"user": "x"}))
    _fails_closed(home, CredentialsLost, r"jwstnb db reset-password", secret)
    localdb.reset_password(home)
    with jwstnb.connect(timeout=20) as s:
        assert s.get(rid).file_name == "guarded.fits"
