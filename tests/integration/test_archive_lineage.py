"""Real-archive lineage on the server: processing outputs survive scans and imports, and a
candidate mosaic's lineage reaches every observation it combines, in any import order."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from jwstnb import ingest, samples
from jwstnb.schema import JwstDataModel, ProcessingResult
from jwstnb.session import Session
from jwstnb.storage import Storage

pytestmark = pytest.mark.integration

LINEAGE_FIELDS = ("processingLevel", "observationBaseId", "exposureId", "parentId",
                  "derivedFrom", "dataType", "userId")


def _fits() -> bytes:
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4), "f4"), name="SCI")]).writeto(
        buffer
    )
    return buffer.getvalue()


def _lineage_of(session: Session, record_id: str) -> dict[str, Any]:
    doc = session.collection.find_one({"_id": session.get(record_id).id})
    assert doc is not None
    return {k: doc.get(k) for k in LINEAGE_FIELDS}


def test_processing_outputs_keep_their_lineage_through_scans_and_imports(
    admin_session: Session, tmp_path: Path
) -> None:
    storage = Storage((tmp_path / "store").as_uri())
    samples.seed(admin_session, storage)
    source = admin_session.search(text="cal", instrument="NIRCAM", processing_level="L2b").items[0]
    # An admin run's output (named by a processing result) and a user's own derived file.
    outputs = {}
    for owner, key in ((None, "derived/a_bkgsub.fits"), ("alice", "derived/b_bkgsub.fits")):
        storage.write_bytes(key, _fits())
        session = admin_session if owner is None else admin_session.as_user("alice")
        outputs[key] = session.insert(JwstDataModel(
            file_name=key.rsplit("/", 1)[1], file_path=key, data_type="image",
            processing_level=source.processing_level, processing_status="completed",
            observation_base_id=source.observation_base_id, exposure_id=source.exposure_id,
            parent_id=str(source.id), derived_from=[str(source.id)], is_public=owner is None,
        ))
    admin_session.add_result(source.id, ProcessingResult(
        algorithm="bkg", output_file_path="derived/a_bkgsub.fits"))
    before = {key: _lineage_of(admin_session, rid) for key, rid in outputs.items()}

    first = ingest.scan(admin_session, storage, progress=False)
    second = ingest.scan(admin_session, storage, progress=False)
    samples.seed(admin_session, storage)  # import the MAST rows again
    for key, rid in outputs.items():
        assert _lineage_of(admin_session, rid) == before[key], key
        # one record per file: the scan refreshed the output instead of adding a public copy
        assert admin_session.collection.count_documents({"filePath": key}) == 1
    assert not first.failed and not second.failed
    assert set(outputs) <= set(first.updated + first.skipped)
    assert set(outputs) <= set(second.skipped)
    alice_output = admin_session.get(outputs["derived/b_bkgsub.fits"])
    assert alice_output.user_id == "alice" and not alice_output.is_public


# A candidate association (c1001) combining two observations of program 02727.
OBS_A = "jw02727-o001_t001_nircam_clear-f200w"
OBS_B = "jw02727-o002_t001_nircam_clear-f200w"
CANDIDATE = "jw02727-c1001_t062_nircam_clear-f200w"
EXPOSURES = {"jw02727001001_02101_00001": OBS_A, "jw02727002001_02101_00001": OBS_B}


def _rows() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    def obs(obs_id: str) -> dict[str, Any]:
        return {"obs_id": obs_id, "instrument_name": "NIRCAM/IMAGE", "filters": "F200W",
                "target_name": "FIELD", "proposal_id": "2727", "s_ra": 10.0, "s_dec": 20.0,
                "calib_level": 3, "t_min": 59800.0}

    def product(obs_id: str, name: str) -> dict[str, Any]:
        return {"obs_id": obs_id, "productFilename": name, "size": 1000}

    rows = {}
    for exposure, obs_id in EXPOSURES.items():
        names = [f"{exposure}_nrca1_{s}.fits" for s in ("uncal", "rate", "cal")]
        names.append(f"{obs_id}_i2d.fits")
        rows[obs_id] = (obs(obs_id), [product(obs_id, n) for n in names])
    cand = [f"{e}_nrca1_c1001_crf.fits" for e in EXPOSURES] + [f"{CANDIDATE}_i2d.fits"]
    rows[CANDIDATE] = (obs(CANDIDATE), [product(CANDIDATE, n) for n in cand])
    return rows


@pytest.mark.parametrize(
    "order",
    [(OBS_A, OBS_B, CANDIDATE), (CANDIDATE, OBS_B, OBS_A), (OBS_B, CANDIDATE, OBS_A)],
    ids=["observations-first", "candidate-first", "candidate-between"],
)
def test_a_candidate_mosaic_reaches_every_contributing_exposure(
    admin_session: Session, order: tuple[str, str, str]
) -> None:
    rows = _rows()
    for obs_id in order:
        report = ingest.import_mast(admin_session, *rows[obs_id])
        assert not report.failed, report.failed
    group = "jw02727-c1001_t062_nircam"
    tree = admin_session.lineage(group)
    own = sorted(n.file_name for n in tree.nodes if not n.external)
    assert own == sorted([f"{e}_nrca1_c1001_crf.fits" for e in EXPOSURES]
                         + [f"{CANDIDATE}_i2d.fits"])
    external = {n.file_name: n.observation_base_id for n in tree.nodes if n.external}
    assert external == {
        "jw02727001001_02101_00001_nrca1_cal.fits": "jw02727-o001_t001_nircam",
        "jw02727002001_02101_00001_nrca1_cal.fits": "jw02727-o002_t001_nircam",
    }
    mosaic = next(n for n in tree.nodes if n.file_name.endswith("_i2d.fits"))
    found = tree.contributors(mosaic.id)
    assert set(found.observations) == {"jw02727-o001_t001_nircam", "jw02727-o002_t001_nircam"}
    assert set(found.exposures) == set(EXPOSURES)
    # The observations' own groups are unchanged: their files, their mosaic's inputs.
    for exposure, obs_id in EXPOSURES.items():
        key = obs_id.rsplit("_", 1)[0]
        obs_tree = admin_session.lineage(key)
        mine = sorted(n.file_name for n in obs_tree.nodes if not n.external)
        assert mine == sorted([f"{exposure}_nrca1_{s}.fits" for s in ("uncal", "rate", "cal")]
                              + [f"{obs_id}_i2d.fits"])
        i2d = next(n for n in obs_tree.nodes if n.file_name == f"{obs_id}_i2d.fits")
        cal = next(n for n in obs_tree.nodes if n.file_name.endswith("_cal.fits"))
        assert i2d.parent_id == cal.id


def test_a_file_two_mounts_reach_is_one_record(admin_session: Session, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "mast").mkdir(parents=True)
    storage = Storage({"": data.as_uri(), "mirror/": (data / "mast").as_uri()})
    storage.write_bytes("mirror/jw02733001001_02101_00001_nrca1_cal.fits", _fits())
    first = ingest.scan(admin_session, storage, "", progress=False)  # reaches it as mast/...
    second = ingest.scan(admin_session, storage, "mirror/", progress=False)
    assert first.imported == ["mirror/jw02733001001_02101_00001_nrca1_cal.fits"]
    assert second.skipped == first.imported
    assert admin_session.count() == 1


def test_a_scan_lists_bombs_in_failed_and_imports_every_good_file(
    admin_session: Session, tmp_path: Path
) -> None:
    import gzip
    import struct
    import zlib

    storage = Storage((tmp_path / "store").as_uri())
    storage.write_bytes("good/jw02733001001_02101_00001_nrca1_cal.fits", _fits())
    # a PNG whose header claims 30000 x 30000 pixels
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
           + chunk(b"IDAT", zlib.compress(b"\0" * 30001)) + chunk(b"IEND", b""))
    storage.write_bytes("good/huge.png", png)
    # a gzip FITS that inflates far past the limit (a small one: the limit is per Storage)
    header = fits.Header({"SIMPLE": True, "BITPIX": 8, "NAXIS": 1, "NAXIS1": 40_000_000})
    blob = header.tostring().encode() + b"\0" * 40_000_000
    storage.write_bytes("good/bomb_cal.fits.gz", gzip.compress(blob, compresslevel=1))
    small = Storage((tmp_path / "store").as_uri(), max_inflate_bytes=2**20)
    report = ingest.scan(admin_session, small, "good/", progress=False)
    failed = dict(report.failed)
    assert set(failed) == {"good/huge.png", "good/bomb_cal.fits.gz"}
    assert "pixel" in failed["good/huge.png"] and "limit" in failed["good/bomb_cal.fits.gz"]
    assert report.imported == ["good/jw02733001001_02101_00001_nrca1_cal.fits"]
