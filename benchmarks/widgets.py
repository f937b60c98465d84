"""Widget benchmark: time to first rows and time to counts of the SearchPanel at 100k
records; lineage viewer at 2,000 files.

    /root/venv/bin/python benchmarks/widgets.py                      # SecantusDB started here
    /root/venv/bin/python benchmarks/widgets.py --uri mongodb://127.0.0.1:27017/
    JWSTNB_BENCH_MONGO_URI=... /root/venv/bin/python benchmarks/widgets.py --records 100000

What is timed (wall clock, in this process, no browser):

- SearchPanel, as in a kernel (counts on a worker thread): for a cycle of changes (the
  unfiltered view, a filter chain level -> instrument -> filter -> target -> status, text,
  tags, paging, column-header sorts, clear) over ``--records`` public records read by an
  anonymous session, the time from setting a control's value (what a click or keystroke
  does in the browser; ``debounce=0``) to the rows (``results`` updated: the page query)
  and to the counts (total and facets shown). Paging does not count again. Next to it,
  ``Session.items`` and ``Session.counts`` alone for the same criteria. Queries per change
  are told apart with pymongo's command monitoring (the counts query ends in ``$facet``).
- Typing: keystrokes 0.1 s apart while counts run; the time each keystroke takes to show
  its rows (the counts of replaced text are never sent or are dropped).
- LineageViewer: building the viewer for one observation of ``--files`` files
  (``session.lineage`` + layout + traits; in a kernel the selector's observation list
  loads in the background, timed separately), the layout alone, the size of the graph
  sent to the browser, and selecting the mosaic (details of a file with 666 parents).

The data comes from ``tests/browser/data.py`` (the same generators the tests use).
Prints a markdown table; ``--out FILE`` writes it there too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pymongo import monitoring  # noqa: E402

from jwstnb.session import Session, connect  # noqa: E402
from tests.browser.data import insert_all, lineage_records, search_records  # noqa: E402
from tests.servers import SecantusProcess  # noqa: E402

BIG_OBSERVATION = "jw09999-o001_t001_nircam"


class Commands(monitoring.CommandListener):
    """Commands sent, with aggregates named "items" or "counts" (a final ``$facet``)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name == "aggregate":
            pipeline = event.command.get("pipeline") or [{}]
            name = "counts" if "$facet" in pipeline[-1] else "items"
        self.names.append(name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}"


def p95(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000:.1f}"


def _wait_counts(panel: Any, before: int, timeout: float = 300.0) -> float:
    """Wait until the panel has shown a newer count; the time it did."""
    deadline = time.perf_counter() + timeout
    while panel.counted == before:
        if time.perf_counter() > deadline:
            raise AssertionError("counts never arrived")
        time.sleep(0.002)
    return time.perf_counter()


def _settle(panel: Any, timeout: float = 300.0) -> None:
    """Wait until no count is on its way."""
    deadline = time.perf_counter() + timeout
    while panel.counting and time.perf_counter() < deadline:
        time.sleep(0.005)


