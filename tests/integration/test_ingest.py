"""Scan and MAST import against a real database (SecantusDB or JWSTNB_TEST_MONGO_URI), on
local files and on moto's S3 server."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from jwstnb import ingest, samples
from jwstnb.errors import AccessDenied
from jwstnb.schema import DataType, ProcessingLevel, mjd_to_datetime
from jwstnb.session import Session
from jwstnb.storage import Storage
from tests.fixtures_storage import NOT_FITS, header_corrupt, make_fits_bytes, truncated

pytestmark = pytest.mark.integration

NIRCAM = f"mast/{samples.NIRCAM_OBS_ID}/"
NIRSPEC = f"mast/{samples.NIRSPEC_OBS_ID}/"
I2D = "jw02733-o001_t001_nircam_clear-f090w_i2d.fits"
CAT = "jw02733-o001_t001_nircam_clear-f090w_cat.ecsv"
SEGM = "jw02733-o001_t001_nircam_clear-f090w_segm.fits"
ASN = "jw02733-o001_20220707t165838_image3_001_asn.json"
CHAINS = [
    f"jw02733001001_02101_{expo}_{det}"
    for expo in ("00001", "00002")
    for det in ("nrca1", "nrcb1")
]


def _records(session: Session) -> dict[str, dict]:
    """Every stored document by filePath (raw, so duplicates would show)."""
    docs = list(session.collection.find({}))
    paths = [d["filePath"] for d in docs]
    assert len(paths) == len(set(paths)), "duplicate records"
    return {d["filePath"]: d for d in docs}


def expected_nircam_edges(with_asn: bool = True) -> set[tuple[str, str]]:
    """The lineage edges of the sample's NIRCam observation, as (parent, child) file names."""
    edges = set()
    for chain in CHAINS:
        edges |= {
            (f"{chain}_uncal.fits", f"{chain}_rate.fits"),
            (f"{chain}_rate.fits", f"{chain}_cal.fits"),
            (f"{chain}_cal.fits", f"{chain}_o001_crf.fits"),
        }
        # the i2d derives from its association's members (the cal files) ...
        edges.add((f"{chain}_cal.fits", I2D))
        if not with_asn:  # ... else from the group's L2b cal and crf files
            edges.add((f"{chain}_o001_crf.fits", I2D))
    edges |= {(I2D, CAT), (I2D, SEGM)}
    return edges


def assert_nircam_lineage(session: Session, with_asn: bool = True) -> None:
    lineage = session.lineage(samples.NIRCAM_OBSERVATION)
    names = {node.id: node.file_name for node in lineage}
    assert sorted(names.values()) == sorted(
        k.rsplit("/", 1)[1] for k in _records(session) if k.startswith(NIRCAM)
    )
    assert len(lineage) == 20
    edges = {(names[p], names[c]) for p, c in lineage.edges}
    assert edges == expected_nircam_edges(with_asn)
    levels = {level: sorted(n.file_name for n in nodes) for level, nodes in lineage.levels.items()}
    assert len(levels["L1"]) == 4 and len(levels["L2a"]) == 4 and len(levels["L2b"]) == 8
    assert levels["L3"] == sorted([I2D, CAT, SEGM]) and levels["unknown"] == [ASN]
    by_name = {n.file_name: n for n in lineage}
    ids = {n.file_name: n.id for n in lineage}
    for chain in CHAINS:
        assert by_name[f"{chain}_rate.fits"].parent_id == ids[f"{chain}_uncal.fits"]
        assert by_name[f"{chain}_cal.fits"].parent_id == ids[f"{chain}_rate.fits"]
        assert by_name[f"{chain}_o001_crf.fits"].parent_id == ids[f"{chain}_cal.fits"]
        assert by_name[f"{chain}_uncal.fits"].parent_id is None
    i2d = by_name[I2D]
    assert i2d.parent_id is None  # several parents: only derivedFrom
    assert len(i2d.derived_from) == (4 if with_asn else 8)
    assert by_name[CAT].parent_id == by_name[SEGM].parent_id == i2d.id
    assert by_name[ASN].parent_id is None and not by_name[ASN].derived_from


