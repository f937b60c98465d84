"""Data and server for the widget browser tests (the generic parts are tests/fixtures_browser).

One test database per run: the synthetic JWST sample written to a ``file://`` storage and
scanned into it (what a user gets from ``jwstnb seed``), plus one 2,000-file observation to
show the lineage viewer at size. One JupyterLab serves a copy of ``notebooks/`` with the
database and storage in its environment; Voila pages come from the same server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.data import insert_all, lineage_records
from tests.fixtures_browser import JupyterServer, copy_notebooks

NOTEBOOKS = Path(__file__).parent / "notebooks"
BIG_OBSERVATION = "jw09999-o001_t001_nircam"
BIG_FILES = 2000


@dataclass(frozen=True)
class BrowserData:
    """Where the browser tests' data lives."""

    mongo_uri: str
    database: str
    storage_url: str
    records: int


@pytest.fixture(scope="session")
def browser_data(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserData]:
    """The sample scanned into a fresh database, plus a 2,000-file observation."""
    from jwstnb import ingest, samples
    from jwstnb.session import connect
    from jwstnb.storage import Storage

    database = f"jwstnb_browser_{uuid.uuid4().hex[:10]}"
    root = tmp_path_factory.mktemp("browser-storage")
    storage_url = f"file://{root}"
    storage = Storage(storage_url)
    samples.write_sample(storage)
    admin = connect(mongo_uri, admin=True, database=database, timeout=10)
    try:
        report = ingest.scan(admin, storage, prefix="mast/", progress=False)
        assert report.imported and not report.failed, report
        insert_all(admin, lineage_records(BIG_OBSERVATION, (BIG_FILES - 2) // 3))
        yield BrowserData(mongo_uri, database, storage_url, admin.count())
    finally:
        admin.client.drop_database(database)
        admin.close()


@pytest.fixture(scope="session")
def widgets_lab(
    jupyter_server: Callable[..., JupyterServer],
    browser_data: BrowserData,
    tmp_path_factory: pytest.TempPathFactory,
) -> JupyterServer:
    """JupyterLab on a copy of tests/browser/notebooks, pointed at the browser test data."""
    work = tmp_path_factory.mktemp("browser-lab")
    root = copy_notebooks(NOTEBOOKS, work / "notebooks")
    config = work / "jwstnb.toml"
    config.write_text(f'[mongo]\ndatabase = "{browser_data.database}"\n')
    env = {
        "JWSTNB_MONGO_URI": browser_data.mongo_uri,
        "JWSTNB_STORAGE_URL": browser_data.storage_url,
        "JWSTNB_CONFIG": str(config),
    }
    return jupyter_server(root, env)
