"""Calibration provenance (DESIGN §12) through the session: what made each file, and which
files are stale after a new CRDS context; a reprocessing run claims exactly those."""

from __future__ import annotations

import pytest

from jwstnb import ingest, processing, samples
from jwstnb.errors import ValidationError
from jwstnb.session import Session
from jwstnb.storage import Storage

pytestmark = pytest.mark.integration


@pytest.fixture
def scanned(admin_session: Session, local_storage: Storage) -> Session:
    samples.write_sample(local_storage)
    report = ingest.scan(admin_session, local_storage, prefix="mast/", progress=False)
    assert not report.failed
    return admin_session


def test_made_before_a_context_finds_exactly_the_stale_files(scanned: Session) -> None:
    stale = scanned.search(made_before_context="jwst_1200.pmap", page_size=100)
    assert sorted(r.file_name for r in stale.items) == sorted(samples.STALE_FILES)
    for record in stale.items:
        assert record.calibration is not None
        assert record.calibration.crds_context == samples.OLDER_CONTEXT
        assert record.calibration.cal_ver and record.calibration.reference_files
    # contexts compare by number, in every spelling
    assert scanned.count(made_before_context=1200) == len(samples.STALE_FILES)
    assert scanned.count(crds_context=samples.OLDER_CONTEXT) == len(samples.STALE_FILES)
    current = scanned.count(crds_context=samples.CURRENT_CONTEXT)
    assert current > 0
    facets = scanned.counts().facets["crds_context"]
    assert facets[samples.OLDER_CONTEXT] == len(samples.STALE_FILES)
    assert facets[samples.CURRENT_CONTEXT] == current
    version = stale.items[0].calibration.cal_ver  # type: ignore[union-attr]
    assert {r.file_name for r in scanned.items(cal_ver=version, page_size=100)} >= set(
        samples.STALE_FILES)
    with pytest.raises(ValidationError, match="made_before_context"):
        scanned.search(made_before_context="jwst_nircam.imap")


def test_the_calibration_reads_use_their_indexes(scanned: Session) -> None:
    for criteria in ({"made_before_context": "jwst_1200.pmap"}, {"cal_ver": "1.14.0"},
                     {"crds_context": 1225}):
        plan = scanned.explain("search", **criteria)
        assert "COLLSCAN" not in plan["stages"], criteria
        assert plan["indexes"][0] in ("calibration.contextNumber_1", "calibration.calVer_1",
                                      plan["expected_index"]), (criteria, plan["indexes"])


def test_a_reprocessing_run_claims_only_the_stale_records(
    scanned: Session, local_storage: Storage
) -> None:
    seen: list[str] = []

    def recalibrate(record, storage):  # type: ignore[no-untyped-def]
        seen.append(record.file_name)
        return {"results": {"recalibrated": True}}

    report = processing.run(scanned, local_storage, recalibrate, progress=False,
                            made_before_context="jwst_1200.pmap")
    assert sorted(seen) == sorted(samples.STALE_FILES)
    assert len(report.completed) == len(samples.STALE_FILES)
