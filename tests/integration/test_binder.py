"""The Binder flow, as repo2docker runs it, in a fresh virtual environment.

repo2docker (Python buildpack, ``binder/`` present) does, from the repository root:
``pip install -r binder/requirements.txt``, then ``binder/postBuild`` at build time, then
``binder/start <server command>`` every time the container starts. This test does the same
in a new ``python -m venv`` (no system site-packages, so nothing leaks in from the test
environment), with HOME in a temporary folder, and uses ``jupyter nbconvert --execute`` on
notebooks 01 (quickstart) and 02 (the search panel widget) as the "server command".
Before postBuild, with jwstnb installed without the ``local`` extra and no URI anywhere,
``jwstnb doctor`` must say what to install and fail.

Packages come from the same index as any pip install (pip's cache makes reruns quick).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return proc


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    assert proc.returncode == 0, (
        f"{what} failed (rc={proc.returncode})\n--- stdout\n{proc.stdout[-4000:]}"
        f"\n--- stderr\n{proc.stderr[-4000:]}"
    )


@pytest.mark.timeout(900)
def test_binder_postbuild_start_and_quickstart(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JWSTNB_", "PYTHON", "VIRTUAL_ENV", "JUPYTER", "PYTEST"))
        and k not in ("MPLBACKEND",)
    }
    env.update(
        HOME=str(home),
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        # repo2docker's XDG dirs are under HOME; keep pip's cache shared so reruns are quick
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
    )
    env.pop("JWSTNB_HOME", None)  # the default (under HOME) is what Binder users get
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q"]

    _check(_run([*pip, "-r", "binder/requirements.txt"], env, 600), "requirements.txt")

    # jwstnb without the `local` extra and no URI: doctor names the fix and fails.
    _check(_run([*pip, "."], env, 600), "pip install .")
    doctor = _run([str(bin_dir / "jwstnb"), "doctor"], env, 120)
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    assert "pip install 'jwstnb[local]'" in doctor.stdout
    assert "JWSTNB_MONGO_URI" in doctor.stdout

    _check(_run(["bash", "binder/postBuild"], env, 600), "binder/postBuild")
    data_home = home / ".local" / "share" / "jwstnb"
    assert (data_home / "localdb.json").exists(), "postBuild seeded the embedded database"
    assert any((data_home / "storage").rglob("*.fits")), "postBuild wrote the sample files"

    out_dir = tmp_path / "executed"
    try:
        run = _run(
            [
                "bash",
                "binder/start",
                str(bin_dir / "jupyter"),
                "nbconvert",
                "--to",
                "notebook",
                "--execute",
                "--ExecutePreprocessor.timeout=300",
                "--output-dir",
                str(out_dir),
                "notebooks/01_quickstart.ipynb",
                "notebooks/02_search_panel.ipynb",  # the widgets work on Binder too
            ],
            env,
            600,
        )
        _check(run, "binder/start jupyter nbconvert --execute notebooks/01_quickstart.ipynb")
        status = _run([str(bin_dir / "jwstnb"), "db", "status", "--json"], env, 60)
        assert json.loads(status.stdout)["running"] is True, "start left the database up"
    finally:
        _run([str(bin_dir / "jwstnb"), "db", "stop"], env, 120)

    for name in ("01_quickstart.ipynb", "02_search_panel.ipynb"):
        executed = json.loads((out_dir / name).read_text())
        code_cells = [c for c in executed["cells"] if c["cell_type"] == "code"]
        assert code_cells and all(c.get("execution_count") for c in code_cells), name
        outputs = [o for c in code_cells for o in c.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"], name
    # the quickstart showed a cutout and a thumbnail
    quick = json.loads((out_dir / "01_quickstart.ipynb").read_text())
    pngs = [
        o for c in quick["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(pngs) >= 2
