"""What durability costs: inserts/s through ``jwstnb.connect()``, and what ``kill -9`` keeps.

Four set-ups, each a fresh SecantusDB daemon on 127.0.0.1, each measured with N single
``Session.insert`` calls of small JwstDataModel records (one client, as a notebook cell does),
after N bare ``insert_one`` calls of small documents through the same client (the cost of the
sync alone, without jwstnb's per-record work); then the daemon is killed with SIGKILL right
after the last record was acknowledged and restarted on the same data to count what survived:

1. before: a daemon without ``--sync-on-commit``, sessions with ``journal=False``;
2. journaled acknowledgement only (``journal=True``, jwstnb's default) on that daemon;
3. after: the embedded daemon as ``connect()`` starts it (``--sync-on-commit``, auth, the
   kernels' account) with jwstnb's default ``journal=True``;
4. the embedded daemon with ``journal=False`` (a bulk load its caller re-runs anyway).

Prints a markdown table. Run: ``python benchmarks/durability.py [--n 1000]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the shared test servers (tests/servers.py)

import jwstnb  # noqa: E402
from jwstnb import localdb  # noqa: E402
from jwstnb.schema import JwstDataModel  # noqa: E402
from tests.servers import SecantusProcess  # noqa: E402


def _inserts(session: Any, n: int, tag: str) -> tuple[float, float]:
    """Insert ``n`` bare documents into a scratch collection through the session's client,
    then ``n`` records one by one (the last write before the kill): (records/s, bare/s)."""
    scratch = session.client[session.database_name]["bench_bare"]
    start = time.perf_counter()
    for i in range(n):
        scratch.insert_one({"i": i, "pad": "x" * 200})
    bare = n / (time.perf_counter() - start)
    scratch.drop()
    start = time.perf_counter()
    for i in range(n):
        session.insert(JwstDataModel(file_name=f"{tag}-{i:06d}.fits", data_type="image"))
    return n / (time.perf_counter() - start), bare


def plain_daemon(tmp: Path, n: int, *, journal: bool) -> tuple[tuple[float, float], int]:
    """A daemon without --sync-on-commit: (inserts/s, records left after kill -9)."""
    server = SecantusProcess(tmp / f"plain-{journal}")
    server.start()
    try:
        with jwstnb.connect(server.uri, admin=True, journal=journal, timeout=20) as s:
            rate = _inserts(s, n, "plain")
            server.stop(kill=True)
        server.start()
        with jwstnb.connect(server.uri, admin=True, timeout=20) as s:
            return rate, s.count()
    finally:
        server.stop()


def embedded_daemon(tmp: Path, n: int, *, journal: bool) -> tuple[tuple[float, float], int]:
    """The embedded daemon as connect() starts it: (inserts/s, records left after kill -9)."""
    home = tmp / f"home-{journal}"
    os.environ[localdb.HOME_ENV] = str(home)
    for name in ("JWSTNB_MONGO_URI", "JWSTNB_MONGO_URI_FILE"):
        os.environ.pop(name, None)
    try:
        with jwstnb.connect(journal=journal, timeout=30) as s:
            rate = _inserts(s, n, "embedded")
            os.kill(localdb.status(home)["pid"], signal.SIGKILL)
        time.sleep(0.5)
        with jwstnb.connect(timeout=30) as s:
            return rate, s.count()
    finally:
        localdb.stop(home)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="inserts per set-up")
    args = parser.parse_args(argv)
    os.environ["JWSTNB_CONFIG"] = os.devnull  # no user config: only what is set here
    rows = []
    with tempfile.TemporaryDirectory(prefix="jwstnb-durability-") as name:
        tmp = Path(name)
        setups = [
            ("no --sync-on-commit, journal=False (before)", plain_daemon, False),
            ("no --sync-on-commit, journal=True", plain_daemon, True),
            ("embedded: --sync-on-commit, journal=True (after)", embedded_daemon, True),
            ("embedded: --sync-on-commit, journal=False", embedded_daemon, False),
        ]
        for label, run, journal in setups:
            rate, kept = run(tmp, args.n, journal=journal)
            rows.append((label, *rate, kept))
            print(f"{label}: {rate[0]:.0f} records/s, {rate[1]:.0f} bare/s, {kept}/{args.n} kept",
                  file=sys.stderr)
    print(f"\n{args.n} single inserts per set-up; {platform.platform()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print("| set-up | Session.insert/s | bare insert_one/s | records kept after kill -9 |")
    print("|---|---:|---:|---:|")
    for label, records, bare, kept in rows:
        print(f"| {label} | {records:.0f} | {bare:.0f} | {kept}/{args.n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
