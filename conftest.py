"""nbval set-up for the tutorials in ``notebooks/`` (``pytest --nbval-lax notebooks/``).

It lives here, not beside the tutorials, so the folder users open holds only tutorials.

The tutorials run in the demo's configuration, as a new user gets it from ``make demo``: a
fresh ``JWSTNB_HOME`` (the first ``jwstnb.connect()`` starts a new embedded database there),
the storage folder under it (``JWSTNB_STORAGE_URL``, as ``jwstnb demo`` sets it), an empty
config file, no database URI and no bucket. ``JWSTNB_OFFLINE=1`` keeps tutorials 04 and 06
from probing the public JWST bucket and MAST, so CI gives the same result with or without
the internet (the browser test runs the demo without it). The environment is set before the
first notebook's kernel starts (kernels inherit it); at the end the embedded daemon is
stopped and the folder removed.

nbval items are not pytest functions, so fixtures do not reach them: this uses hooks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"

#: what the tutorials read from the environment; saved, replaced, then restored
_VARS = (
    "JWSTNB_HOME",
    "JWSTNB_STORAGE_URL",
    "JWSTNB_MONGO_URI",
    "JWSTNB_MONGO_URI_FILE",
    "JWSTNB_CONFIG",
    "JWSTNB_S3_URL",
    "JWSTNB_S3_ENDPOINT_URL",
    "JWSTNB_OFFLINE",
)
_STATE: dict[str, Any] = {}


def demo_environment(root: Path) -> dict[str, str]:
    """The variables of a fresh demo under ``root`` (``None``-free; unset the rest of _VARS)."""
    (root / "config.toml").write_text("")
    home = root / "home"
    return {
        "JWSTNB_HOME": str(home),
        "JWSTNB_STORAGE_URL": (home / "storage").as_uri(),
        "JWSTNB_CONFIG": str(root / "config.toml"),
    }


def _set_up() -> None:
    if _STATE:
        return
    root = Path(tempfile.mkdtemp(prefix="jwstnb-nbval-"))
    _STATE["root"] = root
    _STATE["saved"] = {name: os.environ.get(name) for name in _VARS}
    for name in _VARS:
        os.environ.pop(name, None)
    os.environ.update(demo_environment(root))
    os.environ["JWSTNB_OFFLINE"] = "1"


def _tear_down() -> None:
    if not _STATE:
        return
    root: Path = _STATE["root"]
    try:
        from jwstnb import localdb

        localdb.stop(root / "home")
    except Exception as exc:  # report, but still clean up the rest
        print(f"conftest.py: could not stop the tutorials' embedded database: {exc}")
    for name, value in _STATE["saved"].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(root, ignore_errors=True)
    _STATE.clear()


def _is_tutorial(item: pytest.Item) -> bool:
    path = Path(str(item.fspath)).resolve()
    return path.suffix == ".ipynb" and path.parent == NOTEBOOKS


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Runs before nbval starts the notebook's kernel (in its file-level setup).
    if _is_tutorial(item):
        _set_up()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _tear_down()