def test_scan_imports_the_sample_and_is_idempotent(
    admin_session: Session, storage: Storage
) -> None:
    sample = samples.write_sample(storage)
    first = ingest.scan(admin_session, storage, "mast/", progress=False)
    assert sorted(first.imported) == sorted(sample.keys)
    assert first.updated == first.skipped == first.failed == []
    before = _records(admin_session)
    assert set(before) == set(sample.keys)

    second = ingest.scan(admin_session, storage, "mast/", workers=3, progress=False)
    assert second.imported == second.updated == second.failed == []
    assert sorted(second.skipped) == sorted(sample.keys)
    after = _records(admin_session)
    assert {k: d["_id"] for k, d in after.items()} == {k: d["_id"] for k, d in before.items()}
    for key in sample.keys:
        old, new = dict(before[key]), dict(after[key])
        assert old == new, key

    # a changed file is updated in place, the rest skipped
    from astropy.io import fits

    key = NIRCAM + f"{CHAINS[0]}_rate.fits"
    with fits.open(io.BytesIO(storage.read_bytes(key))) as hdul:
        hdul[0].header["TARGNAME"] = "NGC 3132 renamed"
        out = io.BytesIO()
        hdul.writeto(out)
    storage.write_bytes(key, out.getvalue())
    third = ingest.scan(admin_session, storage, "mast/", progress=False)
    assert third.updated == [key] and third.imported == []
    assert len(third.skipped) == len(sample.keys) - 1
    changed = _records(admin_session)[key]
    assert changed["_id"] == before[key]["_id"]
    assert changed["imageInfo"]["targetName"] == "NGC 3132 renamed"
    assert_nircam_lineage(admin_session)


def test_scan_records_carry_header_facts(admin_session: Session, local_storage: Storage) -> None:
    samples.write_sample(local_storage)
    ingest.scan(admin_session, local_storage, progress=False)
    records = {r.file_path: r for r in admin_session.search(page_size=100).items}
    cal = records[NIRCAM + f"{CHAINS[0]}_cal.fits"]
    assert cal.user_id is None and cal.is_public is True
    assert cal.file_size == local_storage.size(cal.file_path)
    assert cal.file_format == "fits" and cal.data_type == DataType.IMAGE
    assert cal.processing_level == ProcessingLevel.L2B
    assert cal.exposure_id == "jw02733001001_02101_00001"
    info = cal.image_info
    assert info is not None
    assert (info.target_name, info.instrument, info.filter) == ("NGC-3132", "NIRCAM", "F090W")
    assert info.exposure_time == pytest.approx(1245.465)
    assert info.observation_date == datetime(2022, 6, 3, 11, 54, 53, tzinfo=UTC)
    assert info.proposal_id == "2733" and info.proposal_pi == "Pontoppidan, Klaus"
    assert info.wavelength_range == "INFRARED" and info.calibration_level == 2
    assert info.coordinate_system == "ICRS"
    assert info.wcs is not None and info.wcs["ctype"] == ["RA---TAN", "DEC--TAN"]
    assert info.wcs["center"][0] == pytest.approx(151.7507, abs=1e-3)
    assert cal.metadata["fits"]["SYNTHETC"] is True
    assert [h["name"] for h in cal.metadata["hdus"]] == ["PRIMARY", "SCI", "ERR", "DQ", "AREA"]
    rate = records[NIRCAM + f"{CHAINS[0]}_rate.fits"]
    assert rate.data_type == DataType.SENSOR and rate.sensor_info is not None
    assert rate.sensor_info.data_points == 64 * 64 and rate.sensor_info.detector_type == "NRCA1"
    asn = records[NIRCAM + ASN]
    assert asn.metadata["asn_product"] == samples.NIRCAM_OBS_ID
    assert sorted(asn.metadata["asn_members"]) == sorted(f"{c}_cal.fits" for c in CHAINS)
    assert not asn.is_viewable and asn.data_type == DataType.METADATA
    cat = records[NIRCAM + CAT]
    assert cat.file_format == "ecsv" and "xcentroid" in cat.metadata["columns"]
    x1d = records[NIRSPEC + "jw01366004001_04101_00001_nrs1_x1d.fits"]
    assert x1d.data_type == DataType.SPECTRAL and not x1d.is_viewable
    assert x1d.image_info is not None and x1d.image_info.instrument == "NIRSPEC"
    # the NIRSpec exposure is its own observation: cal -> s2d, cal -> x1d
    nirspec = admin_session.lineage(samples.NIRSPEC_OBSERVATION)
    names = {n.id: n.file_name for n in nirspec}
    base = "jw01366004001_04101_00001_nrs1"
    assert {(names[p], names[c]) for p, c in nirspec.edges} == {
        (f"{base}_rate.fits", f"{base}_cal.fits"),
        (f"{base}_cal.fits", f"{base}_s2d.fits"),
        (f"{base}_cal.fits", f"{base}_x1d.fits"),
    }


