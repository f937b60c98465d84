"""The README's "A first session", run as written in a fresh ``JWSTNB_HOME``.

The block must print exactly the ``text`` block the README shows under it. A second test
does what a user with files of their own does first: ``jwstnb scan URL --mount NAME`` in a
fresh home, then the same session; every scanned record then opens through the default
``jwstnb.Storage()``, and the search panel's preview shows it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"


def first_session() -> tuple[str, str]:
    """The README's first-session code and the output it says the code prints."""
    text = README.read_text()
    section = text.split("## A first session", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    printed = re.search(r"```text\n(.*?)```", section, re.S)
    assert code and printed, "the README's first session has a python block and a text block"
    return code.group(1), printed.group(1)


def _env(tmp_path: Path) -> dict[str, str]:
    """A new user's environment: nothing of jwstnb's configured, a home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWSTNB_", "PYTEST_"))}
    env["JWSTNB_HOME"] = str(tmp_path / "home")
    config = tmp_path / "config.toml"
    if not config.exists():
        config.write_text("")
    env["JWSTNB_CONFIG"] = str(config)  # scan --mount writes its mount here
    env["MPLBACKEND"] = "Agg"
    return env


def _python(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=_env(tmp_path), cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
    )


def _stop(tmp_path: Path) -> None:
    from jwstnb import localdb

    localdb.stop(tmp_path / "home")


def test_first_session_prints_what_the_readme_says(tmp_path: Path) -> None:
    code, printed = first_session()
    try:
        proc = _python(tmp_path, code)
    finally:
        _stop(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == printed, f"README says:\n{printed}\nthe code printed:\n{proc.stdout}"


_OPEN_SCANNED = """
import sys, time
from jwstnb.widgets import SearchPanel

scanned = [r for r in s.search(text="jw01234", page_size=100).items]
assert scanned, "the scanned records are searchable"
for record in scanned:
    st.read_header(record.file_path, ext=0)   # every one opens through Storage()
panel = SearchPanel(s, storage=st)
panel.set_text("jw01234")
panel.search_now()
panel.select(0)
preview = panel.open_preview()
deadline = time.monotonic() + 60
while preview.state not in ("ready", "error") and time.monotonic() < deadline:
    time.sleep(0.2)
print("preview", preview.state, preview.key, preview.png[:4])
print("opened", len(scanned))
"""


def test_a_fresh_home_scans_elsewhere_then_runs_the_first_session(tmp_path: Path) -> None:
    from tests.fixtures_storage import make_fits_bytes

    elsewhere = tmp_path / "elsewhere" / "program1234"
    elsewhere.mkdir(parents=True)
    fits = [f"jw01234001001_02101_0000{i}_nrca{i}_{kind}.fits" for i in (1, 2) for kind in
            ("rate", "cal")]
    for i, name in enumerate(fits):
        (elsewhere / name).write_bytes(make_fits_bytes((48, 64), seed=i))
    code, printed = first_session()
    try:
        scan = subprocess.run(
            [sys.executable, "-m", "jwstnb.cli", "scan", elsewhere.as_uri(), "--mount",
             "elsewhere", "-q"],
            env=_env(tmp_path), capture_output=True, text=True, timeout=300,
        )
        assert scan.returncode == 0, scan.stdout + scan.stderr
        assert f"{len(fits)} imported" in scan.stdout, scan.stdout
        proc = _python(tmp_path, code + _OPEN_SCANNED)
    finally:
        _stop(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith(printed), proc.stdout
    tail = proc.stdout[len(printed):].splitlines()
    assert tail[0].startswith("preview ready ") and tail[0].endswith("b'\\x89PNG'"), tail
    assert tail[1] == f"opened {len(fits)}", tail
