"""Search benchmark: jwstnb's Session.search against the same query written with raw pymongo.

    /root/venv/bin/python benchmarks/search.py                 # SecantusDB started here
    /root/venv/bin/python benchmarks/search.py --uri mongodb://127.0.0.1:27017/  # any server
    JWSTNB_BENCH_MONGO_URI=... /root/venv/bin/python benchmarks/search.py --records 100000

100k synthetic records are bulk-inserted (with the session's derived fields) into a fresh
database, then one query is timed many times, the variants interleaved in each round:

- ``jwstnb``: ``session.as_user(u).search(text="ngc 3132", data_type="image",
  processing_level="L3")`` -> a Page of 20 pydantic records (an index-sorted page query),
  then total and seven facets (a second aggregate), with the user's scope inside both.
- ``raw, same pipeline``: the same two aggregates written by hand with pymongo (dicts out,
  no models): the strict measure of what the toolkit adds. Target: median ratio <= 1.15.

``--sweep 1000,10000,100000`` instead times, at each size, the unfiltered view and each step
of a filter chain in the SearchPanel (as in a kernel: from a control's change to its rows, and
to its counts shown) and the Session calls it makes alone (``Session.items`` for the rows,
``Session.counts`` for total and facets, ``Session.search`` for both), in one table; then
typing into the panel while counts run.
- ``raw, obvious``: what one writes without jwstnb: ``find`` with ``$or`` scope and
  ``$regex`` text + ``sort/skip/limit``, ``count_documents``, and one aggregate per facet
  (8 round trips, none of them index-led on SecantusDB).

Prints a markdown table (medians, ratios) to stdout; ``--out FILE`` writes it there too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the shared test servers (tests/servers.py)

from pymongo import MongoClient  # noqa: E402

from jwstnb.criteria import FACETS as FACET_PATHS  # noqa: E402  (Page.facets key -> field)
from jwstnb.documents import derived_fields  # noqa: E402
from jwstnb.session import Session, connect  # noqa: E402
from tests.servers import benchmark_server  # noqa: E402

USER = "user007"
TEXT = "ngc 3132"
FILTERS = {"data_type": "image", "processing_level": "L3"}


def synthetic(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` valid stored documents: 60% public imports, 40% private to one of 100 users."""
    rnd = random.Random(seed)
    # Uploads spread over the past, the newest a minute ago (as in a live archive).
    t0 = datetime.now(UTC) - timedelta(seconds=37 * n + 60)
    instruments = {
        "NIRCAM": ["F090W", "F200W", "F444W"],
        "MIRI": ["F770W", "F1130W"],
        "NIRSPEC": ["CLEAR"],
        "NIRISS": ["F150W"],
    }
    targets = (
        [f"NGC {rnd.randrange(1000, 7999)}" for _ in range(150)]
        + ["NGC 3132"]
        + [f"M{i}" for i in range(1, 60)]
        + ["Carina Nebula", "Stephan's Quintet", "WR 140"]
    )
    docs = []
    for i in range(n):
        inst = rnd.choice(list(instruments))
        filt = rnd.choice(instruments[inst])
        program, obs = rnd.randrange(1000, 5000), rnd.randrange(1, 30)
        level = rnd.choice(["L1", "L2a", "L2b", "L3", "L3"])
        suffix = {"L1": "uncal", "L2a": "rate", "L2b": "cal", "L3": "i2d"}[level]
        name = f"jw{program:05d}-o{obs:03d}_t001_{inst.lower()}_{filt.lower()}_{suffix}_{i}.fits"
        public = rnd.random() < 0.6
        owner = None if public else f"user{rnd.randrange(100):03d}"
        doc: dict[str, Any] = {
            "fileName": name,
            "filePath": f"mast/jw{program:05d}-o{obs:03d}/{name}",
            "fileSize": rnd.randrange(10**6, 10**9),
            "fileFormat": "fits",
            "dataType": rnd.choice(["image", "image", "sensor", "spectral", "raw"]),
            "processingStatus": rnd.choice(["pending", "completed", "completed", "failed"]),
            "uploadDate": t0 + timedelta(seconds=37 * i),
            "tags": [],
            "description": None,
            "processingLevel": level,
            "observationBaseId": f"jw{program:05d}-o{obs:03d}_t001_{inst.lower()}",
            "exposureId": None,
            "parentId": None,
            "derivedFrom": [],
            "userId": owner,
            "isPublic": public,
            "sharedWith": [f"user{rnd.randrange(100):03d}"] if owner and rnd.random() < 0.1 else [],
            "archived": rnd.random() < 0.02,
            "metadata": {},
            "isViewable": True,
            "imageInfo": {"targetName": rnd.choice(targets), "instrument": inst, "filter": filt},
            "sensorInfo": None,
            "processingResults": [],
            "thumbnail": None,
        }
        doc.update(derived_fields(doc))
        docs.append(doc)
    return docs


