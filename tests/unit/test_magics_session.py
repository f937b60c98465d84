"""``%jwst`` on a real IPython shell against the test database: real widgets come back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def shell(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mongo_uri: str, db_name: str
) -> Iterator[object]:
    """An IPython shell with ``%load_ext jwstnb``, its magics on the sample in a fresh database."""
    from IPython.testing.globalipapp import get_ipython

    from jwstnb.magics import JwstMagics
    from jwstnb.samples import seed
    from jwstnb.session import connect
    from jwstnb.storage import Storage

    config = tmp_path / "jwstnb.toml"
    config.write_text(f'[mongo]\nuri = "{mongo_uri}"\ndatabase = "{db_name}"\n')
    monkeypatch.setenv("JWSTNB_CONFIG", str(config))
    monkeypatch.delenv("JWSTNB_MONGO_URI", raising=False)
    monkeypatch.setenv("JWSTNB_STORAGE_URL", (tmp_path / "store").as_uri())
    with connect(mongo_uri, database=db_name, admin=True) as admin:
        admin.ensure_indexes()
        seed(admin, Storage())
    ip = get_ipython()
    ip.run_line_magic("load_ext", "jwstnb")
    ip.register_magics(JwstMagics(ip))  # a fresh instance: no session left from other tests
    yield ip


def test_search_magic_returns_a_filled_search_panel(shell) -> None:
    from jwstnb.widgets import SearchPanel

    panel = shell.run_line_magic("jwst", "search ngc 3132")
    assert isinstance(panel, SearchPanel)
    panel.search_now()
    assert panel.text_input.value == "ngc 3132"
    assert panel.total == panel.session.search(text="ngc 3132").total > 0
    assert panel.storage is not None  # previews open from JWSTNB_STORAGE_URL


def test_lineage_magic_by_observation_and_by_record_id(shell) -> None:
    from jwstnb import samples
    from jwstnb.widgets import LineageViewer

    viewer = shell.run_line_magic("jwst", f"lineage {samples.NIRCAM_OBSERVATION}")
    assert isinstance(viewer, LineageViewer)
    magics = shell.magics_manager.registry["JwstMagics"]
    record = magics.session.search(processing_level="L3", text="i2d").items[0]
    assert magics._observation_of(str(record.id)) == samples.NIRCAM_OBSERVATION
    assert isinstance(shell.run_line_magic("jwst", f"lineage {record.id}"), LineageViewer)


def test_status_magic_names_database_without_password(shell, capsys) -> None:
    shell.run_line_magic("jwst", "status")
    out = capsys.readouterr().out
    assert "jwst_data" in out and "anonymous" in out
    assert "storage file://" in out


def test_lineage_magic_gives_the_viewer_the_configured_storage(shell) -> None:
    from jwstnb import samples

    viewer = shell.run_line_magic("jwst", f"lineage {samples.NIRCAM_OBSERVATION}")
    assert viewer.storage is not None  # clicking a file shows its thumbnail
    assert viewer.storage.url.startswith("file://")


def test_status_magic_redacts_the_storage_secret(
    shell, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jwstnb.magics import JwstMagics

    secret = "s3cr3t-in-the-url"
    monkeypatch.setenv("JWSTNB_STORAGE_URL", f"s3://key:{secret}@jwst-bucket/team")
    shell.register_magics(JwstMagics(shell))  # a new instance reads the new setting
    shell.run_line_magic("jwst", "status")
    out = capsys.readouterr().out
    assert "jwst-bucket/team" in out
    assert secret not in out
