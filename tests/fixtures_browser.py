"""Real JupyterLab + Debian Chromium (Playwright) for browser tests; generic, reusable.

Fixtures:

- ``jupyter_server``: a session-scoped factory. ``jupyter_server(root_dir, env={...})``
  starts ``jupyter lab`` on 127.0.0.1 (free port, random token, ``--allow-root`` when root,
  an isolated config/runtime/settings directory, the announcements pop-up disabled, notebook
  windowing off so every cell is in the DOM) with
  ``env`` added to the environment its kernels inherit, waits until ``/api/status``
  answers, and returns a :class:`JupyterServer` (``url``, ``token``, ``lab_url(path)``,
  ``voila_url(path)``, ``log``). Voila pages are served by the same server through Voila's
  server extension (``/voila/render/<path>``). Every server started is stopped at the end
  of the test session; calling the factory twice with the same arguments reuses the server.
- ``browser``: a session-scoped Playwright ``Browser`` on ``/usr/bin/chromium`` (or
  ``JWSTNB_CHROMIUM``), launched headless with the flags an offline Chromium needs. When Chromium
  or Playwright is missing the test FAILS with the command that fixes it (never a skip):
  CI installs Chromium in ``.ci/run``; ``playwright install`` is never needed or used.
- ``browser_page``: a fresh page (own context, 1400x1000) per test; on failure a
  screenshot ``<test name>-failure.png`` is written to ``test-output/screenshots/``.
- :func:`screenshot` writes a named screenshot (whole page or viewport) to the same folder.

Helpers for notebooks: :func:`open_notebook` (navigate, answer the kernel dialog, wait for
an idle kernel), :func:`run_all_cells` (JupyterLab's "Run All Cells" through the Run menu)
and :func:`wait_for_kernel_idle`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM = os.environ.get("JWSTNB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# JupyterLab extensions that only add noise in a test browser.
_DISABLED_LAB_EXTENSIONS = {
    "@jupyterlab/apputils-extension:announcements": True,
}


@dataclass
class JupyterServer:
    """A running ``jupyter lab`` process on 127.0.0.1."""

    root_dir: Path
    port: int
    token: str
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict, repr=False)
    jwstnb_home: Path | None = None  # set when this server got its own JWSTNB_HOME

    @property
    def url(self) -> str:
        """Base URL, ending in ``/``."""
        return f"http://127.0.0.1:{self.port}/"

    def _with_token(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path.lstrip('/')}{sep}token={self.token}"

    def lab_url(self, path: str = "") -> str:
        """JupyterLab opening ``path`` (relative to ``root_dir``), authenticated, in a fresh
        workspace (``reset``): a tab another test left open is never the one clicked."""
        return self._with_token(f"lab/tree/{path}" if path else "lab") + "&reset"

    def voila_url(self, path: str) -> str:
        """The notebook ``path`` rendered by Voila (server extension), authenticated."""
        return self._with_token(f"voila/render/{path}")

    def api(self, path: str) -> Any:
        """GET ``/api/<path>`` as JSON (raises for HTTP errors)."""
        request = urllib.request.Request(
            f"{self.url}api/{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (SIGINT twice is JupyterLab's clean shutdown), then its kernels."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._stop_embedded_database()

    def _stop_embedded_database(self) -> None:
        """Stop an embedded database jwstnb's server extension may have started for us."""
        if self.jwstnb_home is None or not self.jwstnb_home.exists():
            return
        with contextlib.suppress(Exception):
            from jwstnb import localdb

            localdb.stop(self.jwstnb_home)


