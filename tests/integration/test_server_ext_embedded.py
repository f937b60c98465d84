"""The server extension with no database configured: it brings up the embedded one.

Server start must not wait for the database (it comes up in a background thread); once it
is up, ``JWSTNB_MONGO_URI`` is in the server's environment, so kernels launched from then on
inherit it (checked in a real kernel's /proc environ), and the status endpoint reports it
reachable without ever showing the generated password.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def embedded_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No URI anywhere, a fresh JWSTNB_HOME; the daemon started there is stopped afterwards."""
    home = tmp_path / "jwstnb-home"
    for name in ("JWSTNB_MONGO_URI", "JWSTNB_MONGO_URI_FILE", "JWSTNB_STORAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JWSTNB_CONFIG", str(tmp_path / "absent.toml"))
    (tmp_path / "absent.toml").write_text("")  # an empty config file: no [mongo] table
    monkeypatch.setenv("JWSTNB_HOME", str(home))
    yield home
    from jwstnb import localdb

    localdb.stop(home)


@pytest.fixture
def jp_server_config(embedded_home: Path) -> dict:
    return {"ServerApp": {"jpserver_extensions": {"jwstnb": True}}}


async def _status(jp_fetch, *, until_ready: float = 90.0) -> dict:
    deadline = time.monotonic() + until_ready
    while True:
        response = await jp_fetch("jwstnb", "api", "status")
        doc = json.loads(response.body)
        if doc["database"]["phase"] != "starting" or time.monotonic() > deadline:
            return doc
        await asyncio.sleep(0.5)


async def test_embedded_database_comes_up_and_reaches_kernels(
    jp_fetch, jp_serverapp, embedded_home: Path
) -> None:
    doc = await _status(jp_fetch)
    assert doc["database"]["phase"] == "ready", doc
    assert doc["database"]["embedded"] is True
    assert doc["database"]["reachable"] is True, doc
    assert doc["database"]["role"] == "admin"
    assert doc["records"]["total"] == 0

    state = json.loads((embedded_home / "localdb.json").read_text())
    password = state["password"]
    assert password, "the embedded database runs with a generated password"
    assert password not in json.dumps(doc)
    assert ":***@" in doc["database"]["uri"]
    assert f":{state['port']}/" in doc["database"]["uri"]
    # a storage folder under JWSTNB_HOME is the default the kernels get
    assert doc["storage"]["url"] == (embedded_home / "storage").resolve().as_uri()

    # A kernel started now finds the same daemon at once and is its owner (admin).
    km = jp_serverapp.kernel_manager
    kernel_id = await km.start_kernel(kernel_name="python3")
    try:
        pid = km.get_kernel(kernel_id).provisioner.process.pid
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"JWSTNB_HOME={embedded_home}".encode() in environ
        # the server hands its URI to every kernel; connect() knows it is the embedded one
        uri = os.environ.get("JWSTNB_MONGO_URI")
        assert uri and f":{state['port']}/" in uri
        assert f"JWSTNB_MONGO_URI={uri}".encode() in environ
        out = await _run_in_kernel(
            km.get_kernel(kernel_id),
            "import jwstnb; s = jwstnb.connect(); print(s.role, s.client.address[1])",
        )
        assert out.split() == ["admin", str(state["port"])]
    finally:
        await km.shutdown_kernel(kernel_id, now=True)


async def _run_in_kernel(kernel_manager, code: str, timeout: float = 120.0) -> str:
    client = kernel_manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=timeout)
        chunks: list[str] = []

        def output(msg: dict) -> None:
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                chunks.append(msg["content"]["text"])  # log lines on stderr are not output
            elif msg["msg_type"] == "error":
                chunks.append("\n".join(msg["content"]["traceback"]))

        reply = await client.execute_interactive(code, output_hook=output, timeout=timeout)
        assert reply["content"]["status"] == "ok", "".join(chunks)
        return "".join(chunks)
    finally:
        client.stop_channels()
