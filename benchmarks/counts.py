"""Counts benchmark: a broad view's total and facets from the counts summary, beside counting
them over the records, at growing archive sizes.

    python benchmarks/counts.py                               # SecantusDB started here
    python benchmarks/counts.py --sizes 30000,100000 --rounds 5
    python benchmarks/counts.py --uri mongodb://127.0.0.1:27017/

Records (``tests/browser/data.py``) are stored through ``Session.insert_new`` in batches of
1,000, the path a scan or an import takes: nine in ten public, the rest alice's (half of them
shared with the group ``lab``, of which bob is a member). At each size, in one run:

1. jwstnb: ``Session.counts()`` with no criteria (the SearchPanel's first total and facets),
   as anonymous, alice, bob and an admin: read from the summary;
2. the obvious alternative: the same total and facets counted over the records (the
   ``$facet`` aggregation the session runs for a narrow view; what it ran for every view
   before), the median of fewer rounds (it is slow);
3. ``Session.recount()`` (``jwstnb doctor --recount``): every record counted again.

First, what keeping the summary costs writes: ``Session.insert``, ``archive`` and
``insert_new`` (batches of 500), ``--writes`` of each, with the summary kept and with only
the newest upload noted (what writes kept before it), each on a fresh collection.

Every summary answer is checked equal to counting, and the recount must find no difference.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.first_page import load, median_seconds  # noqa: E402
from tests.browser.data import search_records  # noqa: E402
from tests.servers import benchmark_server  # noqa: E402

DATABASE = "bench_counts"


def team_records(start: int, stop: int) -> Iterator[Any]:
    """Records ``start``..``stop``: every tenth alice's own, every twentieth shared with lab."""
    from itertools import islice

    for i, record in enumerate(islice(search_records(stop), start, None), start):
        if i % 10 == 0:
            shared = ["group:lab"] if i % 20 == 0 else []
            record = record.model_copy(
                update={"user_id": "alice", "is_public": False, "shared_with": shared}
            )
        yield record


def counted(view: Any) -> Any:
    """``view.counts()`` counted over the records, the summary set aside."""
    from jwstnb.session import reads

    saved = reads.summary_counts
    reads.summary_counts = lambda *a, **k: None
    try:
        return view.counts()
    finally:
        reads.summary_counts = saved


def measure(uri: str, rounds: int, slow_rounds: int) -> dict[str, float]:
    """The timings at one size, on a fresh connection (as a new kernel's)."""
    from jwstnb.session import connect

    out: dict[str, float] = {}
    session = connect(uri, admin=True, database=DATABASE, timeout=30)
    try:
        views = {"anonymous": session.anonymous(), "alice": session.as_user("alice"),
                 "bob (group lab)": session.as_user("bob"), "admin": session}
        for name, view in views.items():
            fast, answer = median_seconds(view.counts, rounds)
            slow, truth = median_seconds(lambda v=view: counted(v), slow_rounds)
            assert answer == truth, (name, answer.total, truth.total)
            out[f"summary, {name}"] = fast
            out[f"counting, {name}"] = slow
        seconds, found = median_seconds(session.recount, 1)
        assert found.was_exact and found.differences == [], found.differences[:5]
        out["recount (doctor --recount)"] = seconds
    finally:
        session.close()
    return out


@contextlib.contextmanager
def noting_only(records: Any, active: bool = True) -> Iterator[Any]:
    """What writes kept before the summary: only the newest upload (one unsynced ``$max``)."""
    from pymongo import WriteConcern

    from jwstnb.tally import Change

    change = Change()
    yield change
    if change.newest is not None:
        records.database.get_collection(
            "jwst_summary", write_concern=WriteConcern(w=1, j=False)
        ).update_one({"_id": f"uploads:{records.name}"}, {"$max": {"newest": change.newest}},
                     upsert=True)


def write_costs(uri: str, n: int) -> dict[str, float]:
    """Writes per second with the summary kept, and with only the newest upload noted (as
    before), each on a fresh collection: ``Session.insert``, ``set_status``, ``insert_new``."""
    from jwstnb.session import _base, connect, summary, writes

    out: dict[str, float] = {}
    kept = summary.keeping
    for label, keeper in (("before (newest upload only)", noting_only), ("summary kept", kept)):
        session = connect(uri, admin=True, database=DATABASE + "_writes", timeout=30,
                          collection=f"w_{label[:6]}")
        for module in (_base, writes, summary):
            module.keeping = keeper  # type: ignore[attr-defined]
        try:
            records = list(team_records(0, 2 * n))
            start = time.perf_counter()
            ids = [session.insert(r) for r in records[:n]]
            out[f"Session.insert, {label}"] = n / (time.perf_counter() - start)
            start = time.perf_counter()
            for rid in ids:
                session.archive(rid)
            out[f"archive, {label}"] = n / (time.perf_counter() - start)
            start = time.perf_counter()
            for first in range(n, 2 * n, 500):
                session.insert_new(records[first:first + 500])
            out[f"insert_new (batches of 500), {label}"] = n / (time.perf_counter() - start)
        finally:
            for module in (_base, writes, summary):
                module.keeping = kept  # type: ignore[attr-defined]
            session.collection.drop()
            session.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", default=os.environ.get("JWSTNB_BENCH_MONGO_URI"))
    parser.add_argument("--sizes", default="30000,100000", help="archive sizes, ascending")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slow-rounds", type=int, default=2)
    parser.add_argument("--writes", type=int, default=1000,
                        help="writes of each kind timed with and without the summary")
    args = parser.parse_args(argv)
    os.environ["JWSTNB_CONFIG"] = os.devnull
    sizes = [int(s) for s in args.sizes.split(",")]
    from jwstnb.session import connect

    results: list[tuple[int, float, dict[str, float]]] = []
    with benchmark_server(args.uri) as (uri, where):
        costs = write_costs(uri, args.writes) if args.writes else {}
        print(costs, file=sys.stderr, flush=True)
        admin = connect(uri, admin=True, database=DATABASE, timeout=30)
        admin.add_to_group("lab", "bob")
        try:
            have = 0
            for size in sizes:
                seconds = load(admin, have, size, team_records(have, size))
                print(f"loaded {size - have:,} records in {seconds:.0f} s", file=sys.stderr)
                have = size
                results.append((size, seconds, measure(uri, args.rounds, args.slow_rounds)))
                print(results[-1], file=sys.stderr, flush=True)
        finally:
            admin.client.drop_database(DATABASE)
            admin.close()
    print(f"\n{where}; {platform.platform()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; median of {args.rounds} rounds (counting: "
          f"{args.slow_rounds})\n")
    print("| records | total + facets | ms | counting / summary |")
    print("|---:|---|---:|---:|")
    for size, _seconds, out in results:
        for name, value in out.items():
            ratio = ""
            if name.startswith("summary, "):
                ratio = f"{out['counting, ' + name[9:]] / value:,.0f}x"
            print(f"| {size:,} | {name} | {value * 1000:,.1f} | {ratio} |")
    if costs:
        print(f"\n| write ({args.writes:,} each) | records/s | / before |")
        print("|---|---:|---:|")
        for name, rate in costs.items():
            base = costs[name.split(", ")[0] + ", before (newest upload only)"]
            print(f"| {name} | {rate:,.0f} | {rate / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
