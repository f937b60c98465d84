"""Scans and processing runs fanned out over Dask: files per second for 1 and 2 workers.

Starts a moto S3 server and a SecantusDB daemon (subprocesses on 127.0.0.1), writes
``--files`` small exposure files (8x8 four-HDU FITS, about 11 KB each), then for each
executor (threads in this process, a LocalCluster of 1 worker process, of 2 worker
processes; one thread per worker) into a fresh database:

1. ``ingest.scan`` of every file (headers read by the executor, records upserted here);
2. the same scan again (every file unchanged: the idempotent re-run);
3. ``processing.run`` over ``--process`` records: each task opens its file by storage key,
   measures the SCI plane and writes a doubled copy as a derived record's file.

Cluster start-up is timed apart. Prints a markdown table. The machine's load is printed too:
on a shared machine the numbers move with it.

Run: ``python benchmarks/cluster.py`` (``--files 500 --process 100``).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fits_io import wait_for_port
from jwstnb import ingest, processing
from jwstnb.session import connect
from jwstnb.storage import Storage
from tests.fixtures_storage import make_fits_bytes
from tests.integration.test_processing import doubled
from tests.servers import SecantusProcess, free_port

BUCKET = "jwstnb-cluster-bench"


def file_key(i: int) -> str:
    program, obs, exposure = 1000 + i // 500, 1 + (i // 10) % 50, 1 + i % 10
    return f"mast/jw{program:05d}{obs:03d}001_02101_{exposure:05d}_nrca1_cal.fits"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500, help="files to scan")
    parser.add_argument("--process", type=int, default=100, help="records to process")
    parser.add_argument("--threads", type=int, default=8, help="threads of the thread runs")
    args = parser.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    from distributed import Client, LocalCluster

    moto_port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    tmp = tempfile.TemporaryDirectory(prefix="jwstnb-cluster-bench-")
    db = SecantusProcess(Path(tmp.name) / "data")
    rows: list[dict[str, Any]] = []
    try:
        wait_for_port(moto_port)
        db.start()
        endpoint = f"http://127.0.0.1:{moto_port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        storage = Storage(f"s3://{BUCKET}/archive", endpoint_url=endpoint)
        print(f"writing {args.files} files ...", file=sys.stderr)
        data = make_fits_bytes((8, 8))
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: storage.write_bytes(file_key(i), data), range(args.files)))

        for label, workers in (("threads", 0), ("Dask, 1 worker", 1), ("Dask, 2 workers", 2)):
            cluster = client = None
            startup = 0.0
            if workers:
                start = time.perf_counter()
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None, silence_logs=40)
                client = Client(cluster)
                client.run(lambda: __import__("jwstnb.ingest"))  # imports, not timed below
                startup = time.perf_counter() - start
            executor: Any = client
            name = f"jwstnb_bench_{uuid.uuid4().hex[:8]}"
            print(f"{label}: scan, rescan, run ...", file=sys.stderr)
            with connect(db.uri, admin=True, database=name, timeout=30) as session:
                scan = partial(ingest.scan, session, storage, "mast/", executor=executor,
                               workers=args.threads, progress=False)
                scan_s, first = timed(scan)
                rescan_s, second = timed(scan)
                run_s, report = timed(partial(
                    processing.run, session, storage, doubled, executor=executor,
                    limit=args.process, workers=args.threads, progress=False))
                assert len(first.imported) == args.files and not first.failed, first
                assert len(second.skipped) == args.files, second
                assert len(report.completed) == args.process and not report.failed, report
            if client is not None and cluster is not None:
                client.close()
                cluster.close()
            rows.append({
                "executor": label if workers else f"threads ({args.threads})",
                "startup": startup,
                "scan": args.files / scan_s,
                "rescan": args.files / rescan_s,
                "run": args.process / run_s,
                "load": os.getloadavg()[0],
            })
    finally:
        db.stop()
        moto.terminate()
        moto.wait(10)
        tmp.cleanup()

    print(f"\n`python benchmarks/cluster.py --files {args.files} --process {args.process}` on "
          f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          "moto S3 and SecantusDB on 127.0.0.1\n")
    print("| executor | start-up s | scan files/s | rescan files/s | run records/s "
          "| load (1 min) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['executor']} | {r['startup']:.1f} | {r['scan']:.0f} | {r['rescan']:.0f} | "
              f"{r['run']:.1f} | {r['load']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
