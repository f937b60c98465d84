"""Processing runs on threads against a real SecantusDB and real files: results and derived
records with lineage, failures, two runs racing for the same records, and leases (renewed
while a task runs, reclaimed after they expire)."""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest

from jwstnb import ingest, processing
from jwstnb.errors import ValidationError
from jwstnb.processing import ProcessingOutput
from jwstnb.schema import JwstDataModel
from jwstnb.session import Session
from jwstnb.storage import Storage
from tests.fixtures_storage import make_fits_bytes

pytestmark = pytest.mark.integration


def exposure_key(i: int) -> str:
    return f"mast/jw02733001001_02101_{i + 1:05d}_nrca1_cal.fits"


def write_exposures(storage: Storage, n: int, shape: tuple[int, int] = (16, 16)) -> list[str]:
    """``n`` small cal exposures (each with different pixels), scanned into records."""
    keys = []
    for i in range(n):
        keys.append(exposure_key(i))
        storage.write_bytes(keys[-1], make_fits_bytes(shape, seed=i))
    return keys


def scanned(session: Session, storage: Storage, n: int) -> dict[str, JwstDataModel]:
    keys = write_exposures(storage, n)
    report = ingest.scan(session, storage, "mast/", progress=False)
    assert sorted(report.imported) == sorted(keys)
    return {r.file_path: r for r in session.items(page_size=500) if r.file_path in keys}


def doubled(record: JwstDataModel, storage: Storage) -> ProcessingOutput:
    """Read the SCI plane by storage key; keep its mean; write the plane doubled as FITS."""
    from astropy.io import fits

    with storage.open_fits(record.file_path) as hdul:
        sci = np.asarray(hdul["SCI"].data, dtype="float64")
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sci * 2, name="SCI")]).writeto(out)
    return ProcessingOutput(
        results={"mean": np.float64(sci.mean()), "shape": np.array(sci.shape)},
        parameters={"factor": 2},
        data=out.getvalue(),
        tags=["doubled"],
    )


def sci_mean(storage: Storage, key: str) -> float:
    from astropy.io import fits

    with fits.open(io.BytesIO(storage.read_bytes(key))) as hdul:
        return float(np.asarray(hdul["SCI"].data, dtype="float64").mean())


def test_thread_run_records_results_and_linked_outputs(
    admin_session: Session, local_storage: Storage
) -> None:
    inputs = scanned(admin_session, local_storage, 6)
    report = processing.run(admin_session, local_storage, doubled, progress=False)
    assert sorted(report.completed) == sorted(str(r.id) for r in inputs.values())
    assert report.failed == [] and report.skipped == [] and report.lost == []
    assert len(report.outputs) == 6
    assert str(report).startswith("6 completed, 0 failed, 0 skipped, 6 outputs")

    for key, before in inputs.items():
        record = admin_session.get(str(before.id))
        assert record.processing_status == "completed"
        assert len(record.processing_results) == 1
        result = record.processing_results[0]
        assert result.algorithm == "doubled" and result.status == "completed"
        assert result.parameters == {"factor": 2}
        assert result.results["mean"] == pytest.approx(sci_mean(local_storage, key))
        assert result.results["shape"] == [16, 16]
        out_key = result.output_file_path
        assert out_key == "derived/" + key.replace("_cal.fits", "_cal_doubled.fits")
        assert sci_mean(local_storage, out_key) == pytest.approx(2 * result.results["mean"])

        (output,) = [r for r in admin_session.items(page_size=100) if r.file_path == out_key]
        assert str(output.id) in report.outputs
        assert output.parent_id == str(before.id) and output.derived_from == [str(before.id)]
        assert output.observation_base_id == before.observation_base_id is not None
        assert output.exposure_id == before.exposure_id is not None
        assert output.processing_level == before.processing_level == "L2b"
        assert output.processing_status == "completed"
        assert "doubled" in output.tags
        assert output.metadata["derived_by"] == "doubled"
        assert output.file_size == len(local_storage.read_bytes(out_key))

    # nothing is pending any more: outputs are not taken as new work
    again = processing.run(admin_session, local_storage, doubled, progress=False)
    assert again.completed == again.failed == again.outputs == []
    # a rescan keeps the outputs' lineage (a processing result names them)
    ingest.scan(admin_session, local_storage, "", progress=False)
    outputs = [r for r in admin_session.items(page_size=100) if r.file_path.startswith("derived/")]
    assert len(outputs) == 6
    assert all(r.parent_id and r.derived_from == [r.parent_id] for r in outputs)


