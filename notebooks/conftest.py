"""nbval set-up for the tutorials: ``pytest --nbval-lax notebooks/``.

Every run starts from nothing, as a new user would: a fresh ``JWSTNB_HOME`` (so the first
``jwstnb.connect()`` starts a new embedded database there) and a fresh storage folder
(``JWSTNB_STORAGE_URL``). Notebook 04 gets a local S3 server (moto, on 127.0.0.1) through
``JWSTNB_S3_URL`` / ``JWSTNB_S3_ENDPOINT_URL``; ``JWSTNB_OFFLINE=1`` keeps notebook 06 from
even trying to reach MAST. The environment is set before the first notebook's kernel starts
(kernels inherit it), and at the end the embedded daemon and the S3 server are stopped and the
folders removed.

nbval items are not pytest functions, so fixtures do not reach them: this uses hooks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

_VARS = (
    "JWSTNB_HOME",
    "JWSTNB_STORAGE_URL",
    "JWSTNB_MONGO_URI",
    "JWSTNB_S3_URL",
    "JWSTNB_S3_ENDPOINT_URL",
    "JWSTNB_OFFLINE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
)
_STATE: dict[str, Any] = {}


def _start_s3() -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def _set_up() -> None:
    """Fresh folders, a fresh database home and a local S3 server, exported to kernels."""
    if _STATE:
        return
    root = Path(tempfile.mkdtemp(prefix="jwstnb-nbval-"))
    _STATE["root"] = root
    _STATE["saved"] = {name: os.environ.get(name) for name in _VARS}
    os.environ.pop("JWSTNB_MONGO_URI", None)  # the tutorials run on the embedded database
    os.environ["JWSTNB_HOME"] = str(root / "home")
    os.environ["JWSTNB_STORAGE_URL"] = (root / "storage").as_uri()
    os.environ["JWSTNB_OFFLINE"] = "1"
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    server, endpoint = _start_s3()
    _STATE["s3"] = server
    import boto3

    bucket = "jwstnb-tutorial"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    os.environ["JWSTNB_S3_URL"] = f"s3://{bucket}/jwst"
    os.environ["JWSTNB_S3_ENDPOINT_URL"] = endpoint


def _tear_down() -> None:
    if not _STATE:
        return
    root: Path = _STATE["root"]
    try:
        from jwstnb import localdb

        localdb.stop(root / "home")
    except Exception as exc:  # report, but still clean up the rest
        print(f"notebooks/conftest.py: could not stop the embedded database: {exc}")
    server = _STATE.get("s3")
    if server is not None:
        server.stop()
    for name, value in _STATE["saved"].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(root, ignore_errors=True)
    _STATE.clear()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Runs before nbval starts the notebook's kernel (in its file-level setup).
    _set_up()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _tear_down()