def test_scan_stores_calibration_and_association_roles(
    admin_session: Session, local_storage: Storage
) -> None:
    samples.write_sample(local_storage)
    ingest.scan(admin_session, local_storage, progress=False)
    docs = _records(admin_session)
    stale = docs[NIRCAM + samples.STALE_FILES[0]]["calibration"]
    assert (stale["crdsContext"], stale["contextNumber"]) == (samples.OLDER_CONTEXT, 1100)
    assert stale["calVer"] == "1.11.4" and stale["referenceFiles"]["dark"].endswith("0302.fits")
    current = docs[NIRCAM + f"{CHAINS[3]}_cal.fits"]["calibration"]
    assert current["contextNumber"] == 1225 and current["crdsVer"] == "11.17.19"
    assert docs[NIRCAM + f"{CHAINS[0]}_uncal.fits"].get("calibration") is None
    # the association's roles, stored as the file says; the mosaic's edges keep them
    asn = docs[NIRCAM + ASN]["metadata"]
    assert asn["asn_products"] == [samples.NIRCAM_OBS_ID]
    assert asn["asn_exptypes"] == {f"{c}_cal.fits": "science" for c in CHAINS}
    i2d = docs[NIRCAM + I2D]
    cal_ids = {str(docs[NIRCAM + f"{c}_cal.fits"]["_id"]) for c in CHAINS}
    assert i2d["derivedRoles"] == {i: "science" for i in sorted(cal_ids)}
    assert set(i2d["derivedFrom"]) == cal_ids
    lineage = admin_session.lineage(samples.NIRCAM_OBSERVATION)
    i2d_id = str(i2d["_id"])
    assert {lineage.role(c, i2d_id) for c in cal_ids} == {"science"}
    # a scan again keeps the roles relink wrote
    ingest.scan(admin_session, local_storage, progress=False)
    assert _records(admin_session)[NIRCAM + I2D]["derivedRoles"] == i2d["derivedRoles"]


def test_bad_files_are_reported_and_never_stop_the_scan(
    admin_session: Session, storage: Storage
) -> None:
    from PIL import Image

    sample = samples.write_sample(storage)
    good = make_fits_bytes()
    bad = {
        "mast/bad/jw09999001001_02101_00001_nrca1_cal.fits": (truncated(good), "truncated"),
        "mast/bad/not_fits.fits": (NOT_FITS, "not a FITS file"),
        "mast/bad/header.fits": (header_corrupt(good), "corrupt header"),
        "mast/bad/empty.fits": (b"", "empty"),
        "mast/bad/broken_asn.json": (b"{not json", "not valid JSON"),
        "mast/bad/picture.png": (b"\x89PNG but not really", "not a readable image"),
    }
    for key, (data, _) in bad.items():
        storage.write_bytes(key, data)
    picture = io.BytesIO()
    Image.new("RGB", (40, 30)).save(picture, format="PNG")
    storage.write_bytes("mast/pics/preview.png", picture.getvalue())
    storage.write_bytes("mast/notes/readme.txt", b"ignored: not a data file")

    report = ingest.scan(admin_session, storage, "mast/", progress=False)
    failed = dict(report.failed)
    assert set(failed) == set(bad)
    for key, (_, reason) in bad.items():
        assert reason in failed[key], (key, failed[key])
    assert sorted(report.imported) == sorted([*sample.keys, "mast/pics/preview.png"])
    stored = _records(admin_session)
    assert set(stored) == {*sample.keys, "mast/pics/preview.png"}
    assert stored["mast/pics/preview.png"]["metadata"]["width"] == 40
    assert_nircam_lineage(admin_session)


