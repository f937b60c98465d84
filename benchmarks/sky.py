"""Sky benchmark: a 0.1 deg cone search against the same search with no position, and
against brute force in Python, over 100k records with footprints.

    .venv/bin/python benchmarks/sky.py                   # SecantusDB started here
    .venv/bin/python benchmarks/sky.py --uri mongodb://127.0.0.1:27017/   # any server
    .venv/bin/python benchmarks/sky.py --records 20000 --rounds 3          # quicker
    .venv/bin/python benchmarks/sky.py --uri URI --database sky100k        # load once, keep

The records are 25k synthetic NIRCam-like exposures x 4 products (uncal, rate, cal, i2d
names; one footprint per exposure, shared by its products as in real data): a 2.2' square
footprint at a random angle, centres uniform on the sky except 2% within 0.3 deg of NGC 3132.
They are stored through the session's own document mapping (``session.document``: derived
keywords, readers, the GeoJSON ``skyRegion`` and the HEALPix ``skyCells``), inserted in
batches with ``insert_many`` before the indexes exist (SecantusDB's 2dsphere index build is
most of the load time: about 13 ms a record on this machine).

Timed, interleaved in each round (median over rounds):

- cone: ``session.items`` (the page of 20), ``session.counts`` (total + facets) and
  ``session.search`` (both) for ``position=(151.757, -40.436), radius=0.1``;
- no position: the same three calls with no position (the whole collection);
- brute force: fetch every record's centre and footprint, then ``jwstnb.sky.matches_cone``
  on each (STC-S parsed once per distinct footprint text); fewer rounds, it is slow.

The cone's ids are checked against brute force before any time is taken.
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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the shared test servers (tests/servers.py)

from jwstnb import sky  # noqa: E402
from jwstnb.documents import keywords_for  # noqa: E402
from jwstnb.schema import ImageMetadata, JwstDataModel  # noqa: E402
from jwstnb.session import Session, connect  # noqa: E402
from tests.servers import benchmark_server  # noqa: E402

CENTRE = (151.757, -40.436)  # NGC 3132
RADIUS = 0.1
SIDE = 2.2 / 60  # a NIRCam detector's field, degrees
PRODUCTS = (("L1", "raw", "uncal"), ("L2a", "sensor", "rate"), ("L2b", "image", "cal"),
            ("L3", "image", "i2d"))
T0 = datetime(2022, 7, 1, tzinfo=UTC)


def centres(exposures: int, seed: int) -> tuple[list[float], list[float], list[float]]:
    """Exposure centres (ra, dec) and position angles: 2% near NGC 3132, the rest uniform."""
    import numpy as np

    rng = np.random.default_rng(seed)
    near = max(1, exposures // 50)
    far = exposures - near
    ra = rng.uniform(0.0, 360.0, far)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, far)))
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    around = SkyCoord(*CENTRE, unit="deg").directional_offset_by(
        rng.uniform(0, 360, near) * u.deg, np.sqrt(rng.uniform(0, 1, near)) * 0.3 * u.deg
    )
    ras = np.concatenate([ra, around.ra.deg])
    decs = np.concatenate([dec, around.dec.deg])
    return ras.tolist(), decs.tolist(), rng.uniform(0, 90, exposures).tolist()


def footprints(ras: list[float], decs: list[float], angles: list[float]) -> list[str]:
    """STC-S squares of side SIDE around each centre, corners placed by astropy offsets."""
    import numpy as np
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    centre = SkyCoord(ras, decs, unit="deg")
    half_diagonal = SIDE / np.sqrt(2) * u.deg
    corners = [centre.directional_offset_by((np.asarray(angles) + 45 + 90 * k) * u.deg,
                                            half_diagonal) for k in range(4)]
    out = []
    for i in range(len(ras)):
        pairs = " ".join(f"{c.ra.deg[i]:.7f} {c.dec.deg[i]:.7f}" for c in corners)
        out.append(f"POLYGON ICRS {pairs}")
    return out


def documents(session: Session, records: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """Stored documents: the first product of an exposure through ``session.document``; its
    siblings share that footprint, so they copy its ``skyRegion`` and get their own names
    and keywords (deriving the same GeoJSON four times would only slow the load)."""
    exposures = -(-records // len(PRODUCTS))
    ras, decs, angles = centres(exposures, seed)
    regions = footprints(ras, decs, angles)
    rnd = random.Random(seed)
    made = 0
    for i in range(exposures):
        exposure = f"jw{1000 + i // 200:05d}{i % 200 + 1:03d}001_02101_00001"
        program = exposure[2:7]
        info = ImageMetadata(target_name=rnd.choice(["NGC 3132", "Field", "WR 140"]),
                             instrument="NIRCAM", filter=rnd.choice(["F090W", "F200W"]),
                             ra=ras[i] % 360.0, dec=decs[i], footprint=regions[i])
        first: dict[str, Any] | None = None
        for level, data_type, suffix in PRODUCTS:
            if made >= records:
                return
            name = (f"jw{program}-o{i % 200 + 1:03d}_t001_nircam_clear-f090w_{suffix}_{i}.fits"
                    if level == "L3" else f"{exposure}_nrca1_{suffix}_{i}.fits")
            if first is None:
                model = JwstDataModel(
                    file_name=name, file_path=f"bench/{exposure}/{name}", data_type=data_type,
                    processing_level=level, is_public=True, image_info=info,
                    upload_date=T0 + timedelta(seconds=37 * made),
                    observation_base_id=f"jw{program}-o{i % 200 + 1:03d}_t001_nircam",
                )
                first = session.document(model)
                doc = first
            else:
                doc = {k: v for k, v in first.items() if k != "_id"}
                doc.update(fileName=name, filePath=f"bench/{exposure}/{name}",
                           dataType=data_type, processingLevel=level,
                           uploadDate=T0 + timedelta(seconds=37 * made))
                doc["keywords"] = keywords_for(doc)
            made += 1
            yield doc


def brute_force(session: Session) -> set[str]:
    """Every record's centre and footprint fetched, each tested with ``sky.matches_cone``."""
    shapes: dict[str, sky.Footprint | None] = {}
    out = set()
    projection = {"imageInfo.ra": 1, "imageInfo.dec": 1, "imageInfo.footprint": 1}
    for doc in session.collection.find({}, projection, batch_size=5000):
        info = doc.get("imageInfo") or {}
        text = info.get("footprint")
        footprint = None
        if text:
            if text not in shapes:
                shapes[text] = sky.parse_stcs(text)
            footprint = shapes[text]
        centre = (info["ra"], info["dec"]) if info.get("ra") is not None else None
        if sky.matches_cone(footprint, centre, CENTRE[0], CENTRE[1], RADIUS):
            out.add(str(doc["_id"]))
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", default=os.environ.get("JWSTNB_BENCH_MONGO_URI"))
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--brute-rounds", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--database", help="load into this database once and keep it (a "
                        "later run with the same name and --uri reuses it); default: a "
                        "fresh database, dropped afterwards")
    args = parser.parse_args(argv)

    servers = contextlib.ExitStack()
    uri, server = servers.enter_context(benchmark_server(args.uri))
    database = args.database or f"jwstnb_bench_sky_{uuid.uuid4().hex[:8]}"
    # Documents are made by a session on a scratch database and bulk-loaded before the
    # indexes exist (much faster on SecantusDB); connect() then builds the indexes.
    maker = connect(uri, admin=True, database=database + "_maker", timeout=60)
    cone = {"position": CENTRE, "radius": RADIUS}
    times: dict[str, list[float]] = {}
    admin = None
    try:
        t = time.perf_counter()
        target = maker.client[database][maker.collection_name]
        kept = args.database is not None and target.estimated_document_count() > 0
        batch: list[dict[str, Any]] = []
        for doc in () if kept else documents(maker, args.records):
            batch.append(doc)
            if len(batch) >= 2000:
                target.insert_many(batch, ordered=False)
                batch = []
        if batch:
            target.insert_many(batch, ordered=False)
        admin = connect(uri, admin=True, database=database, timeout=120)
        load_s = time.perf_counter() - t
        stored = admin.count()
        reader = admin.anonymous()

        # Correct first: the cone's records are exactly brute force's.
        expected = brute_force(admin)
        found = {str(r.id) for r in admin.items(**cone)}
        total = admin.counts(**cone).total
        every = {str(i) for i in admin.table(batch=500, **cone)["id"]}
        assert every == expected and total == len(expected), (len(every), total, len(expected))
        assert found <= expected
        plans = {read: admin.explain(read, **cone) for read in ("candidates", "search")}

        variants: dict[str, Callable[[], Any]] = {
            "cone items": lambda: reader.items(**cone),
            "cone counts": lambda: reader.counts(**cone),
            "cone search": lambda: reader.search(**cone),
            "all items": lambda: reader.items(),
            "all counts": lambda: reader.counts(),
            "all search": lambda: reader.search(),
        }
        for fn in variants.values():  # warm-up
            fn()
        for round_ in range(args.rounds):
            order = list(variants.items())
            if round_ % 2:
                order.reverse()
            for name, fn in order:
                times.setdefault(name, []).append(timed(fn)[0])
        for _ in range(args.brute_rounds):
            seconds, matched = timed(lambda: brute_force(admin))
            assert matched == expected
            times.setdefault("brute force", []).append(seconds)
    finally:
        if args.database is None:
            maker.client.drop_database(database)
        maker.client.drop_database(database + "_maker")
        maker.close()
        if admin is not None:
            admin.close()
        servers.close()

    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    command = "python " + " ".join(["benchmarks/sky.py", *(argv or sys.argv[1:])])
    rows = [
        ("page (`items`)", "cone items", "all items"),
        ("total + facets (`counts`)", "cone counts", "all counts"),
        ("both (`search`)", "cone search", "all search"),
    ]
    lines = [
        f"### Sky benchmark: {stored:,} records with footprints, {server}",
        "",
        f"`{command}`. Cone: {RADIUS} deg around {CENTRE} (NGC 3132): {len(expected)} "
        f"matches. Load: {'kept database' if kept else f'{load_s:.0f} s'}. Plans: "
        + "; ".join(f"{read} {' > '.join(p['stages'])} on {p['indexes'][0]!r}"
                    for read, p in plans.items())
        + ". "
        f"Median of {args.rounds} rounds (brute force: {args.brute_rounds}).",
        "",
        "| operation | cone, ms | no position, ms | cone / no position |",
        "|---|---:|---:|---:|",
    ]
    for label, a, b in rows:
        lines.append(f"| {label} | {med[a]:.1f} | {med[b]:.1f} | {med[a] / med[b]:.3f} |")
    brute = med["brute force"]
    lines += [
        f"| brute force in Python (fetch all + `matches_cone`) | {brute:.0f} | | |",
        "",
        f"Cone `search` / no-position `search`: **{med['cone search'] / med['all search']:.3f}**"
        f" (target <= 0.1); cone `search` / brute force: "
        f"**{med['cone search'] / brute:.4f}**.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
