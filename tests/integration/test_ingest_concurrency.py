"""Scans that race each other or lose their database still end with exactly one record per
file and the right lineage."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pymongo import monitoring

from jwstnb import ingest, samples
from jwstnb.errors import ConnectionFailed
from jwstnb.session import Session, connect
from jwstnb.storage import Storage
from tests.fixtures_storage import make_fits_bytes
from tests.integration.test_ingest import _records, assert_nircam_lineage
from tests.servers import SecantusProcess

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

SCANNER = r"""
import json, sys, time
from pathlib import Path
from jwstnb import ingest
from jwstnb.session import connect
from jwstnb.storage import Storage

uri, database, url, me, other = sys.argv[1:6]
Path(me).touch()
deadline = time.monotonic() + 60
while not Path(other).exists() and time.monotonic() < deadline:  # start together
    time.sleep(0.01)
with connect(uri, admin=True, database=database, timeout=20) as session:
    report = ingest.scan(session, Storage(url), "mast/", workers=4, progress=False)
print(json.dumps({k: getattr(report, k) for k in ("imported", "updated", "skipped", "failed")}))
"""


def write_files(storage: Storage, extra: int) -> list[str]:
    """The sample plus ``extra`` small exposure files of another program."""
    keys = list(samples.write_sample(storage).keys)
    data = make_fits_bytes((16, 16))
    for i in range(extra):
        key = f"mast/extra/jw09999001001_02101_{i + 1:05d}_nrca1_cal.fits"
        storage.write_bytes(key, data)
        keys.append(key)
    return keys


def test_two_processes_scanning_at_once_make_no_duplicates(
    admin_session: Session, mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    storage = Storage((tmp_path / "store").as_uri())
    keys = write_files(storage, 120)
    a, b = tmp_path / "a.ready", tmp_path / "b.ready"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCANNER, mongo_uri, db_name, storage.url, str(me), str(other)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )
        for me, other in ((a, b), (b, a))
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    stored = _records(admin_session)  # asserts there is no duplicate filePath
    assert set(stored) == set(keys)
    # every file was inserted by exactly one of the two; the other found it there
    imported = [k for r in reports for k in r["imported"]]
    assert sorted(imported) == sorted(keys)
    for report in reports:
        assert report["failed"] == []
        seen = report["imported"] + report["updated"] + report["skipped"]
        assert sorted(seen) == sorted(keys)
    assert_nircam_lineage(admin_session)
    extra = admin_session.lineage("jw09999-o001_nircam")
    assert len(extra) == 120 and extra.edges == []


class InsertAcks(monitoring.CommandListener):
    """The filePaths of every insert the server acknowledged, and of those still unanswered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: dict[int, list[str]] = {}
        self.acked: set[str] = set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            with self.lock:
                self.sent[event.request_id] = [
                    d["filePath"] for d in event.command.get("documents", [])
                ]

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "insert":
            with self.lock:
                paths = self.sent.pop(event.request_id, [])
                assert event.reply.get("n") == len(paths) and not event.reply.get("writeErrors")
                self.acked.update(paths)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass  # stays in ``sent``: the server may or may not have applied it

    def unanswered(self) -> set[str]:
        with self.lock:
            return {path for paths in self.sent.values() for path in paths}


@pytest.mark.slow
def test_database_killed_mid_scan_then_scanned_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kill -9 the server partway through a scan: the scan raises ConnectionFailed promptly
    (it does not hang); every record the server had acknowledged is there after a restart on
    the same data, nothing else but the one insert command in flight; a re-scan ends with exactly
    one record per file and the right lineage."""
    monkeypatch.setattr(ingest, "INSERT_BATCH", 100)  # several batches of these 400 files
    server = SecantusProcess(tmp_path / "db")
    server.start()
    storage = Storage((tmp_path / "store").as_uri())
    keys = write_files(storage, 400)
    outcome: dict[str, object] = {}
    acks = InsertAcks()
    session = connect(
        server.uri, admin=True, database="outage", timeout=3, event_listeners=[acks]
    )
    try:
        def run() -> None:
            try:
                outcome["report"] = ingest.scan(session, storage, "mast/", progress=False)
            except BaseException as exc:  # recorded for the assertions below
                outcome["error"] = exc
            outcome["ended"] = time.monotonic()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        from pymongo import MongoClient

        probe: MongoClient = MongoClient(server.uri, serverSelectionTimeoutMS=2000)
        deadline = time.monotonic() + 120
        while probe.outage.jwst_data.estimated_document_count() < 40:
            assert worker.is_alive(), f"the scan ended before the kill: {outcome}"
            assert time.monotonic() < deadline, "the scan never got going"
            time.sleep(0.02)
        probe.close()
        server.stop(kill=True)
        killed = time.monotonic()
        worker.join(timeout=90)
        assert not worker.is_alive(), "the scan hung after the database went away"
        error = outcome.get("error")
        assert isinstance(error, ConnectionFailed), outcome
        assert "lost the database" in str(error)
        assert "run it again" in str(error) or "still running" in str(error)
        assert float(outcome["ended"]) - killed < 60  # type: ignore[arg-type]
    finally:
        session.close()
        server.stop(kill=True)

    server.start()  # same data directory, same port
    try:
        with connect(server.uri, admin=True, database="outage", timeout=10) as again:
            # what survived the kill: exactly the acknowledged inserts (journaled, so none is
            # lost), plus at most the one the scan had sent and not yet heard back about
            survived = set(_records(again))
            in_flight = acks.unanswered()
            # new files go in as one insert command per batch: at most one batch in flight
            assert len(acks.acked) >= 40 and len(in_flight) <= ingest.INSERT_BATCH
            assert acks.acked <= survived, sorted(acks.acked - survived)
            assert survived <= acks.acked | in_flight, sorted(survived - acks.acked)
            partial = again.count()
            assert partial == len(survived) < len(keys)
            report = ingest.scan(again, storage, "mast/", progress=False)
            assert report.failed == []
            assert sorted(report.imported + report.updated + report.skipped) == sorted(keys)
            assert len(report.imported) == len(keys) - partial
            stored = _records(again)
            assert set(stored) == set(keys)
            assert_nircam_lineage(again)
            assert len(again.lineage("jw09999-o001_nircam")) == 400
    finally:
        server.stop()