def test_a_record_the_server_refuses_fails_alone_and_its_batch_is_written(
    admin_session: Session, local_storage: Storage
) -> None:
    """One file whose record the server's validator refuses, and a truncated file, among
    good ones (some with unusual but valid names): each is listed in ``failed`` with its
    reason (the server's, for the refused record) and every other record of the same insert
    batch is written."""
    from jwstnb.documents import session_validator

    sample = samples.write_sample(local_storage)
    good = make_fits_bytes()
    odd = ["mast/odd/jw09999001001_02101_00001_nrca1 (copy)_cal.fits",
           "mast/odd/Ünïcode name +#%_cal.fits", "mast/odd/refuse-me_cal.fits"]
    for key in odd:
        local_storage.write_bytes(key, good)
    local_storage.write_bytes("mast/odd/jw09999001001_02101_00002_nrca1_cal.fits", truncated(good))
    # A stricter server-side rule than the toolkit's own: the server refuses one record.
    db = admin_session.client[admin_session.database_name]
    rule = {"$and": [session_validator(), {"fileName": {"$ne": "refuse-me_cal.fits"}}]}
    db.command("collMod", admin_session.collection_name, validator=rule)

    report = ingest.scan(admin_session, local_storage, "mast/", progress=False)
    failed = dict(report.failed)
    assert set(failed) == {"mast/odd/refuse-me_cal.fits",
                           "mast/odd/jw09999001001_02101_00002_nrca1_cal.fits"}
    assert "refused" in failed["mast/odd/refuse-me_cal.fits"]
    assert "validation" in failed["mast/odd/refuse-me_cal.fits"].lower()
    assert "truncated" in failed["mast/odd/jw09999001001_02101_00002_nrca1_cal.fits"]
    assert sorted(report.imported) == sorted([*sample.keys, *odd[:2]])
    assert set(_records(admin_session)) == {*sample.keys, *odd[:2]}
    assert_nircam_lineage(admin_session)
    # Scanning again changes nothing and reports the same failures.
    again = ingest.scan(admin_session, local_storage, "mast/", progress=False)
    assert dict(again.failed).keys() == failed.keys() and not again.imported


def test_scan_needs_an_admin_session(make_session, local_storage: Storage) -> None:  # type: ignore[no-untyped-def]
    samples.write_sample(local_storage)
    with pytest.raises(AccessDenied):
        ingest.scan(make_session("alice"), local_storage, progress=False)
    with pytest.raises(AccessDenied):
        ingest.import_mast(make_session("anonymous"), {"obs_id": "x"}, [])


def test_import_mast_rows(admin_session: Session, local_storage: Storage) -> None:
    sample = samples.write_sample(local_storage)
    # rows only (files stay at MAST): the i2d falls back to the group's cal/crf files
    for obs in sample.observation_rows:
        report = ingest.import_mast(admin_session, obs, sample.products_of(obs["obs_id"]))
        assert len(report.imported) == len(sample.products_of(obs["obs_id"]))
        assert report.failed == []
        # An observation's products go in with their lineage: no update after the insert.
        assert report.relinked == 0
    stored = _records(admin_session)
    assert set(stored) == set(sample.keys)
    assert_nircam_lineage(admin_session, with_asn=False)

    records = {r.file_path: r for r in admin_session.search(page_size=100).items}
    obs = sample.observation_rows[0]
    i2d = records[NIRCAM + I2D]
    assert i2d.user_id is None and i2d.is_public
    assert i2d.processing_level == ProcessingLevel.L3 and i2d.data_type == DataType.IMAGE
    product = next(p for p in sample.product_rows if p["productFilename"] == I2D)
    assert i2d.file_size == product["size"]
    for column, value in obs.items():
        if value is not None:
            assert i2d.metadata[f"mast_{column}"] == value
        else:
            assert f"mast_{column}" not in i2d.metadata
    for column, value in product.items():
        assert i2d.metadata[f"mast_product_{column}"] == value
    info = i2d.image_info
    assert info is not None
    assert info.observation_date == mjd_to_datetime(obs["t_min"])
    assert info.target_name == "NGC-3132" and info.instrument == "NIRCAM"
    assert info.filter == "F090W" and info.wavelength_range == "INFRARED"
    assert info.calibration_level == 3 and info.exposure_time == pytest.approx(obs["t_exptime"])
    assert (info.proposal_id, info.proposal_pi) == ("2733", "Pontoppidan, Klaus")
    assert info.observation_title == obs["obs_title"]
    uncal = records[NIRCAM + f"{CHAINS[0]}_uncal.fits"]
    assert uncal.processing_level == ProcessingLevel.L1 and uncal.data_type == DataType.RAW
    assert uncal.image_info is not None and uncal.image_info.calibration_level == 1

    # with storage, the association's members are known: the i2d derives from them only
    ids = {k: d["_id"] for k, d in stored.items()}
    again = ingest.import_mast(
        admin_session, obs, sample.products_of(obs["obs_id"]), storage=local_storage
    )
    assert again.imported == [] and again.failed == []
    assert again.updated == [NIRCAM + ASN]  # it gained its members; the rest are unchanged
    assert len(again.skipped) == 19
    assert {k: d["_id"] for k, d in _records(admin_session).items()} == ids
    assert_nircam_lineage(admin_session, with_asn=True)
    third = ingest.import_mast(
        admin_session, obs, sample.products_of(obs["obs_id"]), storage=local_storage
    )
    assert len(third.skipped) == 20 and third.relinked == 0


