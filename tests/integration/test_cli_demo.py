"""``jwstnb demo`` (the README's first command): JupyterLab on the tutorials, with data.

Runs the real command from the repository root with a fresh JWSTNB_HOME, then asks the
running server, with its token, for the tutorials and for the status of the database the
server extension found: the sample must be there. JupyterLab serves working copies of the
tutorials (the tracked ones are never written), and when it exits the demo stops the
embedded database it started.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TOKEN = "jwstnb-demo-test-token"


def _get(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_demo_opens_jupyterlab_on_the_tutorials_with_data(tmp_path: Path) -> None:
    tracked = _digests(REPO / "notebooks")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWSTNB_", "JUPYTER"))}
    env.update(
        JWSTNB_HOME=str(tmp_path / "home"),
        JWSTNB_CONFIG=str(tmp_path / "none.toml"),
        JUPYTER_TOKEN=TOKEN,
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
    )
    (tmp_path / "none.toml").write_text("")
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jwstnb.cli", "demo", "--no-browser", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        status: dict = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                status = _get(f"{base}/jwstnb/api/status")
                if status["database"]["phase"] != "starting":
                    break
            except OSError:
                pass
            time.sleep(1)
        assert status.get("database", {}).get("reachable") is True, status
        assert status["records"]["total"] > 0, status
        listing = _get(f"{base}/api/contents/")
        names = {item["name"] for item in listing["content"]}
        tutorials = {name for name in tracked if name.endswith(".ipynb")}
        assert names == tutorials, names  # the tutorials and nothing else (no conftest.py)
        copies = tmp_path / "home" / "tutorials"
        assert {p.name for p in copies.glob("*.ipynb")} == tutorials
        # JupyterLab saves what it serves: the working copies, never the tracked notebooks
        saved = json.loads((copies / "01_quickstart.ipynb").read_text())
        saved["metadata"]["jwstnb_test"] = "saved by JupyterLab"
        request = urllib.request.Request(
            f"{base}/api/contents/01_quickstart.ipynb",
            data=json.dumps({"type": "notebook", "content": saved}).encode(),
            method="PUT",
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        assert "jwstnb_test" in (copies / "01_quickstart.ipynb").read_text()
        output = (tmp_path / "demo.log").read_text()
        assert "sample data ready" in output
        from jwstnb import localdb

        password = json.loads((tmp_path / "home" / "localdb.json").read_text())["password"]
        assert password not in output
        assert localdb.status(tmp_path / "home")["running"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        from jwstnb import localdb

        running_after = localdb.status(tmp_path / "home")["running"]
        localdb.stop(tmp_path / "home")
    assert not running_after, "the demo left the embedded database it started running"
    assert "embedded database stopped" in (tmp_path / "demo.log").read_text()
    assert _digests(REPO / "notebooks") == tracked, "the tracked tutorials were changed"
