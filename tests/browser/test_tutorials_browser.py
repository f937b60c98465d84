"""Every tutorial, twice, in the demo as a new user gets it: ``jwstnb demo`` in a fresh home.

The demo is started as ``make demo`` starts it (``jwstnb demo --no-browser``): no database
URI, no bucket, no MAST (astroquery absent, no internet), an empty config file and a new
``JWSTNB_HOME``. Chromium opens each tutorial from the demo's working copies, runs all
cells, waits for the last one, checks that no cell shows an error (a Python exception or a
widget that failed to render), runs all cells again (tutorials must be re-runnable), checks
again and saves a screenshot ``tutorial-<name>.png`` in ``test-output/screenshots/``.
Each tutorial's kernel is shut down after it, so at most one runs at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_browser import (
    JupyterServer,
    open_notebook,
    run_all_cells,
    screenshot,
    wait_for_kernel_idle,
)
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TUTORIALS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
ERRORS = (
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error'], "
    ".jp-OutputArea-output:has-text('Error displaying widget')"
)
PROMPTS = ".jp-CodeCell .jp-InputArea-prompt"
RUN_TIMEOUT = 300.0


class DemoLab(JupyterServer):
    """The demo's JupyterLab (every notebook opens in a fresh workspace, see lab_url)."""


def _lab_settings(work: Path) -> dict[str, str]:
    """Environment for a quiet, test-friendly JupyterLab (what tests/fixtures_browser sets
    through arguments, here through the variables JupyterLab reads, since the demo starts it)."""
    config = work / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    tracker = work / "lab-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    return {
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(work / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces"),
    }


def _digests() -> dict[str, str]:
    folder = REPO / "notebooks"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


@pytest.fixture(scope="module")
def tracked() -> dict[str, str]:
    """The repository's tutorials as they were before the demo started."""
    return _digests()


@pytest.fixture(scope="module")
def demo(
    tracked: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    """``jwstnb demo --no-browser`` in a fresh home, as a :class:`JupyterServer`."""
    work = tmp_path_factory.mktemp("demo")
    home = work / "home"
    (work / "config.toml").write_text("")
    token = os.urandom(16).hex()
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("JWSTNB_", "JUPYTER", "AWS_"))
    }
    env.update(
        _lab_settings(work),
        JWSTNB_HOME=str(home),
        JWSTNB_CONFIG=str(work / "config.toml"),
        JUPYTER_TOKEN=token,
        PYTHONUNBUFFERED="1",
    )
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    log = work / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jwstnb.cli", "demo", "--no-browser", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = DemoLab(home / "tutorials", port, token, proc, log, {}, home)
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, f"jwstnb demo exited:\n{server.log_tail()}"
        try:
            server.api("status")
            break
        except OSError:
            assert time.monotonic() < deadline, f"the demo did not answer:\n{server.log_tail()}"
            time.sleep(0.5)
    yield server
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    server.stop()


def _numbers(page: Any) -> list[int | None]:
    """Each code cell's execution count (None: not run, or queued/running)."""
    out: list[int | None] = []
    for text in page.locator(PROMPTS).all_inner_texts():
        found = re.search(r"\[(\d+)\]", text)
        out.append(int(found.group(1)) if found else None)
    return out


def _run_to_the_end(page: Any, after: int) -> int:
    """Run All Cells and wait until every code cell shows a count above ``after``; returns
    the highest count."""
    run_all_cells(page)
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        numbers = _numbers(page)
        if numbers and all(n is not None and n > after for n in numbers):
            break
        if page.locator(ERRORS).count():
            break  # a failed cell stops the run: report it below
        assert time.monotonic() < deadline, f"cells did not finish: {numbers}"
        page.wait_for_timeout(500)
    wait_for_kernel_idle(page, timeout=RUN_TIMEOUT)
    return max(n or 0 for n in _numbers(page))


def _errors(page: Any) -> list[str]:
    return [text[:2000] for text in page.locator(ERRORS).all_inner_texts()]


def _shut_down_kernels(server: JupyterServer) -> None:
    for session in server.api("sessions"):
        request = urllib.request.Request(
            f"{server.url}api/sessions/{session['id']}",
            method="DELETE",
            headers={"Authorization": f"token {server.token}"},
        )
        with contextlib.suppress(urllib.error.HTTPError):  # already gone
            urllib.request.urlopen(request, timeout=30).close()


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_runs_twice_without_errors(
    demo: JupyterServer, browser_page: Any, name: str
) -> None:
    page = browser_page
    try:
        started = time.monotonic()
        open_notebook(page, demo, name)
        opened = time.monotonic()
        first = _run_to_the_end(page, after=0)
        ran = time.monotonic()
        assert not _errors(page), f"{name}, first run:\n" + "\n---\n".join(_errors(page))
        _run_to_the_end(page, after=first)
        assert not _errors(page), f"{name}, second run:\n" + "\n---\n".join(_errors(page))
        screenshot(page, f"tutorial-{Path(name).stem}")
        print(f"{name}: opened in {opened - started:.1f} s, first run {ran - opened:.1f} s, "
              f"second run {time.monotonic() - ran:.1f} s")
    finally:
        _shut_down_kernels(demo)


def test_the_tracked_tutorials_stay_clean(demo: JupyterServer, tracked: dict[str, str]) -> None:
    """The demo serves its working copies (and nothing else); the repository's stay as
    they were, whatever JupyterLab saved."""
    assert _digests() == tracked
    listing = {item["name"] for item in demo.api("contents")["content"]}
    assert listing == set(TUTORIALS), listing