def raw_same_pipeline(session: Session) -> Callable[[], Any]:
    """The two aggregates jwstnb sends (page, then counts), written by hand."""
    coll = session.client[session.database_name][session.collection_name]
    facets = {
        name: [{"$group": {"_id": f"${path}", "n": {"$sum": 1}}}]
        for name, path in FACET_PATHS.items()
    }
    match = [
        {"$match": {"keywords": {"$gte": "3132", "$lt": "3133"}}},
        {
            "$match": {
                "keywords": {"$regex": "^3132"},
                "processingLevel": "L3",
                "dataType": "image",
                "readers": {"$in": ["public", f"user:{USER}"]},
                "archived": {"$ne": True},
                "$and": [{"keywords": {"$regex": "^ngc"}}],
            }
        },
    ]
    page = [
        *match,
        {"$sort": {"uploadDate": -1, "_id": -1}},
        {"$skip": 0},
        {"$limit": 20},
        {"$project": {"keywords": 0, "readers": 0, "program": 0, "skyRegion": 0, "skyCells": 0}},
    ]
    counts = [*match, {"$facet": {"total": [{"$count": "n"}], **facets}}]

    def run() -> Any:
        items = list(coll.aggregate(page))
        result = next(iter(coll.aggregate(counts)))
        return items, result["total"][0]["n"], {k: result[k] for k in FACET_PATHS}

    return run


def raw_obvious(session: Session) -> Callable[[], Any]:
    """find + count_documents + one aggregate per facet, as written without the toolkit."""
    coll = session.client[session.database_name][session.collection_name]
    words = TEXT.split()
    fields = ["fileName", "description", "observationBaseId", "imageInfo.targetName"]
    query = {
        "$and": [
            {"$or": [{"isPublic": True}, {"userId": USER}, {"sharedWith": USER}]},
            *(
                {"$or": [{f: {"$regex": re.escape(w), "$options": "i"}} for f in fields]}
                for w in words
            ),
        ],
        "dataType": "image",
        "processingLevel": "L3",
        "archived": {"$ne": True},
    }

    def run() -> Any:
        items = list(coll.find(query).sort("uploadDate", -1).skip(0).limit(20))
        total = coll.count_documents(query)
        facets = {
            name: list(
                coll.aggregate(
                    [{"$match": query}, {"$group": {"_id": f"${path}", "n": {"$sum": 1}}}]
                )
            )
            for name, path in FACET_PATHS.items()
        }
        return items, total, facets

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", default=os.environ.get("JWSTNB_BENCH_MONGO_URI"))
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument(
        "--obvious-repeats",
        type=int,
        default=3,
        help="rounds that also time the (slow) obvious raw version",
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--sweep", help="sizes to time first rows and counts at, e.g. "
                        "1000,10000,100000")
    parser.add_argument("--rounds", type=int, default=0,
                        help="sweep: rounds of the filter chain (default 3, 1 from 50k)")
    args = parser.parse_args(argv)
    if args.sweep:
        return sweep([int(n) for n in args.sweep.split(",")], args)

    servers = contextlib.ExitStack()
    uri, server = servers.enter_context(benchmark_server(args.uri))
    database = f"jwstnb_bench_{uuid.uuid4().hex[:8]}"
    # Bulk load before the indexes exist (much faster on SecantusDB), then connect() puts the
    # validator on and builds the indexes; a last slice goes in through the validator.
    t = time.perf_counter()
    docs = synthetic(args.records)
    checked = docs[-1000:]
    raw: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=30_000)
    for start in range(0, len(docs) - len(checked), 5000):
        raw[database]["jwst_data"].insert_many(
            docs[start : min(start + 5000, len(docs) - len(checked))], ordered=False
        )
    raw.close()
    admin = connect(uri, admin=True, database=database, timeout=30)
    try:
        admin.collection.insert_many(checked, ordered=False)
        load_s = time.perf_counter() - t
        session = admin.as_user(USER)

        def jwstnb_search() -> Any:
            return session.search(text=TEXT, **FILTERS)

        same = raw_same_pipeline(admin)
        obvious = raw_obvious(admin)
        # The three must agree before their times mean anything.
        page = jwstnb_search()
        items, total, facets = same()
        assert page.total == total and [str(r.id) for r in page.items] == [
            str(d["_id"]) for d in items
        ]
        assert page.facets["data_type"] == {str(r["_id"]): r["n"] for r in facets["data_type"]}
        _, o_total, _ = obvious()
        plan = session.explain_search(text=TEXT, **FILTERS)

        times: dict[str, list[float]] = {"jwstnb": [], "same": [], "obvious": []}
        for _ in range(3):  # warm-up
            jwstnb_search()
            same()
        for round_ in range(args.repeats):
            variants: list[tuple[str, Callable[[], Any]]] = [
                ("jwstnb", jwstnb_search),
                ("same", same),
            ]
            if round_ < args.obvious_repeats:
                variants.append(("obvious", obvious))
            if round_ % 2:
                variants.reverse()
            for name, fn in variants:
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    finally:
        admin.client.drop_database(database)
        admin.close()
        servers.close()

    med = {k: statistics.median(v) * 1000 for k, v in times.items() if v}
    # Each round ran both: the median of the per-round ratios is robust to load drifting.
    paired = statistics.median(j / r for j, r in zip(times["jwstnb"], times["same"], strict=True))
    lines = [
        f"### Search benchmark: {args.records:,} records, {server}",
        "",
        f"Query: user scope `{USER}`, text `{TEXT}`, data_type=image, processing_level=L3, "
        f"page 1 of 20, six facets. Matches: {page.total} (obvious raw version, which "
        f"matches substrings in four fields: {o_total}). Load: {load_s:.1f} s. "
        f"jwstnb plan: {' > '.join(plan['stages'])} on `{plan['expected_index']}`.",
        "",
        "| variant | round trips | runs | median ms | ratio jwstnb / variant |",
        "|---|---:|---:|---:|---:|",
        f"| jwstnb `Session.search` (Page of models) | 2 | {len(times['jwstnb'])} | "
        f"{med['jwstnb']:.1f} | 1.00 |",
        f"| raw pymongo, same pipelines by hand (dicts) | 2 | {len(times['same'])} | "
        f"{med['same']:.1f} | {med['jwstnb'] / med['same']:.2f} |",
        f"| raw pymongo, obvious find + count + 6 facet aggregates | 8 | "
        f"{len(times['obvious'])} | {med['obvious']:.1f} | {med['jwstnb'] / med['obvious']:.3f} |",
        "",
        f"Median ratio jwstnb / same pipeline by hand: **{med['jwstnb'] / med['same']:.2f}** "
        f"(ratio of medians; median of per-round ratios {paired:.2f}; target <= 1.15).",
    ]
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    return 0


