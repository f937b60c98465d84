"""Widget benchmark: filter change -> updated ``results`` at 100k records; lineage viewer at
2,000 files.

    /root/venv/bin/python benchmarks/widgets.py                      # SecantusDB started here
    /root/venv/bin/python benchmarks/widgets.py --uri mongodb://127.0.0.1:27017/
    JWSTNB_BENCH_MONGO_URI=... /root/venv/bin/python benchmarks/widgets.py --records 100000

What is timed (wall clock, in this process, no browser):

- SearchPanel: the time from setting a control's value (what a click or keystroke does
  in the browser; ``debounce=0``) to the panel's ``results`` trait being updated, for a
  cycle of filter changes (level, instrument, filter, target, status, text, tags, page,
  sort, clear) over ``--records`` public records read by an anonymous session. Next to
  it, ``Session.search`` alone for the same criteria, so the widget's own cost shows.
  Commands per change are counted with pymongo's command monitoring (expected: one
  ``aggregate``).
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
    """Names of the commands sent (to count round trips per change)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}"


def p95(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000:.1f}"


def bench_search(session: Session, rounds: int) -> tuple[list[str], dict[str, Any]]:
    from jwstnb.widgets import SearchPanel

    listener: Commands = session._bench_listener  # type: ignore[attr-defined]
    start = time.perf_counter()
    panel = SearchPanel(session, debounce=0)
    first = time.perf_counter() - start
    updated: list[float] = []
    panel.observe(lambda _: updated.append(time.perf_counter()), "results")
    facets = panel.facet_dropdowns
    changes: list[tuple[str, Callable[[], None]]] = [
        ("level = L3", lambda: setattr(facets["processing_level"], "value", "L3")),
        ("+ instrument = NIRCAM", lambda: setattr(facets["instrument"], "value", "NIRCAM")),
        ("+ filter = F200W", lambda: setattr(facets["filter"], "value", "F200W")),
        ("+ target = NGC 3132", lambda: setattr(facets["target_name"], "value", "NGC 3132")),
        ("+ status = completed", lambda: setattr(facets["status"], "value", "completed")),
        ("clear filters", panel.clear),
        ("text 'ngc'", lambda: setattr(panel.text_input, "value", "ngc")),
        ("text 'ngc 3132'", lambda: setattr(panel.text_input, "value", "ngc 3132")),
        ("tags = [deep]", lambda: setattr(panel.tags_input, "value", ["deep"])),
        ("clear filters ", panel.clear),
        ("page 2", lambda: setattr(panel, "page", 2)),
        ("page 500", lambda: setattr(panel, "page", 500)),
        ("sort file name", lambda: setattr(panel.sort_dropdown, "value", "File name A-Z")),
        ("sort newest", lambda: setattr(panel.sort_dropdown, "value", "Newest upload first")),
        ("level = L1", lambda: setattr(facets["processing_level"], "value", "L1")),
        ("level = any", lambda: setattr(facets["processing_level"], "value", "")),
    ]
    widget: dict[str, list[float]] = {name: [] for name, _ in changes}
    raw: dict[str, list[float]] = {name: [] for name, _ in changes}
    round_trips: set[tuple[str, ...]] = set()
    totals: dict[str, int] = {}
    for _ in range(rounds):
        for name, change in changes:
            listener.names.clear()
            updated.clear()
            start = time.perf_counter()
            change()
            if not updated:
                raise AssertionError(f"{name}: results were not updated")
            widget[name].append(updated[-1] - start)
            round_trips.add(tuple(listener.names))
            totals[name] = panel.total
            criteria = dict(panel.criteria(), page=panel.page, page_size=panel.page_size)
            start = time.perf_counter()
            session.search(**criteria)
            raw[name].append(time.perf_counter() - start)
    rows = [
        "| change | matching records | widget: change -> results, median ms | p95 ms "
        "| Session.search alone, median ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, _ in changes:
        rows.append(f"| {name.strip()} | {totals[name]:,} | {ms(widget[name])} | "
                    f"{p95(widget[name])} | {ms(raw[name])} |")
    every = [t for v in widget.values() for t in v]
    every_raw = [t for v in raw.values() for t in v]
    rows.append(f"| **all changes** | | **{ms(every)}** | **{p95(every)}** | {ms(every_raw)} |")
    summary = {
        "first_page_ms": first * 1000,
        "median_ms": statistics.median(every) * 1000,
        "p95_ms": float(p95(every)),
        "raw_median_ms": statistics.median(every_raw) * 1000,
        "round_trips": sorted(round_trips),
    }
    return rows, summary


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
            "## SearchPanel: filter change -> updated `results`",
            "",
        ]
        rows, summary = bench_search(reader, args.rounds)
        lines += rows
        lines += [
            "",
            f"First page at construction: {summary['first_page_ms']:.0f} ms. Commands per "
            f"change (command monitoring): {summary['round_trips']}.",
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