def bench_search(session: Session, rounds: int) -> tuple[list[str], dict[str, Any]]:
    from jwstnb.widgets import SearchPanel

    listener: Commands = session._bench_listener  # type: ignore[attr-defined]
    start = time.perf_counter()
    panel = SearchPanel(session, debounce=0, background_counts=True)
    first_rows = time.perf_counter() - start
    first_counts = _wait_counts(panel, 0) - start
    updated: list[float] = []
    panel.observe(lambda _: updated.append(time.perf_counter()), "results")
    facets = panel.facet_dropdowns
    changes: list[tuple[str, Callable[[], None]]] = [
        ("level = L3", lambda: setattr(facets["processing_level"], "value", "L3")),
        ("+ instrument = NIRCAM", lambda: setattr(facets["instrument"], "value", "NIRCAM")),
        ("+ filter = F200W", lambda: setattr(facets["filter"], "value", "F200W")),
        ("+ target = NGC 3132", lambda: setattr(facets["target_name"], "value", "NGC 3132")),
        ("+ status = completed", lambda: setattr(facets["status"], "value", "completed")),
        ("clear filters (unfiltered)", panel.clear),
        ("text 'ngc'", lambda: setattr(panel.text_input, "value", "ngc")),
        ("text 'ngc 3132'", lambda: setattr(panel.text_input, "value", "ngc 3132")),
        ("tags = [deep]", lambda: setattr(panel.tags_input, "value", ["deep"])),
        ("clear filters (unfiltered) ", panel.clear),
        ("page 2", lambda: setattr(panel, "page", 2)),
        ("page 500", lambda: setattr(panel, "page", 500)),
        ("header: file name A-Z", lambda: panel.set_sort("fileName")),
        ("header: newest upload", lambda: panel.set_sort("uploadDate", descending=True)),
        ("level = L1", lambda: setattr(facets["processing_level"], "value", "L1")),
        ("level = any", lambda: setattr(facets["processing_level"], "value", "")),
    ]
    rows_time: dict[str, list[float]] = {name: [] for name, _ in changes}
    counts_time: dict[str, list[float]] = {name: [] for name, _ in changes}
    raw_items: dict[str, list[float]] = {name: [] for name, _ in changes}
    raw_counts: dict[str, list[float]] = {name: [] for name, _ in changes}
    queries: dict[str, tuple[str, ...]] = {}
    totals: dict[str, int] = {}
    for _ in range(rounds):
        for name, change in changes:
            listener.names.clear()
            updated.clear()
            counted = panel.counted
            start = time.perf_counter()
            change()
            if not updated:
                raise AssertionError(f"{name}: results were not updated")
            rows_time[name].append(updated[0] - start)
            if panel.counting:
                counts_time[name].append(_wait_counts(panel, counted) - start)
            queries[name] = tuple(n for n in listener.names if n in ("items", "counts"))
            totals[name] = panel.total
            counted_s = f"{counts_time[name][-1]:.2f} s" if panel.counted > counted else "-"
            print(f"  {name.strip()}: rows {rows_time[name][-1]:.2f} s, counts {counted_s}",
                  file=sys.stderr, flush=True)
            criteria = dict(panel.criteria())
            start = time.perf_counter()
            session.items(**criteria, page=panel.page, page_size=panel.page_size)
            raw_items[name].append(time.perf_counter() - start)
            if counts_time[name]:
                start = time.perf_counter()
                session.counts(**criteria)
                raw_counts[name].append(time.perf_counter() - start)
    rows = [
        "| change | matching records | first rows, median ms | p95 ms | counts shown, median ms "
        "| `items` alone, ms | `counts` alone, ms | queries |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, _ in changes:
        counted_ms = ms(counts_time[name]) if counts_time[name] else "not recounted"
        raw_ms = ms(raw_counts[name]) if raw_counts[name] else "-"
        sent = " ".join(f"{q} x{queries[name].count(q)}" for q in dict.fromkeys(queries[name]))
        rows.append(f"| {name.strip()} | {totals[name]:,} | {ms(rows_time[name])} | "
                    f"{p95(rows_time[name])} | {counted_ms} | {ms(raw_items[name])} | {raw_ms} "
                    f"| {sent} |")
    every = [t for v in rows_time.values() for t in v]
    rows.append(f"| **every change** | | **{ms(every)}** | **{p95(every)}** | | | | |")
    typing = bench_typing(panel)
    summary = {
        "first_rows_ms": first_rows * 1000,
        "first_counts_ms": first_counts * 1000,
        "rows_median_ms": statistics.median(every) * 1000,
        "rows_max_ms": max(every) * 1000,
        "typing": typing,
    }
    return rows, summary


def bench_typing(panel: Any) -> dict[str, float]:
    """Keystrokes 0.1 s apart, counts running behind them: time from keystroke to rows."""
    panel.clear()
    _settle(panel)
    times: list[float] = []
    for text in ("n", "ng", "ngc", "ngc ", "ngc 3", "ngc 31", "ngc 313", "ngc 3132"):
        searches = panel.searches
        start = time.perf_counter()
        panel.text_input.value = text  # the page query runs here; counts go to the worker
        times.append(time.perf_counter() - start)
        assert panel.searches == searches + 1
        time.sleep(0.1)
    _settle(panel)
    return {"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000}


def bench_lineage(
    session: Session, exposures: int, rounds: int
) -> tuple[list[str], dict[str, Any]]:
    from jwstnb.widgets import LineageViewer
    from jwstnb.widgets._graph import layout_graph

    build: list[float] = []
    shown: list[float] = []
    listing: list[float] = []
    fetch: list[float] = []
    layout: list[float] = []
    select: list[float] = []
    viewer = None
    for _ in range(rounds):
        start = time.perf_counter()
        viewer = LineageViewer(session, BIG_OBSERVATION)
        build.append(time.perf_counter() - start)
        viewer.close()
        start = time.perf_counter()
        viewer = LineageViewer(session, BIG_OBSERVATION, observations=[BIG_OBSERVATION])
        shown.append(time.perf_counter() - start)
        start = time.perf_counter()
        session.observations()
        listing.append(time.perf_counter() - start)
        start = time.perf_counter()
        lineage = session.lineage(BIG_OBSERVATION)
        fetch.append(time.perf_counter() - start)
        start = time.perf_counter()
        layout_graph(BIG_OBSERVATION, lineage.levels, lineage.edges)
        layout.append(time.perf_counter() - start)
        i2d = next(n.id for n in lineage.levels["L3"] if n.file_name.endswith("_i2d.fits"))
        start = time.perf_counter()
        viewer.select(i2d)
        select.append(time.perf_counter() - start)
        viewer.close()
    assert viewer is not None
    graph = viewer.graph.graph
    payload = len(json.dumps(graph, separators=(",", ":")))
    rows = [
        "| lineage viewer step | median ms |",
        "|---|---:|",
        f"| graph on screen: `LineageViewer(session, obs)` in a kernel ({len(graph['nodes']):,} "
        f"files, {len(graph['edges']):,} edges; the observation list loads in the "
        f"background) | {ms(shown)} |",
        f"| of which `session.lineage(obs)` (one aggregate + models) | {ms(fetch)} |",
        f"| of which layout (`_graph.layout_graph`) | {ms(layout)} |",
        f"| observation list for the selector (`session.observations()`) | {ms(listing)} |",
        f"| `LineageViewer(session, obs)` outside a kernel (list loaded first) | {ms(build)} |",
        f"| select the mosaic (details of a file with {exposures:,} parents) | {ms(select)} |",
        f"| graph sent to the browser | {payload / 1024:.0f} KiB JSON |",
    ]
    return rows, {"build_ms": statistics.median(build) * 1000, "payload_bytes": payload}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--uri", default=os.environ.get("JWSTNB_BENCH_MONGO_URI"))
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    # A stopped run still stops the SecantusDB it started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    proc = None
    tmp = None
    uri = args.uri
    if not uri:
        tmp = tempfile.TemporaryDirectory(prefix="jwstnb-bench-")
        proc = SecantusProcess(Path(tmp.name) / "db")
        proc.start(timeout=60)
        uri = proc.uri
    database = f"jwstnb_bench_widgets_{uuid.uuid4().hex[:8]}"
    listener = Commands()
    admin = connect(uri, admin=True, database=database, timeout=30)
    reader = connect(uri, database=database, timeout=30, event_listeners=[listener])
    reader._bench_listener = listener  # type: ignore[attr-defined]
    try:
        start = time.perf_counter()
        insert_all(admin, search_records(args.records))
        exposures = (args.files - 2) // 3
        insert_all(admin, lineage_records(BIG_OBSERVATION, exposures))
        loaded = time.perf_counter() - start
        server = "SecantusDB (started here)" if proc else "the server at --uri"
        lines = [
            f"# jwstnb widget benchmark ({time.strftime('%Y-%m-%d')})",
            "",
            f"{reader.count():,} public records in {server}, read by an anonymous session; "
            f"loaded in {loaded:.0f} s. Python {platform.python_version()}, "
            f"{platform.machine()}, {os.cpu_count()} CPUs. {args.rounds} rounds.",
            "",
            "## SearchPanel: a change -> first rows, then counts",
            "",
        ]
        rows, summary = bench_search(reader, args.rounds)
        lines += rows
        typing = summary["typing"]
        lines += [
            "",
            f"Opening the panel (unfiltered): first rows {summary['first_rows_ms']:.0f} ms, "
            f"counts {summary['first_counts_ms']:.0f} ms. Typing 'ngc 3132' a key per 0.1 s "
            f"while counts run: rows {typing['median_ms']:.0f} ms median, "
            f"{typing['max_ms']:.0f} ms worst per keystroke.",
            "",
            f"## LineageViewer: one observation of {exposures * 3 + 2:,} files",
            "",
        ]
        rows, _ = bench_lineage(reader, exposures, args.rounds)
        lines += rows
        text = "\n".join(lines) + "\n"
        print(text)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text)
    finally:
        admin.client.drop_database(database)
        reader.close()
        admin.close()
        if proc is not None:
            proc.stop()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