CHAIN: list[tuple[str, dict[str, Any]]] = [
    ("unfiltered", {}),
    ("text 'ngc'", {"text": "ngc"}),
    ("text 'ngc 3132'", {"text": "ngc 3132"}),
    ("+ data_type=image", {"text": "ngc 3132", "data_type": "image"}),
    ("+ level=L3", {"text": "ngc 3132", "data_type": "image", "processing_level": "L3"}),
    ("data_type=image only", {"data_type": "image"}),
    ("instrument=NIRCAM only", {"instrument": "NIRCAM"}),
    # A word of more than three letters that still matches a quarter of the archive.
    ("text 'nircam'", {"text": "nircam"}),
]


def _load(uri: str, n: int) -> tuple[Session, str]:
    database = f"jwstnb_bench_{uuid.uuid4().hex[:8]}"
    docs = synthetic(n)
    raw: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=30_000)
    for start in range(0, len(docs), 5000):
        raw[database]["jwst_data"].insert_many(docs[start : start + 5000], ordered=False)
    raw.close()
    return connect(uri, admin=True, database=database, timeout=60), database


def _seconds(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _wait_counts(panel: Any, before: int, timeout: float = 900.0) -> float:
    """Seconds until the panel shows a count newer than ``before`` (from now)."""
    deadline = time.perf_counter() + timeout
    while panel.counted == before:
        if time.perf_counter() > deadline:
            raise AssertionError("the panel's counts never arrived")
        time.sleep(0.002)
    return time.perf_counter()


def _panel_step(panel: Any, criteria: dict[str, Any]) -> tuple[float, float]:
    """Set the panel's controls to ``criteria`` as a user does (the last change through the
    widget, whose observer searches; earlier ones quietly). Seconds to rows, to counts."""
    from jwstnb.criteria import FACETS

    changes: list[tuple[str, str]] = []
    if panel.text_input.value != criteria.get("text", ""):
        changes.append(("text", criteria.get("text", "")))
    for key in FACETS:
        if (panel.facet_dropdowns[key].value or "") != criteria.get(key, ""):
            changes.append((key, criteria.get(key, "")))

    def apply(name: str, value: str) -> None:
        if name == "text":
            panel.text_input.value = value
        else:
            panel.set_facet(name, value or None)

    with panel._quietly():
        for name, value in changes[:-1]:
            apply(name, value)
    searches, counted = panel.searches, panel.counted
    start = time.perf_counter()
    if changes:
        apply(*changes[-1])  # the page query runs here; the counts go to a worker thread
    else:
        panel.search_now()
    rows = time.perf_counter() - start
    assert panel.searches == searches + 1, "the change did not search"
    counts = _wait_counts(panel, counted) - start
    assert panel.criteria() == {"sort": "uploadDate", "descending": True, **criteria}, (
        panel.criteria())
    return rows, counts


def _typing(panel: Any) -> list[float]:
    """Keystrokes 0.1 s apart (counts wait for a pause): each keystroke's time to rows."""
    before = panel.counted
    panel.clear()
    _wait_counts(panel, before)
    times = []
    for text in ("n", "ng", "ngc", "ngc ", "ngc 3", "ngc 31", "ngc 313", "ngc 3132"):
        times.append(_seconds(lambda t=text: setattr(panel.text_input, "value", t)))
        time.sleep(0.1)
    while panel.counting:
        time.sleep(0.01)
    return times


def sweep(sizes: list[int], args: argparse.Namespace) -> int:
    """First rows and counts per size and filter step (anonymous scope): the SearchPanel as
    in a kernel (counts on a worker thread) and the Session calls it makes, in one table."""
    from jwstnb.widgets import SearchPanel

    servers = contextlib.ExitStack()
    uri, server = servers.enter_context(benchmark_server(args.uri))
    rows = []
    typing = []
    try:
        for n in sizes:
            admin, database = _load(uri, n)
            try:
                s = admin.anonymous()
                s.items()  # the first broad page finds where the newest uploads are
                panel = SearchPanel(s, debounce=0, background_counts=True)
                _wait_counts(panel, 0)
                rounds = args.rounds or (1 if n >= 50_000 else 3)
                times: dict[str, dict[str, list[float]]] = {}
                for _ in range(rounds):
                    for label, criteria in CHAIN:
                        got = times.setdefault(label, {})
                        panel_rows, panel_counts = _panel_step(panel, criteria)
                        got.setdefault("panel rows", []).append(panel_rows)
                        got.setdefault("panel counts", []).append(panel_counts)
                        for call in ("items", "counts", "search"):
                            method = getattr(s, call)
                            got.setdefault(call, []).append(
                                _seconds(lambda m=method, c=criteria: m(**c)))
                        print(f"  {n:,} {label}: panel rows {panel_rows:.3f} s, counts "
                              f"{panel_counts:.3f} s", file=sys.stderr, flush=True)
                for label, criteria in CHAIN:
                    med = {k: statistics.median(v) * 1000 for k, v in times[label].items()}
                    total = s.counts(**criteria).total
                    rows.append(
                        f"| {n:,} | {label} | {total:,} | {med['panel rows']:.0f} | "
                        f"{med['items']:.0f} | {med['panel counts']:.0f} | {med['counts']:.0f} "
                        f"| {med['search']:.0f} |"
                    )
                keys = _typing(panel)
                print("  typing:", " ".join(f"{k * 1000:.0f}" for k in keys), file=sys.stderr)
                typing.append(f"{n:,} records: median {statistics.median(keys) * 1000:.0f} ms, "
                              f"slowest {max(keys) * 1000:.0f} ms")
                panel.close()
            finally:
                admin.client.drop_database(database)
                admin.close()
    finally:
        servers.close()
    command = "python benchmarks/search.py --sweep " + ",".join(str(n) for n in sizes)
    table = "\n".join([
        f"### First rows and counts by size ({server}, anonymous scope, page of 20)",
        "",
        f"`{command}`. Medians; the SearchPanel is timed as in a kernel (no browser): from "
        "the control's change to its rows, and to its counts shown (counted on a worker "
        "thread); beside it the Session calls alone.",
        "",
        "| records | search | matches | SearchPanel: first rows, ms | `Session.items`, ms "
        "| SearchPanel: counts shown, ms | `Session.counts`, ms | `Session.search` (both), ms |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Typing 'ngc 3132' into the panel, a key per 0.1 s (each count waits count_delay "
        "for a pause), keystroke to its rows: " + "; ".join(typing) + ".",
    ])
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
