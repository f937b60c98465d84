"""The embedded local server: one SecantusDB daemon per JWSTNB_HOME, shared and persistent.

These tests start their own daemons (real processes on 127.0.0.1 with auth on) in temporary
data directories and stop them at the end.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import jwstnb
from jwstnb import localdb
from jwstnb.errors import ConnectionFailed
from jwstnb.schema import JwstDataModel

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No URI configured anywhere: connect() must use the embedded server of ``home``."""
    for name in ("JWSTNB_MONGO_URI", "JWSTNB_MONGO_URI_FILE", "JWSTNB_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home.parent / "xdg-config"))
    monkeypatch.setenv("JWSTNB_HOME", str(home))


def _daemons_for(home: Path) -> list[int]:
    """Pids of every running SecantusDB serving ``home`` (from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and b"secantus" in args and str(home / "db").encode() in args:
            pids.append(int(entry.name))
    return pids


def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A JWSTNB_HOME of its own for one test; every daemon started there is gone afterwards."""
    path = tmp_path / "jwstnb-home"
    _isolate(monkeypatch, path)
    (tmp_path / "xdg-config").mkdir(exist_ok=True)
    try:
        yield path
    finally:
        localdb.stop(path)
        for pid in _daemons_for(path):  # belt and braces: never leave a daemon behind
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from fresh_home(tmp_path, monkeypatch)


def test_status_of_an_unused_home(home: Path) -> None:
    st = localdb.status(home)
    assert st["running"] is False and st["pid"] is None and st["provisioned"] is False
    assert st["home"] == str(home)
    assert localdb.stop(home) is False


def test_connect_starts_reuses_stops_and_keeps_data(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with jwstnb.connect(timeout=10) as s:
        assert s.role == "admin"  # the embedded database belongs to whoever runs it
        rid = s.insert(JwstDataModel(file_name="kept.fits", data_type="image", is_public=True))
        state = json.loads((home / "localdb.json").read_text())
        password = state["password"]
        assert len(password) >= 32
        # The state file holds the password: owner-only.
        assert stat.S_IMODE((home / "localdb.json").stat().st_mode) == 0o600
        shown = [
            repr(s),
            str(s),
            repr(s.client),
            repr(s.as_user("a")),
            caplog.text,
            json.dumps(localdb.status(home)),
        ]
        assert not any(password in text for text in shown)
        assert "127.0.0.1" in repr(s.client)
        st = localdb.status(home)
        assert st["running"] and st["port"] == state["port"] and st["pid"] == state["pid"]
        first_pid = st["pid"]
        # durable and authenticating: every commit synced, no command without a password
        args = Path(f"/proc/{first_pid}/cmdline").read_bytes().split(b"\0")
        assert b"--sync-on-commit" in args and b"--auth" in args
    # A second connect (another kernel) reuses the daemon.
    with jwstnb.connect(timeout=10) as s:
        assert localdb.status(home)["pid"] == first_pid
        assert s.get(rid).file_name == "kept.fits"
    # Its own URI (as the server extension hands it to kernels) is still the local database,
    # owned by whoever runs it; the same server under other credentials is not.
    own_uri = localdb.ensure_running(home)
    assert localdb.owns(own_uri, home)
    with jwstnb.connect(own_uri, timeout=10) as s:
        assert s.role == "admin" and s.get(rid).file_name == "kept.fits"
    other = own_uri.replace(password, "not-the-password")
    assert not localdb.owns(other, home)
    assert _daemons_for(home) == [first_pid]
    # The server only listens on loopback and refuses clients without the password.
    from pymongo import MongoClient

    anonymous: MongoClient[dict[str, object]] = MongoClient(
        f"mongodb://127.0.0.1:{state['port']}/?directConnection=true", serverSelectionTimeoutMS=3000
    )
    with pytest.raises(Exception, match=r"(?i)auth"):
        anonymous["jwst_data_analysis"]["jwst_data"].find_one()
    anonymous.close()
    # Stop, then the next connect starts it again with the same data and password.
    assert localdb.stop(home) is True
    assert localdb.status(home)["running"] is False
    assert _daemons_for(home) == []
    with jwstnb.connect(timeout=10) as s:
        assert s.get(rid).file_name == "kept.fits"
    assert json.loads((home / "localdb.json").read_text())["password"] == password
    # A daemon killed hard (machine crash, OOM) is replaced on the next connect.
    os.kill(localdb.status(home)["pid"], signal.SIGKILL)
    time.sleep(0.2)
    with jwstnb.connect(timeout=10) as s:
        assert s.get(rid).file_name == "kept.fits"


def test_lost_server_is_connection_failed_without_password(home: Path) -> None:
    s = jwstnb.connect(timeout=1)
    password = json.loads((home / "localdb.json").read_text())["password"]
    localdb.stop(home)
    start = time.monotonic()
    with pytest.raises(ConnectionFailed) as info:
        s.search()
    assert time.monotonic() - start < 10
    assert password not in str(info.value)
    assert "127.0.0.1" in str(info.value)
    s.close()


_CLIENT = textwrap.dedent(
    """
    import json, sys, time
    start_at = float(sys.argv[1])
    while time.time() < start_at:
        time.sleep(0.001)
    import jwstnb
    from jwstnb import localdb
    s = jwstnb.connect(timeout=30)
    s.insert(jwstnb.JwstDataModel(file_name=sys.argv[2], data_type="image"))
    print(json.dumps({"pid": localdb.status()["pid"], "total": s.search().total}))
    s.close()
    """
)


def test_two_processes_connecting_at_once_start_one_server(home: Path) -> None:
    """A fresh data dir, two processes calling connect() at the same instant: one daemon."""
    assert not home.exists()
    start_at = time.time() + 3.0  # both interpreters are up and waiting by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLIENT, str(start_at), f"proc{i}.fits"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for i in range(2)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert outputs[0]["pid"] == outputs[1]["pid"]
    assert _daemons_for(home) == [outputs[0]["pid"]]
    # Both wrote to the same database.
    with jwstnb.connect(timeout=10) as s:
        assert s.search().total == 2
    # The daemon outlived both processes that started it.
    assert localdb.status(home)["running"]


def test_data_dir_of_an_older_jwstnb_gets_the_kernel_account(home: Path) -> None:
    """An older jwstnb kept one root account in ``{"user", "password"}``: connect() keeps it as
    the owner's account, adds the limited one for kernels, and serves the same data."""
    provisioned = localdb._new_state()
    home.mkdir(mode=0o700)
    localdb._provision(home, provisioned, only_these=True)
    root_password = provisioned["admin_password"]
    legacy = {"user": "jwstnb", "password": root_password, "pid": None, "port": None}
    localdb._write_state(home, legacy)
    with jwstnb.connect(timeout=20) as s:
        assert s.role == "admin"
        rid = s.insert(JwstDataModel(file_name="old.fits", data_type="image"))
    state = json.loads((home / "localdb.json").read_text())
    assert state["admin_user"] == "jwstnb" and state["admin_password"] == root_password
    assert state["user"] == localdb.APP_USER and state["password"] not in (
        root_password,
        provisioned["password"],
    )
    assert localdb.ensure_running(home).startswith(f"mongodb://{localdb.APP_USER}:")
    with jwstnb.connect(localdb.ensure_running(home), timeout=10) as s:
        assert s.get(rid).file_name == "old.fits"
