"""A write jwstnb reports as done survives ``kill -9`` of the embedded database.

The embedded daemon syncs its log on every commit (``--sync-on-commit``) and sessions ask
for journaled acknowledgement; here N single inserts and a scan are acknowledged, the daemon
is killed hard right after the last one, and the next ``connect()`` (which restarts it on
the same data) finds every one of them. Several runs, each in its own JWSTNB_HOME.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

import jwstnb
from jwstnb import ingest, localdb
from jwstnb.schema import COLLECTION, DATABASE, JwstDataModel
from jwstnb.storage import Storage
from tests.fixtures_storage import make_fits_bytes
from tests.integration.test_localdb import _daemons_for, fresh_home

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_INSERTS = 500
N_FILES = 60


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from fresh_home(tmp_path, monkeypatch)


def _kill_hard(home: Path, pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _daemons_for(home) and time.monotonic() < deadline:
        time.sleep(0.02)


def _stored_names(home: Path) -> list[str]:
    root: MongoClient[dict[str, Any]] = MongoClient(localdb.admin_uri(home))
    try:
        coll = root[DATABASE][COLLECTION]
        return [doc["fileName"] for doc in coll.find({}, {"fileName": 1, "_id": 0})]
    finally:
        root.close()


@pytest.mark.parametrize("run", range(3))
def test_acknowledged_writes_survive_kill_9(home: Path, tmp_path: Path, run: int) -> None:
    storage = Storage((tmp_path / "store").as_uri())
    data = make_fits_bytes((16, 16))
    files = [f"durable/jw09999001001_02101_{i + 1:05d}_nrca1_cal.fits" for i in range(N_FILES)]
    for key in files:
        storage.write_bytes(key, data)
    names = [f"run{run}-write{i:04d}.fits" for i in range(N_INSERTS)]
    s = jwstnb.connect(timeout=20)
    try:
        report = ingest.scan(s, storage, "durable/", progress=False)
        assert len(report.imported) == N_FILES and report.failed == []
        killed = localdb.status(home)["pid"]
        ids = [
            s.insert(JwstDataModel(file_name=name, data_type="image", is_public=i % 2 == 0))
            for i, name in enumerate(names)
        ]
        _kill_hard(home, killed)  # at once after the last acknowledgement
    finally:
        s.close()
    assert _daemons_for(home) == []
    with jwstnb.connect(timeout=20) as again:
        assert localdb.status(home)["pid"] != killed  # a new daemon on the same data
        assert again.count() == N_INSERTS + N_FILES
        assert again.get(ids[0]).file_name == names[0]
        assert again.get(ids[-1]).file_name == names[-1]
    stored = _stored_names(home)
    assert len(stored) == len(set(stored))
    assert sorted(stored) == sorted(names + [Path(key).name for key in files])
