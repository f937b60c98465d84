"""Scans and processing runs on a real Dask LocalCluster (two worker processes) reading a moto
S3 bucket, writing into SecantusDB: exact and idempotent scans, and a processing run that
loses a worker mid-run and still finishes every record exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from jwstnb import ingest, processing
from jwstnb.processing import ProcessingOutput
from jwstnb.schema import JwstDataModel
from jwstnb.session import Session
from jwstnb.storage import Storage
from tests.fixtures_storage import make_fits_bytes

pytestmark = pytest.mark.integration


@pytest.fixture
def client(s3_endpoint: str) -> Iterator[Any]:
    """A LocalCluster of two single-thread worker processes on 127.0.0.1, no dashboard; one
    per test (a test kills workers). Made after the moto server, so the workers inherit its
    test credentials."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=40,
    )
    dask_client = Client(cluster)
    try:
        yield dask_client
    finally:
        dask_client.close()
        cluster.close()


def exposure_names(i: int) -> dict[str, str]:
    """Four linked files of one observation: an exposure's chain and its mosaic."""
    program, obs = 1000 + i // 50, 1 + i % 50
    base = f"jw{program:05d}{obs:03d}001_02101_00001_nrca1"
    return {
        f"{base}_uncal.fits": "L1",
        f"{base}_rate.fits": "L2a",
        f"{base}_cal.fits": "L2b",
        f"jw{program:05d}-o{obs:03d}_t001_nircam_clear-f090w_i2d.fits": "L3",
    }


def archive_names(chains: int, singles: int) -> dict[str, str]:
    """File name -> level: ``chains`` linked observations (four files each), then
    ``singles`` files that link to nothing (each exposure one product, mosaics of other
    observations), so the lineage pass stays small and the run measures the cluster."""
    names = {n: level for i in range(chains) for n, level in exposure_names(i).items()}
    for i in range(singles):
        k, kind = divmod(i, 4)
        program, obs = 1100 + k // 100, 1 + k % 100
        exposure = f"jw{program:05d}{obs:03d}001_02101_{kind + 1:05d}_nrca1"
        single = (
            (f"{exposure}_uncal.fits", "L1"),
            (f"{exposure}_rate.fits", "L2a"),
            (f"{exposure}_cal.fits", "L2b"),
            (f"jw{program:05d}-o{obs + 200:03d}_t001_nircam_clear-f090w_i2d.fits", "L3"),
        )[kind]
        names[single[0]] = single[1]
    return names


def write_files(storage: Storage, names: dict[str, str], prefix: str) -> dict[str, str]:
    """Small FITS files under ``prefix`` (eight threads); returns key -> expected level."""
    data = make_fits_bytes((8, 8))
    wanted = {f"{prefix}{name}": level for name, level in names.items()}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: storage.write_bytes(key, data), wanted))
    return wanted


def test_a_cluster_scan_of_2000_files_is_exact_and_idempotent(
    admin_session: Session, s3_storage: Storage, client: Any
) -> None:
    wanted = write_files(s3_storage, archive_names(10, 1960), "mast/")
    assert len(wanted) == 2000

    first = ingest.scan(admin_session, s3_storage, "mast/", executor=client, progress=False)
    assert sorted(first.imported) == sorted(wanted)
    assert first.updated == first.skipped == first.failed == []
    stored = admin_session.records_at(sorted(wanted))
    assert len(stored) == 2000 and admin_session.count() == 2000
    assert {k: d["processingLevel"] for k, d in stored.items()} == wanted
    assert Counter(wanted.values()) == Counter({"L1": 500, "L2a": 500, "L2b": 500, "L3": 500})
    # headers were read on the workers: instrument and filter come from them
    some = stored["mast/" + next(iter(exposure_names(7)))]
    assert some["imageInfo"]["filter"] == "F090W" and some["imageInfo"]["instrument"] == "NIRCAM"
    # lineage over what the workers read: rate's parent is its uncal, in one group
    uncal, rate, cal, i2d = (stored["mast/" + n] for n in exposure_names(7))
    assert rate["parentId"] == str(uncal["_id"]) and cal["parentId"] == str(rate["_id"])
    assert i2d["derivedFrom"] == [str(cal["_id"])]
    assert len({d["observationBaseId"] for d in (uncal, rate, cal, i2d)}) == 1

    # the same code against a scheduler address (what a remote cluster gives)
    address = client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    second = ingest.scan(admin_session, s3_storage, "mast/", executor=address, progress=False)
    assert second.imported == second.updated == second.failed == []
    assert sorted(second.skipped) == sorted(wanted)
    again = admin_session.records_at(sorted(wanted))
    assert {k: d["_id"] for k, d in again.items()} == {k: d["_id"] for k, d in stored.items()}
    assert admin_session.count() == 2000