def test_a_failing_func_fails_only_its_record_with_the_error(
    admin_session: Session, local_storage: Storage
) -> None:
    inputs = scanned(admin_session, local_storage, 4)
    bad = exposure_key(2)

    def picky(record: JwstDataModel, storage: Storage) -> dict[str, Any]:
        if record.file_path == bad:
            raise RuntimeError(f"cannot measure {record.file_name}")
        return {"size": storage.size(record.file_path)}

    report = processing.run(admin_session, local_storage, picky, algorithm="measure",
                            progress=False)
    bad_id = str(inputs[bad].id)
    assert report.failed == [(bad_id, f"RuntimeError: cannot measure {inputs[bad].file_name}")]
    assert sorted(report.completed) == sorted(str(r.id) for k, r in inputs.items() if k != bad)
    assert report.outputs == []  # a dict is results only: no output file, no derived record
    failed = admin_session.get(bad_id)
    assert failed.processing_status == "failed"
    (result,) = failed.processing_results
    assert result.status == "failed" and result.algorithm == "measure"
    assert "cannot measure" in result.results["error"] and result.output_file_path is None
    good = admin_session.get(str(inputs[exposure_key(0)].id))
    assert good.processing_results[0].results["size"] == local_storage.size(exposure_key(0))
    assert admin_session.count(status="processing") == 0


def test_two_runs_at_once_process_each_record_once(
    admin_session: Session, local_storage: Storage
) -> None:
    inputs = scanned(admin_session, local_storage, 24)
    calls: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(2)

    def slow(record: JwstDataModel, storage: Storage) -> dict[str, Any]:
        with lock:
            calls[str(record.id)] += 1
        time.sleep(0.02)
        return {"bytes": len(storage.read_bytes(record.file_path))}

    reports: list[processing.RunReport] = []

    def one_run() -> None:
        start.wait()
        reports.append(processing.run(admin_session.as_admin(), local_storage, slow,
                                      workers=3, progress=False))

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(reports) == 2
    ids = {str(r.id) for r in inputs.values()}
    done = [set(r.completed) for r in reports]
    assert done[0] | done[1] == ids and not done[0] & done[1]
    assert calls == Counter({rid: 1 for rid in ids})  # func ran once per record
    for rid in ids:
        assert len(admin_session.get(rid).processing_results) == 1


def test_leases_are_renewed_while_running_and_reclaimed_after_expiry(
    admin_session: Session, local_storage: Storage
) -> None:
    inputs = scanned(admin_session, local_storage, 3)
    stuck, long_one, other = (str(inputs[exposure_key(i)].id) for i in range(3))
    # a worker that claimed a record and died: its lease runs out in a moment
    assert admin_session.claim(stuck, "dead-worker", lease_seconds=1.0) is not None
    started = threading.Event()

    def patient(record: JwstDataModel, storage: Storage) -> dict[str, Any]:
        if str(record.id) == long_one:
            started.set()
            time.sleep(2.0)  # twice the lease: only renewals keep the claim
        return {"ok": True}

    intruder: list[Any] = []

    def try_to_steal() -> None:
        started.wait(10)
        time.sleep(1.4)  # past the first lease's end
        intruder.append(admin_session.claim(long_one, "intruder", lease_seconds=5))

    thief = threading.Thread(target=try_to_steal)
    thief.start()
    first = processing.run(admin_session, local_storage, patient, lease_seconds=1.0,
                           progress=False)
    thief.join(10)
    assert intruder == [None]  # the running task's lease was renewed
    assert sorted(first.completed) == sorted([long_one, other])
    assert stuck not in first.completed + first.skipped  # still leased: not selected

    time.sleep(max(0.0, 1.1 - first.seconds))
    assert admin_session.get(stuck).processing_status == "processing"
    second = processing.run(admin_session, local_storage, patient, progress=False)
    assert second.completed == [stuck]
    # the dead worker's late answer is dropped: the record finished once
    assert admin_session.finish(stuck, "dead-worker", "completed") is None
    assert len(admin_session.get(stuck).processing_results) == 1
    assert admin_session.count(status="processing") == 0


def test_limit_and_bad_arguments(admin_session: Session, local_storage: Storage) -> None:
    scanned(admin_session, local_storage, 5)
    report = processing.run(admin_session, local_storage, lambda r, s: None, limit=2,
                            algorithm="noop", progress=False)
    assert len(report.completed) == 2
    assert admin_session.count(status="pending") == 3
    with pytest.raises(ValidationError, match="status"):
        processing.run(admin_session, local_storage, doubled, status="failed")
    with pytest.raises(ValidationError, match="executor"):
        processing.run(admin_session, local_storage, doubled, executor=object())
    with pytest.raises(ValidationError, match="instrumnt"):
        processing.run(admin_session, local_storage, doubled, instrumnt="NIRCAM")
