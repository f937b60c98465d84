"""FITS I/O on S3: bytes transferred and time, jwstnb vs astropy's fsspec defaults.

Starts its own moto S3 server (a subprocess) on 127.0.0.1 behind a byte-counting TCP proxy
(so both sides are measured the same way, at the socket, HTTP headers included), writes a 4096x4096
four-HDU file (PRIMARY, SCI float32, ERR float32, DQ uint32; about 192 MB) and 200 small
exposure files, then measures in one run:

1. a 100x100 cutout from SCI: ``Storage.cutout`` vs
   ``astropy.io.fits.open(s3_url, use_fsspec=True, fsspec_kwargs=...)`` + ``section``
   (s3fs defaults: 50 MiB read-ahead blocks);
2. a 256-pixel PNG thumbnail, first view: ``Storage.thumbnail`` (sampled rows or whole
   plane, whichever :func:`jwstnb.imaging.plan_plane_read` finds cheaper, with the cost
   model calibrated to this moto: its measured per-request time, one request per object at
   a time) vs reading the whole SCI plane with jwstnb (``image_data``) and with astropy
   (then the same normalisation and PNG); then the second view of the same thumbnail (the
   cached PNG: time, read requests and bytes, from a fresh Storage);
3. a scan of 200 small files: jwstnb's header reading (what ``ingest.scan`` does per file,
   8 threads) vs opening each file with astropy and reading its headers; plus a full
   ``ingest.scan`` into a SecantusDB subprocess when the ``secantus`` package is installed.

Prints a markdown table. Run: ``python benchmarks/fits_io.py`` (about two minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

BUCKET = "jwstnb-bench"
BIG_KEY = "big/jw01234-o001_t001_nircam_clear-f200w_i2d.fits"
SMALL_PREFIX = "small/"
N_SMALL = 200
SMALL_KEY_FOR_WARMUP = "warmup/jw01234001001_02101_00999_nrca1_cal.fits"


class CountingProxy:
    """A TCP proxy on 127.0.0.1 that counts the bytes flowing through it, both ways."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.down = 0  # server -> client
        self.up = 0  # client -> server
        self.connections = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self.lock:
            self.down = self.up = self.connections = 0

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.connections += 1
            for src, dst, way in ((client, upstream, "up"), (upstream, client, "down")):
                threading.Thread(target=self._pump, args=(src, dst, way), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                with self.lock:
                    if direction == "down":
                        self.down += len(data)
                    else:
                        self.up += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self.closed = True
        self.sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.1)


def big_file() -> bytes:
    from astropy.io import fits

    rng = np.random.default_rng(4096)
    sci = rng.normal(1.0, 0.1, (4096, 4096)).astype(np.float32)
    yy, xx = np.mgrid[0:4096:16, 0:4096:16]
    sci[::16, ::16] += 5 * np.exp(-((xx - 2048.0) ** 2 + (yy - 2048.0) ** 2) / 800.0**2)
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "JWST"
    primary.header["INSTRUME"] = "NIRCAM"
    primary.header["SYNTHETC"] = (True, "benchmark data, not real JWST data")
    hdus = [
        primary,
        fits.ImageHDU(sci, name="SCI"),
        fits.ImageHDU(np.full(sci.shape, 0.1, np.float32), name="ERR"),
        fits.ImageHDU(np.zeros(sci.shape, np.uint32), name="DQ"),
    ]
    out = io.BytesIO()
    fits.HDUList(hdus).writeto(out)
    return out.getvalue()


def small_file(seed: int) -> bytes:
    from astropy.io import fits

    from jwstnb import samples

    rng = np.random.default_rng(seed)
    shape = (128, 128)
    primary = fits.PrimaryHDU()
    for key, value in {
        "TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "FILTER": "F200W",
        "PUPIL": "CLEAR", "TARGNAME": "BENCH", "PROGRAM": "01234", "OBSERVTN": "001",
        "VISIT": "001", "EXPOSURE": f"{seed:05d}", "DATE-OBS": "2023-01-01",
        "TIME-OBS": "00:00:00.000", "EFFEXPTM": 100.0, "SYNTHETC": True,
    }.items():
        primary.header[key] = value
    for i in range(60):  # a realistic-sized primary header (about 6 blocks)
        primary.header[f"HIERARCH JWSTNB BENCH{i:03d}"] = f"padding {i} {samples.SYNTHETIC_NOTE}"
    sci = fits.ImageHDU(rng.normal(1, 0.1, shape).astype(np.float32), name="SCI")
    sci.header["BUNIT"] = "MJy/sr"
    for key, value in {
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 64.5, "CRPIX2": 64.5,
        "CRVAL1": 150.0, "CRVAL2": 2.0, "CDELT1": -8.7e-6, "CDELT2": 8.7e-6,
    }.items():
        sci.header[key] = value
    hdus = [primary, sci, fits.ImageHDU(np.ones(shape, np.float32), name="ERR"),
            fits.ImageHDU(np.zeros(shape, np.uint32), name="DQ")]
    out = io.BytesIO()
    fits.HDUList(hdus).writeto(out)
    return out.getvalue()


