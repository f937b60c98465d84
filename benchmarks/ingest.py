"""Ingest benchmark: how fast an archive loads, every rate measured side by side in one run.

    python benchmarks/ingest.py                          # SecantusDB started here
    python benchmarks/ingest.py --files 10000 --records 100000
    python benchmarks/ingest.py --before /tmp/jwstnb-before   # also an earlier jwstnb's scan
    python benchmarks/ingest.py --uri mongodb://127.0.0.1:27017/  # any server

Writes ``--files`` small FITS files (a primary header of about 80 cards and a 32x32 SCI
extension with a celestial WCS, spread over 7 programs) to a temporary folder, then measures
on one database server, each into a fresh database:

1. reading every file's headers with astropy alone (``fits.open`` + each HDU's header,
   sequential): the rate of the disk and the FITS parser, the yardstick;
2. ``ingest.scan`` with 8 threads, and with a Dask ``LocalCluster`` of 1 and of 2 worker
   processes (one thread each): headers, records, their sky fields, batch inserts, lineage;
3. with ``--before DIR`` (an earlier jwstnb's source tree, e.g. ``git archive main | tar -x
   -C DIR``), the same threaded scan with that code, in a subprocess;
4. ``Session.insert`` (one record per call, journaled) and ``backup.restore`` of a file of
   the same records, with the engine's own index set ("after") and with the whole index
   catalogue, as every engine kept it before ("before");
5. ``--records`` synthetic MAST product rows loaded through ``ingest.import_mast_many`` (the
   import path of ``jwstnb import-mast``: records, sky fields, shared batch inserts, lineage
   once per program; 100 products per observation), and up to
   ``--per-observation-records`` of them both ways: through ``import_mast_many`` and through
   one ``ingest.import_mast`` call per observation (the path before), side by side;
6. a bare ``insert_many`` of the same ``--records`` documents into a collection with the
   same validator and index set: the server's floor for loading them, without jwstnb;
7. processing results for ``--inserts`` claimed records: one ``Session.finish`` per record
   (what a processing run did before) and ``Session.finish_many`` (a run's batches now).

Prints a markdown table (rates and ratios) to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the shared test servers (tests/servers.py)

from tests.servers import benchmark_server  # noqa: E402

PROGRAMS = 7


def small_file(i: int) -> tuple[str, bytes]:
    """One small JWST-like exposure file (name, bytes); deterministic in ``i``."""
    import numpy as np
    from astropy.io import fits

    program, obs = 1000 + i % PROGRAMS, 1 + (i // PROGRAMS) % 5
    primary = fits.PrimaryHDU()
    cards: dict[str, Any] = {
        "TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1",
        "FILTER": ("F200W", "F444W", "F150W")[i % 3], "PUPIL": "CLEAR",
        "TARGNAME": f"BENCH {i % 11}", "PROGRAM": f"{program:05d}", "OBSERVTN": f"{obs:03d}",
        "VISIT": "001", "EXPOSURE": f"{i % 100000:05d}", "DATE-OBS": "2023-01-01",
        "TIME-OBS": "00:00:00.000", "EFFEXPTM": 100.0, "TARG_RA": 150.0 + (i % 100) * 0.01,
        "TARG_DEC": 2.0,
    }
    for key, value in cards.items():
        primary.header[key] = value
    for k in range(60):
        primary.header[f"HIERARCH JWSTNB BENCH{k:03d}"] = f"padding {k}"
    sci = fits.ImageHDU(np.ones((32, 32), np.float32), name="SCI")
    for key, value in {
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 16.5, "CRPIX2": 16.5,
        "CRVAL1": 150.0 + (i % 100) * 0.01, "CRVAL2": 2.0, "CDELT1": -8.7e-6, "CDELT2": 8.7e-6,
    }.items():
        sci.header[key] = value
    out = io.BytesIO()
    fits.HDUList([primary, sci]).writeto(out)
    name = f"jw{program:05d}{obs:03d}001_02101_{i + 1:05d}_nrca{1 + i // 99999}_cal.fits"
    return name, out.getvalue()


def write_files(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        name, data = small_file(i)
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def astropy_headers(paths: list[Path]) -> float:
    """Files per second: astropy opens each file and reads every HDU's header."""
    from astropy.io import fits

    start = time.perf_counter()
    for path in paths:
        with fits.open(path) as hdus:
            for hdu in hdus:
                _ = hdu.header
    return len(paths) / (time.perf_counter() - start)