def start_jupyter_server(
    root_dir: Path,
    work_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 120.0,
    extra_args: tuple[str, ...] = (),
) -> JupyterServer:
    """Start ``jupyter lab`` serving ``root_dir``; config and logs live under ``work_dir``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    config_dir = work_dir / "config"
    (config_dir / "labconfig").mkdir(parents=True, exist_ok=True)
    (config_dir / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": _DISABLED_LAB_EXTENSIONS})
    )
    # Render every cell (no windowing), so widgets far down a notebook are in the DOM.
    tracker = work_dir / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port = free_port()
    token = uuid.uuid4().hex
    child_env = dict(os.environ)
    child_env.update(env or {})
    bin_dir = str(Path(sys.executable).parent)
    child_env["PATH"] = bin_dir + os.pathsep + child_env.get("PATH", "")
    child_env["JUPYTER_CONFIG_DIR"] = str(config_dir)
    child_env["JUPYTER_RUNTIME_DIR"] = str(work_dir / "runtime")
    child_env["JUPYTER_DATA_DIR"] = str(work_dir / "data")
    # jwstnb's server extension starts an embedded database when no URI is configured:
    # keep it (and anything else jwstnb writes) inside this server's work folder.
    own_home = None
    if "JWSTNB_HOME" not in (env or {}):
        own_home = work_dir / "jwstnb-home"
        child_env["JWSTNB_HOME"] = str(own_home)
    child_env["JUPYTER_PLATFORM_DIRS"] = "1"
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={work_dir / 'settings'}",
        f"--LabApp.workspaces_dir={work_dir / 'workspaces'}",
        "--LabApp.news_url=None",
        "--ServerApp.disable_check_xsrf=False",
        *extra_args,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = work_dir / f"jupyterlab-{port}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env, cwd=str(root_dir),
            start_new_session=True,
        )
    server = JupyterServer(root_dir, port, token, proc, log, dict(env or {}), own_home)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited early (code {proc.returncode}); log {log}:\n"
                + server.log_tail()
            )
        try:
            server.api("status")
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"jupyter lab did not answer within {timeout}s; log {log}:\n"
                       + server.log_tail())


@pytest.fixture(scope="session")
def jupyter_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., JupyterServer]]:
    """Factory: ``jupyter_server(root_dir, env=None, timeout=120)`` -> a running JupyterLab."""
    started: dict[tuple[str, tuple[tuple[str, str], ...]], JupyterServer] = {}

    def start(
        root_dir: Path | str, env: Mapping[str, str] | None = None, *, timeout: float = 120.0
    ) -> JupyterServer:
        key = (str(root_dir), tuple(sorted((env or {}).items())))
        if key in started and started[key].proc.poll() is None:
            return started[key]
        server = start_jupyter_server(
            Path(root_dir), tmp_path_factory.mktemp("jupyterlab"), env, timeout=timeout
        )
        started[key] = server
        return server

    yield start
    for server in started.values():
        server.stop()


def _fail_missing(what: str) -> None:
    pytest.fail(what, pytrace=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Playwright's Chromium Browser on Debian's /usr/bin/chromium (headless)."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _fail_missing(
            f"Chromium is missing at {CHROMIUM}: browser tests need Debian's Chromium. "
            "Install it with `apt-get update && apt-get install -y chromium` (CI's .ci/run does), "
            "or point JWSTNB_CHROMIUM at a Chromium binary. `playwright install` is not used."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _fail_missing(
            "Playwright's Python package is missing: `pip install playwright` "
            "(or `pip install -e .[test]`); browsers are NOT downloaded, Debian's Chromium is used."
        )
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
    except Exception as exc:
        playwright.stop()
        _fail_missing(f"Chromium at {CHROMIUM} did not start under Playwright: {exc}")
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as ``test-output/screenshots/<name>.png`` (the whole page, or with
    ``full_page=False`` only what the viewport shows)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture
def browser_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A new page in its own browser context; a screenshot is saved if the test fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    failed_before = request.session.testsfailed
    try:
        yield page
    finally:
        # The call phase's report is logged before fixtures are torn down.
        if request.session.testsfailed > failed_before:
            with contextlib.suppress(Exception):  # a dead page must not hide the failure
                screenshot(page, f"{request.node.name}-failure")
        context.close()


_IDLE = ".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator[data-status='idle']"


def _answer_kernel_dialog(page: Any) -> bool:
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count():
        with contextlib.suppress(Exception):
            dialog.get_by_role("button", name="Select", exact=True).click(timeout=5_000)
        return True
    return False


def wait_for_kernel_idle(page: Any, timeout: float = 120.0) -> None:
    """Wait until the open notebook's kernel is idle (for a second, with no dialog open),
    answering JupyterLab's "Select Kernel" dialog, which it shows when a notebook opens
    before the kernel specs have arrived."""
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while time.monotonic() < deadline:
        if _answer_kernel_dialog(page) or not page.locator(_IDLE).count():
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= 1.0:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"the notebook's kernel was not idle within {timeout:g}s")


def open_notebook(page: Any, server: JupyterServer, path: str, timeout: float = 120.0) -> None:
    """Open ``path`` in JupyterLab and wait until its cells are shown and its kernel is idle."""
    page.goto(server.lab_url(path))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout * 1000)
    wait_for_kernel_idle(page, timeout)


def run_all_cells(page: Any, attempts: int = 3) -> None:
    """Run every cell of the open notebook (Run menu -> Run All Cells) and wait until the
    first code cell has started; a click swallowed by a closing dialog is retried."""
    started = page.locator(".jp-CodeCell .jp-InputPrompt").filter(has_text="[")
    for _ in range(attempts):
        _answer_kernel_dialog(page)
        page.locator(".jp-NotebookPanel .jp-Notebook:visible").first.click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
            if any("*" in p or any(c.isdigit() for c in p) for p in prompts):
                return
            page.wait_for_timeout(200)
    raise AssertionError(f"Run All Cells did not start the notebook ({started.count()} prompts)")


def copy_notebooks(source: Path, target: Path) -> Path:
    """Copy a folder of notebooks to ``target`` (so runs never write into the repository)."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target
