"""Target-list benchmark: ``Session.search_targets`` for 200 targets against 200 single
``Session.search`` calls, side by side, over records with footprints.

    .venv/bin/python benchmarks/targets.py                     # SecantusDB started here
    .venv/bin/python benchmarks/targets.py --uri mongodb://127.0.0.1:27017/   # any server
    .venv/bin/python benchmarks/targets.py --records 20000 --rounds 3

The records are the sky benchmark's (benchmarks/sky.py: NIRCam-like 2.2' square footprints,
centres uniform on the sky except 2% near NGC 3132), bulk-loaded the same way. The 200
targets: 100 around NGC 3132 (within 0.3 deg) and 100 at random records' centres, each with
a 30 arcsec radius; anonymous scope.

Correct first: every target's rows of the one table equal that target's single search (all
its matches, page_size 500). Then, interleaved in each round (median over rounds): the one
call, and the 200 calls.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the shared test servers and the sky benchmark's records

from benchmarks.sky import CENTRE, documents  # noqa: E402
from jwstnb.session import connect  # noqa: E402
from tests.servers import benchmark_server  # noqa: E402

RADIUS_ARCSEC = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--uri", default=os.environ.get("JWSTNB_BENCH_MONGO_URI"))
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import astropy.units as u
    from astropy.coordinates import SkyCoord

    servers = contextlib.ExitStack()
    uri, server = servers.enter_context(benchmark_server(args.uri))
    database = f"jwstnb_bench_targets_{uuid.uuid4().hex[:8]}"
    maker = connect(uri, admin=True, database=database + "_maker", timeout=60)
    admin = None
    try:
        target = maker.client[database][maker.collection_name]
        batch: list[dict[str, Any]] = []
        for doc in documents(maker, args.records):
            batch.append(doc)
            if len(batch) >= 2000:
                target.insert_many(batch, ordered=False)
                batch = []
        if batch:
            target.insert_many(batch, ordered=False)
        admin = connect(uri, admin=True, database=database, timeout=120)
        reader = admin.anonymous()

        rng = random.Random(5)
        centres = [(d["imageInfo"]["ra"], d["imageInfo"]["dec"]) for d in
                   target.find({}, {"imageInfo.ra": 1, "imageInfo.dec": 1}).limit(5000)]
        near = SkyCoord(*CENTRE, unit="deg").directional_offset_by(
            [rng.uniform(0, 360) for _ in range(args.targets // 2)] * u.deg,
            [rng.uniform(0, 0.3) for _ in range(args.targets // 2)] * u.deg)
        picked = rng.sample(centres, args.targets - args.targets // 2)
        ras = [*near.ra.deg.tolist(), *(c[0] for c in picked)]
        decs = [*near.dec.deg.tolist(), *(c[1] for c in picked)]
        targets = SkyCoord(ras, decs, unit="deg")
        radius = RADIUS_ARCSEC * u.arcsec

        def one_call() -> Any:
            return reader.search_targets(targets, radius=radius)

        def single_calls() -> list[Any]:
            return [reader.search(position=t, radius=radius, page_size=500) for t in targets]

        table, pages = one_call(), single_calls()
        for k, page in enumerate(pages):
            rows = table[table["target_index"] == k]
            if list(rows["id"]) != [str(r.id) for r in page.items]:
                print(f"MISMATCH at target {k}", file=sys.stderr)
                return 1
        print(f"{server}; {admin.count()} records; {len(targets)} targets, radius "
              f"{RADIUS_ARCSEC:g} arcsec; {len(table)} rows, "
              f"{len(set(table['target_index']))} targets with matches; identical to the "
              "single searches")
        times: dict[str, list[float]] = {"search_targets": [], "single searches": []}
        for _ in range(args.rounds):
            for name, fn in (("search_targets", one_call), ("single searches", single_calls)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        one = statistics.median(times["search_targets"])
        many = statistics.median(times["single searches"])
        print(f"search_targets, 1 call:        {one * 1000:9.1f} ms (median of {args.rounds})")
        print(f"search, {len(targets)} calls:          {many * 1000:9.1f} ms")
        print(f"ratio: {many / one:.1f}x")
    finally:
        maker.client.drop_database(database + "_maker")
        maker.client.drop_database(database)
        maker.close()
        if admin is not None:
            admin.close()
        servers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