@contextlib.contextmanager
def database(uri: str, name: str) -> Iterator[Any]:
    """An admin session on a fresh database ``name``, dropped afterwards."""
    from jwstnb.session import connect

    session = connect(uri, admin=True, database=name, timeout=10)
    try:
        yield session
    finally:
        with contextlib.suppress(Exception):
            session.client.drop_database(name)
        session.close()


def scan_rate(uri: str, folder: Path, name: str, executor: Any = None) -> tuple[float, int]:
    """(files per second, records imported) of ``ingest.scan`` of ``folder``."""
    from jwstnb import ingest
    from jwstnb.storage import Storage

    with database(uri, name) as session:
        storage = Storage(folder.as_uri())
        start = time.perf_counter()
        report = ingest.scan(session, storage, progress=False, executor=executor)
        elapsed = time.perf_counter() - start
    assert not report.failed, report.failed[:3]
    return len(report.imported) / elapsed, len(report.imported)


def dask_scan_rate(uri: str, folder: Path, name: str, workers: int) -> float:
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("jwstnb.ingest"))  # imports warm on every worker
        return scan_rate(uri, folder, name, executor=client)[0]


_BEFORE_SCAN = """
import sys, time
from jwstnb import ingest
from jwstnb.session import connect
from jwstnb.storage import Storage
with connect(sys.argv[1], admin=True, database=sys.argv[2], timeout=10) as s:
    t = time.perf_counter()
    r = ingest.scan(s, Storage(sys.argv[3]), progress=False)
    print(len(r.imported) / (time.perf_counter() - t))
    s.client.drop_database(sys.argv[2])
"""


