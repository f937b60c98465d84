"""SAMP against a real hub started here (no web profile, its lock file in a private home):
a second client receives the table and the image jwstnb sends, and the rows it highlights
and selects come back to jwstnb's callback."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import pytest
from astropy.io import fits

from jwstnb.interop import obscore, votable
from jwstnb.interop.samp import (
    HIGHLIGHT,
    IMAGE,
    POINT_AT,
    SELECT,
    TABLE,
    SampConnection,
    SampError,
    hub_running,
    samp_module,
)
from jwstnb.storage import Storage
from tests.unit.interop_records import records

pytestmark = pytest.mark.integration


def _wait(condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for SAMP")
        time.sleep(0.02)


def _path(url: str) -> Path:
    return Path(url2pathname(urlparse(url).path))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A hub whose lock file lives in a private home (no clash with a user's TOPCAT)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SAMP_HUB", raising=False)
    samp = samp_module()
    assert not hub_running()
    server = samp.SAMPHubServer(web_profile=False, addr="127.0.0.1")
    server.start()
    try:
        _wait(hub_running)
        yield server
    finally:
        server.stop()


class Receiver:
    """A second SAMP application (standing in for TOPCAT/DS9) that records what it gets."""

    def __init__(self, samp) -> None:
        self.client = samp.SAMPIntegratedClient(name="receiver", addr="127.0.0.1")
        self.client.connect()
        self.got: dict[str, dict] = {}
        self.event = threading.Event()
        for mtype in (TABLE, IMAGE, POINT_AT):
            self.client.bind_receive_notification(mtype, self._notified)

    def _notified(self, private_key, sender_id, mtype, params, extra) -> None:
        self.got[mtype] = dict(params, sender=sender_id)
        self.event.set()


def test_table_image_position_and_rows_back(hub, tmp_path) -> None:
    samp = samp_module()
    receiver = Receiver(samp)
    jwstnb_samp = SampConnection()
    heard: list[tuple[str, list[int]]] = []
    try:
        jwstnb_samp.on_rows(lambda table_id, rows: heard.append((table_id, rows)))
        assert "receiver" in jwstnb_samp.clients(TABLE).values()

        # a table, as a VOTable the receiver reads back with astropy
        recs = records()
        table = obscore.table(recs, authority="a.b")
        table_id = jwstnb_samp.send_table(table, name="my results", recipient="receiver")
        _wait(lambda: TABLE in receiver.got)
        params = receiver.got[TABLE]
        assert params["table-id"] == table_id and params["name"] == "my results"
        back = votable.read(_path(params["url"]))
        assert list(back["s_ra"]) == [r.image_info.ra for r in recs]
        assert back["s_ra"].meta["ucd"] == "pos.eq.ra"

        # an image: a local file is sent in place, a remote one as a temporary copy
        data = np.arange(12, dtype=np.float32).reshape(3, 4)
        blob = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI")])
        local = Storage((tmp_path / "store").as_uri())
        key = "mine/jw01000001001_02101_00001_nrcb1_cal.fits"
        (tmp_path / "store" / "mine").mkdir(parents=True)
        blob.writeto(tmp_path / "store" / key)
        jwstnb_samp.send_image(key, local)
        _wait(lambda: IMAGE in receiver.got)
        assert _path(receiver.got[IMAGE]["url"]) == tmp_path / "store" / key
        receiver.got.pop(IMAGE)
        memory = Storage("memory://samp-test")
        memory.write_bytes(key, (tmp_path / "store" / key).read_bytes())
        image_id = jwstnb_samp.send_image(key, memory)
        _wait(lambda: IMAGE in receiver.got)
        sent = _path(receiver.got[IMAGE]["url"])
        assert receiver.got[IMAGE]["image-id"] == image_id and sent != tmp_path / "store" / key
        with fits.open(sent) as hdul:
            assert np.array_equal(hdul["SCI"].data, data)

        # a position
        jwstnb_samp.send_position((151.757, -40.436))
        _wait(lambda: POINT_AT in receiver.got)
        assert float(receiver.got[POINT_AT]["ra"]) == 151.757

        # the receiver highlights a row (notification) and selects rows (a call): both come back
        me = receiver.got[TABLE]["sender"]
        receiver.client.notify(me, {"samp.mtype": HIGHLIGHT,
                                    "samp.params": {"table-id": table_id, "row": "2"}})
        _wait(lambda: heard)
        assert heard[0] == (table_id, [2])
        reply = receiver.client.call_and_wait(
            me, {"samp.mtype": SELECT,
                 "samp.params": {"url": params["url"], "row-list": ["0", "4"]}}, "10")
        assert reply["samp.status"] == "samp.ok"
        _wait(lambda: len(heard) == 2)
        assert heard[1] == (table_id, [0, 4])
        assert jwstnb_samp.table(table_id) is table
        # rows of a table we never sent are not ours
        receiver.client.notify(me, {"samp.mtype": HIGHLIGHT,
                                    "samp.params": {"table-id": "other", "row": "1"}})
        time.sleep(0.3)
        assert len(heard) == 2
        with pytest.raises(SampError, match="nobody"):
            jwstnb_samp.send_table(table, recipient="nobody")
    finally:
        receiver.client.disconnect()
        folder = jwstnb_samp._folder
        jwstnb_samp.close()
    assert folder is None or not folder.exists()


def test_no_hub_says_how_to_start_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SAMP_HUB", raising=False)
    assert not hub_running()
    with pytest.raises(SampError, match="SAMPHubServer"):
        SampConnection().send_position((1.0, 2.0))
