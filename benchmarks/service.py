"""Archive service benchmark: mixed load from several client processes, and search latency
through the service beside the same searches on a direct session.

    python benchmarks/service.py                        # SecantusDB started here, 60 s load
    python benchmarks/service.py --duration 5 --records 300 --repeats 10   # a quick run
    python benchmarks/service.py --uri mongodb://127.0.0.1:27017/ --out service.md

A fresh database gets ``--records`` synthetic records (public imports, and private records
of four users, some with small FITS files on local storage); the service runs as its own
process with TLS on 127.0.0.1 (``python -m jwstnb.service``). Then:

1. Load: ``--clients`` processes, each a user with its own token, for ``--duration``
   seconds, loop over search, get, lineage, tags (a unique tag added to one of its own
   records each time), claims (every client races for the same shared queue of pending
   records as a worker, then finishes what it won) and cutouts (RemoteStorage through signed
   URLs). Afterwards the database is checked: every acknowledged tag is there (0 lost
   writes), every record was won by one worker at most and carries exactly its one result
   (0 duplicate claims); every error is counted.
2. Latency: the same searches (a word, a facet filter, both) timed ``--repeats`` times,
   interleaved, as a user through the service (``RemoteSession.search``) and on a direct
   session (``Session.as_user(user).search``): p50, p95 and the ratio. Target: p50 ratio
   <= 1.5.
3. Processing results: ``--results`` claimed records finished through the service one
   ``finish`` call each, beside as many finished by ``finish_many`` (one call per batch).

Prints a markdown table; ``--out FILE`` writes it there too. Exit status 1 when the load
had an error, a lost write or a duplicate claim.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the shared test servers (tests/servers.py)

USERS = ["ann", "ben", "cid", "dot"]
WORDS = ["ngc", "carina", "cartwheel", "stephan", "orion", "pillars"]
SEARCHES: list[dict[str, Any]] = [
    {"text": "ngc"},
    {"data_type": "image", "processing_level": "L3"},
    {"text": "carina", "instrument": "NIRCAM"},
    {},
]
QUEUE = 200  # pending records all clients race to claim


def _records(n: int, files: dict[int, str]) -> list[Any]:
    from jwstnb.schema import ImageMetadata, JwstDataModel

    rng = random.Random(7)
    out = []
    for i in range(n):
        owner = None if i % 5 < 3 else USERS[i % len(USERS)]
        group = f"jw0{1000 + i % 40}-o001_t001_nircam"
        level = "L3" if i % 3 == 0 else "L2b"
        word = WORDS[i % len(WORDS)]
        key = files.get(i, f"mast/{group}/file{i:06d}_{'i2d' if level == 'L3' else 'cal'}.fits")
        out.append(JwstDataModel(
            file_name=key.rsplit("/", 1)[1], file_path=key, data_type="image",
            processing_level=level, observation_base_id=group, user_id=owner,
            is_public=owner is None, description=f"{word} field {i}",
            image_info=ImageMetadata(target_name=f"{word.upper()} {i % 97}",
                                     instrument=rng.choice(["NIRCAM", "MIRI"]),
                                     ra=rng.uniform(0, 360), dec=rng.uniform(-60, 60)),
        ))
    return out


def _client(
    index: int, url: str, token: str, worker_token: str, ca: str, duration: float,
    keys: list[str], groups: list[str], queue: list[str], results: Any,
) -> None:
    """One client process: a mixed loop for ``duration`` seconds; reports what it did.

    It reads and tags as its user; it claims as a processing worker (an admin token), so
    every client races for the same queue.
    """
    import ssl

    from jwstnb.service.client import RemoteStorage, connect_service

    ctx = ssl.create_default_context(cafile=ca)
    session = connect_service(url, token=token, verify=ctx)
    worker_session = connect_service(url, token=worker_token, verify=ctx)
    storage = RemoteStorage(session, thumbnail_cache=False)
    rng = random.Random(index)
    worker = f"worker-{index}"
    errors: list[str] = []
    counts: Counter[str] = Counter()
    tags: list[tuple[str, str]] = []
    claimed: list[str] = []
    latencies: list[float] = []
    own = [str(r.id) for r in session.items(page_size=200) if r.user_id == session.user]
    pending = list(queue)
    rng.shuffle(pending)
    deadline = time.monotonic() + duration
    n = 0
    while time.monotonic() < deadline:
        n += 1
        op = ("search", "get", "lineage", "tags", "claim", "cutout")[n % 6]
        try:
            if op == "search":
                t0 = time.perf_counter()
                session.search(**rng.choice(SEARCHES))
                latencies.append(time.perf_counter() - t0)
            elif op == "get":
                session.get(rng.choice(own))
            elif op == "lineage":
                session.lineage(rng.choice(groups))
            elif op == "tags":
                rid, tag = rng.choice(own), f"w{index}-{n}"
                if session.bulk_tags([rid], add=[tag]) == 1:
                    tags.append((rid, tag))
            elif op == "claim":
                if pending:
                    rid = pending.pop()
                    if worker_session.claim(rid, worker, lease_seconds=600) is not None:
                        claimed.append(rid)
                        done = worker_session.finish(rid, worker, "completed",
                                              {"algorithm": worker, "status": "ok"})
                        if done is None:
                            errors.append(f"finish of {rid} lost")
            else:
                storage.cutout(rng.choice(keys), ext="SCI", y=(10, 20), x=(10, 20))
            counts[op] += 1
        except Exception as exc:  # counted, reported
            errors.append(f"{op}: {type(exc).__name__}: {str(exc)[:200]}")
    session.close()
    worker_session.close()
    results.put({"index": index, "errors": errors, "counts": dict(counts), "tags": tags,
                 "claimed": claimed, "latencies": latencies})


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", default=os.environ.get("JWSTNB_BENCH_MONGO_URI"))
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=60.0, help="load seconds")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=40, help="latency rounds")
    parser.add_argument("--results", type=int, default=200,
                        help="claimed records finished each way (step 3)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from jwstnb.service.tokens import TOKENS_COLLECTION, TokenStore
    from jwstnb.session import connect
    from tests.fixtures_storage import make_fits_bytes
    from tests.servers import benchmark_server
    from tests.service_process import ServiceProcess, write_config

    with benchmark_server(args.uri) as (uri, where), tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        database = f"jwstnb_bench_service_{uuid.uuid4().hex[:8]}"
        root = work / "storage"
        files: dict[int, str] = {}
        for i in range(3, 3 + 8 * 5, 5):  # private records of each user get files
            key = f"{USERS[i % 4]}/file{i:06d}_i2d.fits"
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(make_fits_bytes((128, 128), seed=i))
            files[i] = key
        admin = connect(uri, admin=True, database=database, timeout=30)
        t0 = time.perf_counter()
        records = _records(args.records, files)
        for start in range(0, len(records), 1000):
            admin.insert_new(records[start:start + 1000])
        load_s = time.perf_counter() - t0
        queue = [str(r.id) for r in admin.items(is_public=True, page_size=QUEUE)]
        groups = sorted({r.observation_base_id or "" for r in records[:40] if r.is_public})
        store = TokenStore(admin.client[database][TOKENS_COLLECTION])
        tokens = {u: store.add(u, days=1)[1] for u in USERS}
        worker_token = store.add("bench-admin", role="admin", days=1)[1]
        config = write_config(work / "config.toml", f'[storage]\nurl = "{root.as_uri()}"\n')
        service = ServiceProcess(work / "svc", env={
            "JWSTNB_MONGO_URI": uri, "JWSTNB_CONFIG": str(config),
            "JWSTNB_HOME": str(work / "home"),
        }, database=database)
        service.start()
        try:
            lines = [
                f"# jwstnb archive service: {args.clients} clients x {args.duration:g} s, "
                f"{args.records} records ({where}; loaded in {load_s:.1f} s)", "",
            ]
            ok = _load(args, service, tokens, worker_token, files, groups, queue, admin, lines)
            _latency(args, service, tokens, admin, lines)
            _results(args, service, worker_token, admin, lines)
        finally:
            service.stop()
            admin.client.drop_database(database)
            admin.close()
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0 if ok else 1


def _load(
    args: argparse.Namespace, service: Any, tokens: dict[str, str], worker_token: str,
    files: dict[int, str], groups: list[str], queue: list[str], admin: Any, lines: list[str],
) -> bool:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    keys = list(files.values())
    procs = []
    for i in range(args.clients):
        user = USERS[i % len(USERS)]
        mine = [k for k in keys if k.startswith(f"{user}/")]
        procs.append(ctx.Process(target=_client, args=(
            i, service.url, tokens[user], worker_token, str(service.ca_file), args.duration,
            mine, groups, queue, results)))
    for p in procs:
        p.start()
    reports = [results.get(timeout=args.duration + 300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    from bson import ObjectId

    errors = [e for r in reports for e in r["errors"]]
    counts: Counter[str] = Counter()
    for r in reports:
        counts.update(r["counts"])
    # lost writes: every acknowledged tag is stored
    lost = 0
    coll = admin.collection
    for r in reports:
        for rid, tag in r["tags"]:
            if not coll.find_one({"_id": ObjectId(rid), "tags": tag}):
                lost += 1
    # duplicate claims: a record won twice, or stored with other than one result
    won = Counter(rid for r in reports for rid in r["claimed"])
    duplicates = sum(1 for n in won.values() if n > 1)
    for rid in won:
        doc = coll.find_one({"_id": ObjectId(rid)})
        if doc is None or len(doc.get("processingResults") or []) != 1:
            duplicates += 1
    latencies = [x for r in reports for x in r["latencies"]]
    total_ops = sum(counts.values())
    lines += [
        "## Load", "",
        "| clients | seconds | operations | ops/s | errors | lost writes | duplicate claims |",
        "|---|---|---|---|---|---|---|",
        f"| {args.clients} | {args.duration:g} | {total_ops} | {total_ops / args.duration:.0f} "
        f"| {len(errors)} | {lost} | {duplicates} |", "",
        "Operations: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f"; claims won {len(won)} of {len(queue)} queued.",
    ]
    if latencies:
        lines.append(f"Search under load: p50 {1000 * _pct(latencies, 0.5):.1f} ms, "
                     f"p95 {1000 * _pct(latencies, 0.95):.1f} ms.")
    if errors:
        lines += ["", "Errors (first 10):", *[f"- {e}" for e in errors[:10]]]
    lines.append("")
    return not errors and not lost and not duplicates


def _latency(
    args: argparse.Namespace, service: Any, tokens: dict[str, str], admin: Any,
    lines: list[str],
) -> None:
    from jwstnb.service.client import connect_service

    user = USERS[0]
    remote = connect_service(service.url, token=tokens[user], verify=service.ssl_context)
    direct = admin.as_user(user)
    times: dict[str, dict[str, list[float]]] = {}
    for criteria in SEARCHES:  # warm both (planner state, connections, TLS session)
        remote.search(**criteria)
        direct.search(**criteria)
    for _ in range(args.repeats):
        for criteria in SEARCHES:
            name = ", ".join(f"{k}={v!r}" for k, v in criteria.items()) or "(everything)"
            for label, session in (("service", remote), ("direct", direct)):
                t0 = time.perf_counter()
                session.search(**criteria)
                times.setdefault(name, {}).setdefault(label, []).append(
                    time.perf_counter() - t0)
    remote.close()
    direct.close()
    lines += [
        f"## Search latency, as {user} ({args.repeats} rounds, interleaved)", "",
        "| search | direct p50 | direct p95 | service p50 | service p95 | p50 ratio |",
        "|---|---|---|---|---|---|",
    ]
    ratios = []
    for name, by in times.items():
        d50, d95 = _pct(by["direct"], 0.5), _pct(by["direct"], 0.95)
        s50, s95 = _pct(by["service"], 0.5), _pct(by["service"], 0.95)
        ratios.append(s50 / d50)
        lines.append(f"| {name} | {1000 * d50:.1f} ms | {1000 * d95:.1f} ms | "
                     f"{1000 * s50:.1f} ms | {1000 * s95:.1f} ms | {s50 / d50:.2f} |")
    lines += ["", f"Median p50 ratio service/direct: {statistics.median(ratios):.2f} "
              "(target <= 1.5).", ""]


def _results(
    args: argparse.Namespace, service: Any, worker_token: str, admin: Any, lines: list[str]
) -> None:
    """A processing worker's results through the service: one ``finish`` call per record
    (what a run did before) beside one ``finish_many`` call per batch, on ``--results``
    claimed records each."""
    from jwstnb.schema import ImageMetadata, JwstDataModel, ProcessingResult
    from jwstnb.service.client import connect_service

    n = args.results
    admin.insert_new([
        JwstDataModel(file_name=f"result{i:06d}_cal.fits", file_path=f"results/{i:06d}_cal.fits",
                      data_type="image", is_public=True,
                      image_info=ImageMetadata(target_name="RESULTS", instrument="NIRCAM"))
        for i in range(2 * n)
    ])
    ids = [str(r.id) for r in admin.items(target_name="RESULTS", page_size=2 * n)]
    worker = connect_service(service.url, token=worker_token, verify=service.ssl_context)
    rates = []
    for one_by_one, batch in ((True, ids[:n]), (False, ids[n:])):
        for rid in batch:
            assert worker.claim(rid, "bench-results") is not None
        results = [ProcessingResult(algorithm="bench", results={"i": i}) for i in range(n)]
        t0 = time.perf_counter()
        if one_by_one:
            done = sum(worker.finish(rid, "bench-results", "completed", r) is not None
                       for rid, r in zip(batch, results, strict=True))
        else:
            done = len(worker.finish_many("bench-results", [
                (rid, "completed", r) for rid, r in zip(batch, results, strict=True)]))
        rates.append(done / (time.perf_counter() - t0))
        assert done == n, done
    worker.close()
    lines += [
        f"## Processing results through the service ({n} claimed records each)", "",
        "| call | records/s | ratio |", "|---|---:|---:|",
        f"| finish, one call per record (before) | {rates[0]:.0f} | 1.00 |",
        f"| finish_many, one call per batch (after) | {rates[1]:.0f} | "
        f"{rates[1] / rates[0]:.2f} |", "",
    ]


if __name__ == "__main__":
    sys.exit(main())