HANG_MARKER = "markers/hanging-worker.txt"


def copy_slowly(record: JwstDataModel, storage: Storage) -> ProcessingOutput:
    """Read the file by key on the worker and write a copy. The first task of the record
    named in ``hang.txt`` leaves its worker's pid in storage and waits to be killed."""
    data = storage.read_bytes(record.file_path)
    hang = storage.read_bytes("markers/hang.txt").decode()
    if record.file_path == hang and not storage.exists(HANG_MARKER):
        storage.write_bytes(HANG_MARKER, str(os.getpid()).encode())
        time.sleep(60)
    time.sleep(0.05)
    return ProcessingOutput(results={"bytes": len(data), "pid": os.getpid()}, data=data,
                            tags=["copied"])


def test_a_run_that_loses_a_worker_finishes_every_record_once(
    admin_session: Session, s3_storage: Storage, client: Any
) -> None:
    write_files(s3_storage, archive_names(5, 180), "mast/")
    ingest.scan(admin_session, s3_storage, "mast/", executor=client, progress=False)
    inputs = {str(r.id): r for r in admin_session.items(page_size=500)}
    assert len(inputs) == 200

    # With no retries allowed, a task running on the killed worker is lost for this run
    # (KilledWorker) rather than rerun elsewhere: its record must come back via its lease.
    scheduler = client.cluster.scheduler
    allowed, scheduler.allowed_failures = scheduler.allowed_failures, 0
    pids = set(client.run(os.getpid).values())
    hanging = sorted(r.file_path for r in inputs.values())[60]
    s3_storage.write_bytes("markers/hang.txt", hanging.encode())
    killed: list[int] = []

    def kill_one_worker_mid_run() -> None:
        # once some records are done and the chosen task runs: kill the worker running it
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            s3_storage.exists(HANG_MARKER) and admin_session.count(status="completed") >= 10
        ):
            time.sleep(0.1)
        pid = int(s3_storage.read_bytes(HANG_MARKER))
        assert pid in pids
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_one_worker_mid_run)
    killer.start()
    try:
        first = processing.run(admin_session, s3_storage, copy_slowly, executor=client,
                               lease_seconds=5, progress=False)
    finally:
        killer.join(150)
        scheduler.allowed_failures = allowed
    assert killed, "the worker was not killed"
    assert 10 <= len(first.completed) < 200 and first.failed == []
    (hang_id,) = [rid for rid, r in inputs.items() if r.file_path == hanging]
    assert hang_id in first.lost  # its task died with the worker
    lost = set(first.lost)
    for rid in lost:  # left as they were: processing, under the dead run's lease
        assert admin_session.get(rid).processing_status == "processing"

    time.sleep(5.5)  # the lease runs out
    second = processing.run(admin_session, s3_storage, copy_slowly, executor=client,
                            lease_seconds=5, progress=False)
    assert set(second.completed) == lost and second.failed == second.lost == []
    assert set(first.completed) | set(second.completed) == set(inputs)
    assert not set(first.completed) & set(second.completed)
    assert admin_session.count(status="processing") == 0

    outputs = [r for r in admin_session.items(page_size=500) if str(r.id) not in inputs]
    assert len(outputs) == 200 == len(first.outputs) + len(second.outputs)
    by_parent = {r.parent_id: r for r in outputs}
    assert set(by_parent) == set(inputs)  # one output per input
    for rid, record in inputs.items():
        done = admin_session.get(rid)
        assert done.processing_status == "completed"
        (result,) = done.processing_results  # exactly once
        assert result.results["bytes"] == record.file_size
        out = by_parent[rid]
        assert out.file_path == result.output_file_path
        assert out.derived_from == [rid]
        assert out.observation_base_id == record.observation_base_id
        assert out.exposure_id == record.exposure_id
        assert out.processing_level == record.processing_level
        assert s3_storage.read_bytes(out.file_path) == s3_storage.read_bytes(record.file_path)
    # the work really ran in worker processes, never in this one
    worker_pids = {admin_session.get(r).processing_results[0].results["pid"] for r in inputs}
    assert os.getpid() not in worker_pids and len(worker_pids) >= 2