def measure(proxy: CountingProxy, fn: Callable[[], Any]) -> tuple[Any, int, float, int]:
    """(result, bytes down, seconds, new connections) of one cold call."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    proxy.reset()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    time.sleep(0.05)  # let the pump threads account for the last bytes
    return result, proxy.down, elapsed, proxy.connections


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=N_SMALL, help="number of small files")
    args = parser.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    import boto3
    from astropy.io import fits

    from jwstnb import imaging
    from jwstnb.storage import Storage

    # moto runs in its own process (an in-process server would share this process's GIL
    # with the client threads being measured), keeping objects in memory (its default
    # spools objects over 5 MB to disk and re-reads the whole object for every request).
    moto_port = free_port()
    env = dict(os.environ, MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=str(2**30))
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    wait_for_port(moto_port)
    proxy = CountingProxy(moto_port)
    endpoint = proxy.url
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    try:
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}")
        s3.create_bucket(Bucket=BUCKET)
        print("writing the 4096x4096 file and the small files ...", file=sys.stderr)
        data = big_file()
        size = len(data)
        s3.put_object(Bucket=BUCKET, Key=BIG_KEY, Body=data)
        s3.put_object(Bucket=BUCKET, Key=BIG_KEY.replace(".fits", "_copy.fits"), Body=data)
        s3.put_object(Bucket=BUCKET, Key=SMALL_KEY_FOR_WARMUP, Body=small_file(999))
        del data
        small = {f"{SMALL_PREFIX}jw01234001001_02101_{i + 1:05d}_nrca1_cal.fits": small_file(i)
                 for i in range(args.small)}
        for key, blob in small.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=blob)
        small_size = statistics.mean(len(b) for b in small.values())
        s3.put_object(Bucket=BUCKET, Key="tiny.bin", Body=b"x" * 1024)
        url = f"s3://{BUCKET}/{BIG_KEY}"
        fsspec_kwargs = {"anon": False, "client_kwargs": {"endpoint_url": endpoint}}

        def storage() -> Storage:
            return Storage(f"s3://{BUCKET}", endpoint_url=endpoint)

        # moto reads the whole object for every range request: measure that fixed cost
        def one_byte(key: str) -> float:
            t = time.perf_counter()
            s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-0")["Body"].read()
            return time.perf_counter() - t

        per_request_big = statistics.median(one_byte(BIG_KEY) for _ in range(5))
        per_request_tiny = statistics.median(one_byte("tiny.bin") for _ in range(5))

        # 1. cutout
        def jw_cutout() -> np.ndarray:
            return storage().cutout(BIG_KEY, "SCI", y=(2000, 2100), x=(2000, 2100)).data

        def astropy_cutout() -> np.ndarray:
            with fits.open(url, use_fsspec=True, fsspec_kwargs=fsspec_kwargs) as hdul:
                return hdul["SCI"].section[2000:2100, 2000:2100]

        a, jb, jt, _ = measure(proxy, jw_cutout)
        b, ab, at, _ = measure(proxy, astropy_cutout)
        assert np.array_equal(a, b), "the two cutouts differ"
        rows.append(dict(what="100x100 cutout of SCI", jb=jb, jt=jt, ab=ab, at=at,
                         base="astropy use_fsspec (s3fs defaults)", total=size))

        # 2. thumbnail: first view (computed, then cached in the bucket), second view.
        # The panel passes the record, which a scan gave its size and file_version.
        costs = {"request_seconds": per_request_big, "concurrency": 1}
        lister = Storage(f"s3://{BUCKET}", endpoint_url=endpoint)
        record = SimpleNamespace(
            file_path=BIG_KEY, file_size=size,
            metadata={"file_version": lister.file_versions("big/")[BIG_KEY]},
        )

        def jw_thumb(target: Any, st: Storage | None = None) -> Callable[[], bytes]:
            def run() -> bytes:
                nonlocal st
                st = st or Storage(f"s3://{BUCKET}", endpoint_url=endpoint, read_costs=costs)
                return st.thumbnail(target, size=256)

            return run

        def jw_plane() -> np.ndarray:
            st = Storage(f"s3://{BUCKET}", endpoint_url=endpoint, read_costs=costs)
            return st.image_data(BIG_KEY, "SCI")

        def astropy_thumb() -> bytes:
            with fits.open(url, use_fsspec=True, fsspec_kwargs=fsspec_kwargs) as hdul:
                plane = np.asarray(hdul["SCI"].data, dtype=np.float32)
            step = imaging.stride_for(plane.shape, 256)
            return imaging.to_png(imaging.normalise(plane[::step, ::step], "zscale"), 256)

        # a kernel that shows thumbnails has astropy.visualization and Pillow loaded: import
        # them (0.6 s) before timing; moto on a shared machine is noisy: alternate the two,
        # three rounds, medians
        kernel = Storage(f"s3://{BUCKET}", endpoint_url=endpoint)
        kernel.thumbnail(SMALL_KEY_FOR_WARMUP, size=16)  # also creates the kernel's S3 client
        plane_runs, thumb_runs = [], []
        for _ in range(3):
            with contextlib.suppress(FileNotFoundError):
                lister.fs.rm(f"{BUCKET}/.jwstnb", recursive=True)  # a cold thumbnail cache
            plane_array, pb, pt, _ = measure(proxy, jw_plane)
            assert plane_array.shape == (4096, 4096)
            del plane_array
            plane_runs.append(pt)
            png, jb, jt, _ = measure(proxy, jw_thumb(record))
            assert png.startswith(b"\x89PNG")
            thumb_runs.append(jt)
        pt, jt = statistics.median(plane_runs), statistics.median(thumb_runs)
        notes.append(
            "First views (3 rounds, cold cache each): thumbnail "
            + ", ".join(f"{t:.2f}" for t in thumb_runs) + " s; whole plane "
            + ", ".join(f"{t:.2f}" for t in plane_runs) + " s (the table shows medians)."
        )
        reference, ab, at, _ = measure(proxy, astropy_thumb)
        assert reference == png, "the thumbnail differs from the whole-plane rendering"
        # the same by key alone (one HEAD of the FITS file for its ETag), on a fresh cache
        _by_key, kb, kt, _ = measure(proxy, jw_thumb(BIG_KEY.replace(".fits", "_copy.fits")))
        ny = nx = 4096
        plan = imaging.plan_plane_read(ny, nx, 4, imaging.stride_for((ny, nx), 256), **costs)
        rows.append(dict(what="256 px thumbnail, first view", jb=jb, jt=jt, ab=pb, at=pt,
                         base="jwstnb: whole SCI plane (image_data)", total=size))
        rows.append(dict(what="256 px thumbnail, first view", jb=jb, jt=jt, ab=ab, at=at,
                         base="astropy: whole SCI HDU (same normalisation)", total=size))
        rows.append(dict(what="256 px thumbnail, first view, by key", jb=kb, jt=kt, ab=pb,
                         at=pt, base="jwstnb: whole SCI plane (image_data)", total=size))
        # second view: the panel's Storage (one per kernel), then a fresh one
        seconds: list[float] = []
        for _ in range(5):
            kernel.reset_counters()
            start = time.perf_counter()
            second = kernel.thumbnail(record, size=256)
            seconds.append(time.perf_counter() - start)
            assert second == png
        requests, got = kernel.read_requests, kernel.bytes_read
        _second, sb, fresh_t, _ = measure(proxy, jw_thumb(record))
        _second, _kb2, key_t, _ = measure(proxy, jw_thumb(BIG_KEY))
        notes.append(
            f"Thumbnail plan (cost model calibrated to this moto: {per_request_big * 1000:.0f} "
            f"ms per request, one at a time): {plan.kind}, {plan.requests} request(s), "
            f"{human(plan.bytes)} of the {human(ny * nx * 4)} plane. Second view of the "
            f"record's thumbnail (cached PNG in the bucket), the panel's Storage: median "
            f"{statistics.median(seconds) * 1000:.1f} ms over 5 (max "
            f"{max(seconds) * 1000:.1f} ms), {requests} read request of {human(got)}; a fresh "
            f"Storage (new S3 client): {fresh_t * 1000:.0f} ms, {human(sb)} on the wire; by key "
            f"alone (adds a HEAD of the 201 MB object, slow on moto): {key_t * 1000:.0f} ms."
        )
        rows.append(dict(what="256 px thumbnail, second view", jb=sb,
                         jt=statistics.median(seconds), ab=pb, at=pt,
                         base="jwstnb: whole SCI plane (image_data)", total=size))

        # 3. scan of small files
        keys = sorted(small)

        def jw_headers() -> int:
            # what ingest.scan reads per file: every header, structure checked (8 threads)
            st = storage()
            sizes = st.sizes(SMALL_PREFIX)
            with ThreadPoolExecutor(8) as pool:
                return sum(pool.map(lambda k: len(st.read_headers(k, size=sizes[k])), keys))

        def astropy_open_each() -> int:
            n = 0
            for key in keys:
                with fits.open(f"s3://{BUCKET}/{key}", use_fsspec=True,
                               fsspec_kwargs=fsspec_kwargs) as hdul:
                    n += len([h.header for h in hdul])
            return n

        def astropy_open_each_threads() -> int:
            def one(key: str) -> int:
                with fits.open(f"s3://{BUCKET}/{key}", use_fsspec=True,
                               fsspec_kwargs=fsspec_kwargs) as hdul:
                    return len([h.header for h in hdul])

            with ThreadPoolExecutor(8) as pool:
                return sum(pool.map(one, keys))

        _, jb, jt, _ = measure(proxy, jw_headers)
        _, ab, at, _ = measure(proxy, astropy_open_each)
        _, ab8, at8, _ = measure(proxy, astropy_open_each_threads)
        n = len(keys)
        rows.append(dict(what=f"scan {n} small files (headers)", jb=jb, jt=jt, ab=ab, at=at,
                         base="astropy open each, sequential", total=small_size * n, n=n))
        rows.append(dict(what=f"scan {n} small files (headers)", jb=jb, jt=jt, ab=ab8, at=at8,
                         base="astropy open each, 8 threads", total=small_size * n, n=n))
        full = full_scan(endpoint, n)
        if full is not None:
            notes.append(full)
    finally:
        proxy.close()
        server.terminate()
        server.wait(timeout=30)

    print_table(rows, size, small_size, per_request_big, per_request_tiny, notes)
    return 0


def full_scan(endpoint: str, n: int) -> str | None:
    """ingest.scan of the small files into a private SecantusDB, if it is installed."""
    try:
        import secantus  # noqa: F401
    except ImportError:
        return None
    from jwstnb import ingest
    from jwstnb.session import connect
    from jwstnb.storage import Storage

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
             "--storage-path", str(Path(tmp) / "db"), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, 30)
            uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
            with connect(uri, admin=True, database="bench", timeout=10) as session:
                st = Storage(f"s3://{BUCKET}", endpoint_url=endpoint)
                start = time.perf_counter()
                report = ingest.scan(session, st, SMALL_PREFIX, progress=False)
                elapsed = time.perf_counter() - start
            return (
                f"Full `ingest.scan` of the {n} files into a SecantusDB subprocess "
                f"(headers + upserts + lineage): {len(report.imported)} imported in "
                f"{elapsed:.2f} s ({len(report.imported) / elapsed:.0f} files/s)."
            )
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def print_table(
    rows: list[dict[str, Any]],
    size: int,
    small_size: float,
    per_request_big: float,
    per_request_tiny: float,
    notes: list[str],
) -> None:
    print(f"\nFITS I/O on moto S3 (127.0.0.1), bytes counted at a TCP proxy (HTTP included); "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs\n")
    print("| measurement | jwstnb bytes | jwstnb time | baseline | baseline bytes | "
          "baseline time | bytes jwstnb/baseline | jwstnb % of file | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["jb"] / r["ab"] if r["ab"] else float("nan")
        pct = 100.0 * r["jb"] / r["total"]
        speed = r["at"] / r["jt"] if r["jt"] else float("nan")
        jt, at = f"{r['jt']:.3f} s", f"{r['at']:.3f} s"
        if "n" in r:
            jt += f" ({r['n'] / r['jt']:.0f} files/s, {human(r['jb'] / r['n'])}/file)"
            at += f" ({r['n'] / r['at']:.0f} files/s, {human(r['ab'] / r['n'])}/file)"
        print(f"| {r['what']} | {human(r['jb'])} | {jt} | {r['base']} | {human(r['ab'])} | "
              f"{at} | {ratio:.3%} | {pct:.2f}% | {speed:.2f}x |")
    print(f"\nBig file: {human(size)} (4096x4096 SCI float32, ERR float32, DQ uint32). "
          f"Small files: {human(small_size)} each (128x128 SCI/ERR/DQ, 6-block primary header).")
    print(f"moto copies the whole object for every range request (serialised per object): a "
          f"1-byte GET costs {per_request_big * 1000:.0f} ms on the big file vs "
          f"{per_request_tiny * 1000:.1f} ms on a 1 KB object, so on moto time is dominated "
          f"by the number of requests to the big file (real S3 serves ranges concurrently: "
          f"there the default cost model, 30 ms per request and 8 at once, applies).")
    for note in notes:
        print(note)


if __name__ == "__main__":
    sys.exit(main())