def test_import_mast_then_scan_keep_both_kinds_of_metadata(
    admin_session: Session, local_storage: Storage
) -> None:
    sample = samples.write_sample(local_storage)
    obs = sample.observation_rows[1]
    ingest.import_mast(admin_session, obs, sample.products_of(obs["obs_id"]))
    report = ingest.scan(admin_session, local_storage, NIRSPEC, progress=False)
    assert len(report.updated) == 4 and report.imported == []
    stored = _records(admin_session)
    assert len(stored) == 4
    for doc in stored.values():
        assert doc["metadata"]["mast_obs_id"] == samples.NIRSPEC_OBS_ID
        assert doc["metadata"]["fits"]["PROGRAM"] == "01366"


def test_import_mast_reports_bad_rows(admin_session: Session) -> None:
    obs = {"obs_id": samples.NIRCAM_OBS_ID, "t_min": 59733.5, "proposal_id": "2733"}
    rows = [
        {"productFilename": "jw02733001001_02101_00001_nrca1_cal.fits", "size": 10},
        {"productFilename": "../../etc/passwd", "size": 1},
        {"productFilename": "", "size": 1},
    ]
    report = ingest.import_mast(admin_session, obs, rows)
    assert report.imported == [NIRCAM + "jw02733001001_02101_00001_nrca1_cal.fits"]
    reasons = dict(report.failed)
    assert "'..' segment" in reasons["../../etc/passwd"]
    assert "productFilename" in reasons["?"]


def test_many_observations_import_as_one_per_observation_would(
    admin_session: Session, local_storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """import_mast_many shares batches across observations (here batches of 7, so one
    observation's products span several) and relinks each program once: the same records and
    lineage as importing each observation on its own, a bad row listed and the rest written,
    and a second run writes nothing new."""
    monkeypatch.setattr(ingest, "INSERT_BATCH", 7)
    sample = samples.write_sample(local_storage)
    bad = {"productFilename": "../../etc/passwd", "size": 1}
    pairs = [(obs, [*sample.products_of(obs["obs_id"]), bad])
             for obs in sample.observation_rows]
    report = ingest.import_mast_many(admin_session, pairs, storage=local_storage,
                                     progress=False)
    assert sorted(report.imported) == sorted(sample.keys)
    assert [key for key, _why in report.failed] == ["../../etc/passwd"] * len(pairs)
    assert "'..' segment" in report.failed[0][1]
    stored = _records(admin_session)
    assert set(stored) == set(sample.keys)
    assert_nircam_lineage(admin_session, with_asn=True)
    assert admin_session.recount().differences == []

    again = ingest.import_mast_many(admin_session, pairs, storage=local_storage,
                                    progress=False)
    assert again.imported == [] and again.updated == []
    assert sorted(again.skipped) == sorted(sample.keys) and again.relinked == 0
    assert {k: d["_id"] for k, d in _records(admin_session).items()} == {
        k: d["_id"] for k, d in stored.items()}


def test_one_product_in_two_observations_of_one_import_is_one_record(
    admin_session: Session, local_storage: Storage
) -> None:
    sample = samples.write_sample(local_storage)
    obs = sample.observation_rows[1]
    products = sample.products_of(obs["obs_id"])
    report = ingest.import_mast_many(admin_session, [(obs, products), (obs, products)],
                                     progress=False)
    assert sorted(report.imported) == sorted(f"mast/{obs['obs_id']}/{p['productFilename']}"
                                             for p in products)
    assert len(report.skipped) == len(products) and report.failed == []
    assert len(_records(admin_session)) == len(products)


def test_astropy_table_rows_are_accepted(admin_session: Session, local_storage: Storage) -> None:
    from astropy.table import Table

    sample = samples.write_sample(local_storage)
    obs = sample.observation_rows[1]
    products = sample.products_of(obs["obs_id"])
    obs_table = Table(rows=[obs])
    product_table = Table(rows=products)
    report = ingest.import_mast(admin_session, obs_table[0], list(product_table))
    assert len(report.imported) == 4
    doc = next(iter(_records(admin_session).values()))
    assert json.dumps(doc["metadata"], default=str)  # plain values only
    assert doc["metadata"]["mast_s_ra"] == pytest.approx(obs["s_ra"])
