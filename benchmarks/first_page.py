"""First-page benchmark: a fresh kernel's first SearchPanel rows beside the engine's own
``find().sort().limit(20)``, at growing archive sizes.

    python benchmarks/first_page.py                          # SecantusDB started here
    python benchmarks/first_page.py --sizes 30000,100000 --rounds 5
    python benchmarks/first_page.py --uri mongodb://127.0.0.1:27017/

Records (``tests/browser/data.py``: public, upload dates spread over a year, the last of them
long before today) are stored through ``Session.insert_new`` in batches of 1,000, the path
that notes the newest upload (``jwstnb.session.summary``). At each size, in one run:

1. the obvious alternative: pymongo's ``find(scope).sort("uploadDate", -1).limit(20)`` on
   the same server (the anonymous scope's filter: the same 20 records), and the same with no
   filter at all;
2. a fresh kernel's panel: a new connection (a new planner that has learned nothing),
   ``SearchPanel(session)`` until its first rows are set (counts follow on a worker thread,
   as in a kernel; each round waits for them before the next); "before": the same, with the
   planner told there is no noted newest upload (how every fresh kernel started before);
3. a warm panel: a second ``SearchPanel`` on the same connection.

Each is the median of ``--rounds`` rounds; every panel's rows are checked equal to pymongo's.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.data import search_records  # noqa: E402
from tests.servers import benchmark_server  # noqa: E402

DATABASE = "bench_first_page"


def median_seconds(call: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """(median seconds, last result) of ``rounds`` calls."""
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def settle(panel: Any, timeout: float = 600.0) -> None:
    """Wait until the panel's counts (on a worker thread) have arrived."""
    deadline = time.perf_counter() + timeout
    while panel.counting and time.perf_counter() < deadline:
        time.sleep(0.01)


def load(admin: Any, start: int, stop: int, records: Iterable[Any] | None = None) -> float:
    """Store records ``start``..``stop`` (of ``records``, else public search records)
    through ``insert_new`` in batches of 1,000; seconds taken."""
    from itertools import islice

    if records is None:
        records = islice(search_records(stop), start, None)
    began = time.perf_counter()
    batch: list[Any] = []
    for record in records:
        batch.append(record)
        if len(batch) == 1000:
            admin.insert_new(batch)
            batch = []
    if batch:
        admin.insert_new(batch)
    return time.perf_counter() - began


def measure(uri: str, rounds: int) -> dict[str, float]:
    from pymongo import MongoClient

    from jwstnb.session import connect
    from jwstnb.widgets import SearchPanel

    raw = MongoClient(uri, tz_aware=True)
    coll = raw[DATABASE]["jwst_data"]
    scope = {"readers": {"$in": ["public"]}, "archived": {"$ne": True}}

    def pymongo_page(query: dict[str, Any]) -> list[Any]:
        cursor = coll.find(query, {"_id": 1}).sort([("uploadDate", -1), ("_id", -1)]).limit(20)
        return [d["_id"] for d in cursor]

    raw_scoped, expected = median_seconds(lambda: pymongo_page(scope), rounds)
    raw_all, _ = median_seconds(lambda: pymongo_page({}), rounds)

    def fresh_panel(told: bool) -> list[str]:
        session = connect(uri, database=DATABASE, timeout=30)
        try:
            if not told:
                session.planner.start_from(None)  # as before: no noted newest upload
            start = time.perf_counter()
            panel = SearchPanel(session, debounce=0, background_counts=True)
            timings.append(time.perf_counter() - start)  # rows set; counts on their way
            settle(panel)
            return [r["id"] for r in panel.results]
        finally:
            session.close()

    out: dict[str, float] = {"pymongo, anonymous scope": raw_scoped, "pymongo, no filter": raw_all}
    for told, name in ((False, "fresh panel, before"), (True, "fresh panel")):
        timings: list[float] = []
        for _ in range(rounds):
            ids = fresh_panel(told)
            assert ids == [str(i) for i in expected], (name, ids[:3], expected[:3])
        out[name] = statistics.median(timings)
    session = connect(uri, database=DATABASE, timeout=30)
    try:
        settle(SearchPanel(session, debounce=0, background_counts=True))
        warm: list[float] = []
        for _ in range(rounds):
            start = time.perf_counter()
            panel = SearchPanel(session, debounce=0, background_counts=True)
            warm.append(time.perf_counter() - start)
            settle(panel)
        out["warm panel"] = statistics.median(warm)
    finally:
        session.close()
    raw.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", default=os.environ.get("JWSTNB_BENCH_MONGO_URI"))
    parser.add_argument("--sizes", default="30000,100000", help="archive sizes, ascending")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ["JWSTNB_CONFIG"] = os.devnull
    sizes = [int(s) for s in args.sizes.split(",")]
    from jwstnb.session import connect

    results: list[tuple[int, float, dict[str, float]]] = []
    with benchmark_server(args.uri) as (uri, where):
        admin = connect(uri, admin=True, database=DATABASE, timeout=30)
        try:
            have = 0
            for size in sizes:
                seconds = load(admin, have, size)
                print(f"loaded {size - have:,} records in {seconds:.0f} s", file=sys.stderr)
                have = size
                results.append((size, seconds, measure(uri, args.rounds)))
                print(results[-1], file=sys.stderr, flush=True)
        finally:
            admin.client.drop_database(DATABASE)
            admin.close()
    print(f"\n{where}; {platform.platform()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; median of {args.rounds} rounds\n")
    print("| records | read | median ms | / pymongo (scope) |")
    print("|---:|---|---:|---:|")
    for size, _seconds, out in results:
        base = out["pymongo, anonymous scope"]
        for name, value in out.items():
            print(f"| {size:,} | {name} | {value * 1000:.0f} | {value / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