def before_scan_rate(uri: str, folder: Path, tree: Path) -> float:
    """Files per second of the same threaded scan with an earlier jwstnb (a subprocess)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _BEFORE_SCAN, uri, "bench_scan_before", folder.as_uri()],
        env=env, check=True, capture_output=True, text=True,
        cwd=tree,  # ``python -c`` puts the working directory first: it must be that tree
    )
    return float(out.stdout.strip().splitlines()[-1])


def models(n: int) -> list[Any]:
    from jwstnb.schema import ImageMetadata, JwstDataModel

    return [
        JwstDataModel(
            file_name=f"jw0{1000 + i % 7}001001_02101_{i + 1:05d}_nrca1_cal.fits",
            file_path=f"bench/insert/{i}.fits", data_type="image", is_public=True,
            image_info=ImageMetadata(ra=150.0 + (i % 100) * 0.01, dec=2.0,
                                     target_name=f"BENCH {i % 11}", instrument="NIRCAM"),
        )
        for i in range(n)
    ]


def insert_and_restore(uri: str, n: int, catalogue: bool) -> tuple[float, float]:
    """(Session.insert records/s, restore records/s) with the engine's index set, or with
    the whole catalogue when ``catalogue`` (what every engine kept before)."""
    from jwstnb import backup
    from jwstnb.session.planners import base
    from jwstnb.session.planners.indexes import INDEXES

    patch = (mock.patch.object(type_of_planner(uri), "indexes", INDEXES) if catalogue
             else contextlib.nullcontext())
    with patch, database(uri, f"bench_insert_{int(catalogue)}") as session:
        assert isinstance(session.planner, base.Planner)
        records = models(n)
        start = time.perf_counter()
        for record in records:
            session.insert(record)
        insert = n / (time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "backup.jsonl"
            backup.export(session, path.as_uri())
            session.collection.delete_many({})
            start = time.perf_counter()
            backup.restore(session, path.as_uri())
            restore = n / (time.perf_counter() - start)
        assert session.collection.count_documents({}) == n
    return insert, restore


def finish_rates(uri: str, n: int) -> tuple[float, float]:
    """(records/s finished one ``Session.finish`` call each, records/s finished by
    ``Session.finish_many``): ``n`` claimed records each, the same results."""
    from jwstnb.schema import ProcessingResult

    rates = []
    with database(uri, "bench_finish") as session:
        session.insert_new(models(2 * n))
        ids = [str(d["_id"]) for d in session.collection.find({}, {"_id": 1})]
        for one_by_one, batch in ((True, ids[:n]), (False, ids[n:])):
            for rid in batch:
                assert session.claim(rid, "bench") is not None
            results = [ProcessingResult(algorithm="bench", results={"i": i})
                       for i in range(len(batch))]
            start = time.perf_counter()
            if one_by_one:
                done = sum(session.finish(rid, "bench", "completed", result) is not None
                           for rid, result in zip(batch, results, strict=True))
            else:
                done = len(session.finish_many(
                    "bench", [(rid, "completed", r) for rid, r in zip(batch, results, strict=True)]
                ))
            rates.append(done / (time.perf_counter() - start))
            assert done == n
    return rates[0], rates[1]


def type_of_planner(uri: str) -> type:
    from jwstnb.session import connect

    with connect(uri, admin=True, database="bench_probe", timeout=10) as session:
        session.client.drop_database("bench_probe")
        return type(session.planner)


def mast_rows(n: int, per_observation: int = 100) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """Synthetic MAST (observation, products) rows: ``n`` products in all."""
    for start in range(0, n, per_observation):
        k = start // per_observation
        program = 10000 + k
        obs_id = f"jw{program:05d}-o001_t001_nircam_clear-f200w"
        ra, dec = (k * 0.37) % 360, ((k * 0.11) % 170) - 85
        obs = {
            "obs_id": obs_id, "obsid": str(80000000 + k), "dataproduct_type": "image",
            "instrument_name": "NIRCAM/IMAGE", "filters": "F200W;CLEAR",
            "target_name": f"TARGET-{k % 500}", "s_ra": ra, "s_dec": dec,
            "s_region": f"CIRCLE ICRS {ra:.5f} {dec:.5f} 0.02", "t_min": 59733.5,
            "t_max": 59733.6, "proposal_id": str(program), "proposal_pi": "Bench, A.",
            "obs_title": "jwstnb ingest benchmark", "calib_level": 2, "dataRights": "PUBLIC",
        }
        products = []
        for j in range(min(per_observation, n - start)):
            name = f"jw{program:05d}001001_02101_{j + 1:05d}_nrca1_cal.fits"
            products.append({
                "obsID": str(90000000 + start + j), "obs_id": obs_id,
                "dataproduct_type": "image", "dataURI": f"mast:JWST/product/{name}",
                "productType": "SCIENCE", "productSubGroupDescription": "CAL",
                "productFilename": name, "size": 1_000_000 + j, "calib_level": 2,
                "proposal_id": str(program), "dataRights": "PUBLIC", "filters": "F200W;CLEAR",
            })
        yield obs, products


def import_load(uri: str, n: int, *, many: bool) -> tuple[float, int]:
    """(seconds, records) to load ``n`` product rows: with ``ingest.import_mast_many`` (all
    observations in one call, what ``jwstnb import-mast`` runs) or, when not ``many``, one
    ``ingest.import_mast`` call per observation."""
    from jwstnb import ingest

    with database(uri, f"bench_import_{int(many)}") as session:
        start = time.perf_counter()
        if many:
            report = ingest.import_mast_many(session, mast_rows(n), progress=False)
            assert not report.failed, report.failed[:3]
        else:
            for obs, products in mast_rows(n):
                report = ingest.import_mast(session, obs, products)
                assert not report.failed, report.failed[:3]
        elapsed = time.perf_counter() - start
        count = session.collection.count_documents({})
    return elapsed, count


def bare_insert(uri: str, n: int) -> float:
    """Seconds for a bare ``insert_many`` (batches of 500) of the documents the import path
    stores for ``n`` product rows, into a fresh collection with the same validator and the
    engine's index set: the server's own floor for loading them, without jwstnb."""
    from pymongo import MongoClient

    from jwstnb.documents import prepare, session_validator, stored_document_of
    from jwstnb.records import mast_record, row_items
    from jwstnb.session.bulk import _index_model

    docs = [
        stored_document_of(prepare(mast_record(row_items(obs), row_items(p))), trusted_sky=True)
        for obs, products in mast_rows(n) for p in products
    ]
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        db = client["bench_bare_insert"]
        coll = db.create_collection("records", validator=session_validator(),
                                    validationLevel="strict")
        coll.create_indexes([_index_model(s) for s in type_of_planner(uri)().indexes])
        start = time.perf_counter()
        for i in range(0, len(docs), 500):
            coll.insert_many(docs[i:i + 500], ordered=False)
        elapsed = time.perf_counter() - start
        assert coll.count_documents({}) == n
    finally:
        client.drop_database("bench_bare_insert")
        client.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", default=os.environ.get("JWSTNB_BENCH_MONGO_URI"))
    parser.add_argument("--files", type=int, default=2000, help="small FITS files to scan")
    parser.add_argument("--inserts", type=int, default=500, help="Session.insert calls")
    parser.add_argument("--records", type=int, default=20000, help="MAST rows to import")
    parser.add_argument("--per-observation-records", type=int, default=20000,
                        help="MAST rows to import one observation per call (the before row)")
    parser.add_argument("--before", type=Path, help="an earlier jwstnb source tree")
    parser.add_argument("--scans-only", action="store_true", help="only steps 1-3")
    args = parser.parse_args(argv)
    os.environ["JWSTNB_CONFIG"] = os.devnull  # no user config: only what is set here
    rows: list[tuple[str, str, str]] = []

    def note(what: str, value: str, ratio: str = "") -> None:
        rows.append((what, value, ratio))
        print(f"{what}: {value} {ratio}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="jwstnb-ingest-") as tmp, \
            benchmark_server(args.uri) as (uri, where):
        folder = Path(tmp) / "files"
        print(f"writing {args.files} files ...", file=sys.stderr, flush=True)
        paths = write_files(folder, args.files)
        astropy = astropy_headers(paths)
        note("astropy header reads (sequential)", f"{astropy:.0f} files/s", "1.00")
        threads, _n = scan_rate(uri, folder, "bench_scan_threads")
        note("ingest.scan, 8 threads", f"{threads:.0f} files/s", f"{threads / astropy:.2f}")
        dask1 = dask_scan_rate(uri, folder, "bench_scan_dask1", 1)
        note("ingest.scan, Dask 1 worker", f"{dask1:.0f} files/s", f"{dask1 / astropy:.2f}")
        dask2 = dask_scan_rate(uri, folder, "bench_scan_dask2", 2)
        note("ingest.scan, Dask 2 workers", f"{dask2:.0f} files/s",
             f"{dask2 / astropy:.2f} ({dask2 / dask1:.2f}x 1 worker)")
        if args.before is not None:
            before = before_scan_rate(uri, folder, args.before)
            note("ingest.scan, 8 threads, before", f"{before:.0f} files/s",
                 f"{before / astropy:.2f} (after: {threads / before:.2f}x)")
        if not args.scans_only:
            ins_after, res_after = insert_and_restore(uri, args.inserts, catalogue=False)
            ins_before, res_before = insert_and_restore(uri, args.inserts, catalogue=True)
            note("Session.insert, index catalogue (before)", f"{ins_before:.0f} records/s",
                 "1.00")
            note("Session.insert, engine's index set (after)", f"{ins_after:.0f} records/s",
                 f"{ins_after / ins_before:.2f}")
            note("restore, index catalogue (before)", f"{res_before:.0f} records/s", "1.00")
            note("restore, engine's index set (after)", f"{res_after:.0f} records/s",
                 f"{res_after / res_before:.2f}")
            one_by_one, batched = finish_rates(uri, args.inserts)
            note("processing results, Session.finish per record (before)",
                 f"{one_by_one:.0f} records/s", "1.00")
            note("processing results, Session.finish_many (after)",
                 f"{batched:.0f} records/s", f"{batched / one_by_one:.2f}")
            one_n = min(args.records, args.per_observation_records)
            one_s, one_count = import_load(uri, one_n, many=False)
            one_rate = one_count / one_s
            note(f"import_mast, one call per observation, {one_count:,} rows (before)",
                 f"{one_s:.0f} s ({one_rate:.0f} records/s)", "1.00")
            many_s, many_count = import_load(uri, one_n, many=True)
            many_rate = many_count / many_s
            note(f"import_mast_many, {many_count:,} rows (after)",
                 f"{many_s:.0f} s ({many_rate:.0f} records/s)", f"{many_rate / one_rate:.2f}")
            if args.records > one_n:
                seconds, count = import_load(uri, args.records, many=True)
                note(f"import_mast_many, {count:,} rows", f"{seconds:.0f} s "
                     f"({count / seconds:.0f} records/s)", "")
            else:
                seconds, count = many_s, many_count
            floor = bare_insert(uri, args.records)
            note(f"bare insert_many of the same {args.records:,} documents, same validator "
                 "and indexes", f"{floor:.0f} s ({args.records / floor:.0f} records/s)",
                 f"import takes {seconds / floor:.2f}x the server's floor")
    print(f"\n{where}; {platform.platform()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {args.files} files, {args.inserts} inserts\n")
    print("| measure | rate | ratio |")
    print("|---|---:|---:|")
    for what, value, ratio in rows:
        print(f"| {what} | {value} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
