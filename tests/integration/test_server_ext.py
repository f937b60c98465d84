"""The Jupyter server extension against a configured database (the test MongoDB server).

A real Jupyter Server (pytest-jupyter) loads ``jwstnb`` through ``jpserver_extensions``;
``/jwstnb/api/status`` must refuse requests without the token and, with it, report the
database, the record counts and the storage URL without any secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

pytest_plugins = ["pytest_jupyter.jupyter_server"]

pytestmark = pytest.mark.integration

STORAGE_SECRET = "s3cr3t-storage-pw"
STORAGE_URL = (
    f"s3://alice:{STORAGE_SECRET}@jwst-bucket/team?secret_access_key={STORAGE_SECRET}"
    f"&sig={STORAGE_SECRET}&account_key={STORAGE_SECRET}&auth={STORAGE_SECRET}"
)


def _record(i: int, *, public: bool) -> object:
    from jwstnb.schema import JwstDataModel

    name = f"jw02733001001_02101_0000{i}_nrca1_cal.fits"
    return JwstDataModel(
        file_name=name,
        file_path=f"mast/jw02733-o001_t001_nircam_clear-f090w/{name}",
        data_type="image",
        processing_level="L2b",
        is_public=public,
    )


@pytest.fixture
def configured_db(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mongo_uri: str, db_name: str
) -> Iterator[str]:
    """A config file naming the test server and a fresh database with 3 records (2 public)."""
    from jwstnb.session import connect

    config = tmp_path / "jwstnb.toml"
    config.write_text(f'[mongo]\nuri = "{mongo_uri}"\ndatabase = "{db_name}"\n')
    monkeypatch.setenv("JWSTNB_CONFIG", str(config))
    monkeypatch.delenv("JWSTNB_MONGO_URI", raising=False)
    monkeypatch.delenv("JWSTNB_MONGO_URI_FILE", raising=False)
    monkeypatch.setenv("JWSTNB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JWSTNB_STORAGE_URL", STORAGE_URL)
    with connect(mongo_uri, database=db_name, admin=True) as admin:
        admin.ensure_indexes()
        for i, public in enumerate((True, True, False)):
            admin.insert(_record(i, public=public))
    yield db_name


@pytest.fixture
def jp_server_config(configured_db: str) -> dict:
    # Depending on configured_db makes the environment ready before the server starts.
    return {"ServerApp": {"jpserver_extensions": {"jwstnb": True}}}


async def test_status_requires_authentication(jp_fetch) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "token not-the-token"}):
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("jwstnb", "api", "status", headers=headers)
        assert info.value.code in (401, 403)


async def test_status_reports_database_counts_and_redacted_storage(
    jp_fetch, configured_db: str, mongo_uri: str
) -> None:
    response = await jp_fetch("jwstnb", "api", "status")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.body.decode()
    doc = json.loads(body)

    db = doc["database"]
    assert db["reachable"] is True, db
    assert db["embedded"] is False
    assert db["phase"] == "configured"
    assert db["name"] == configured_db
    # a configured database is read with the default (anonymous) role: public records only
    assert db["role"] == "anonymous"
    assert doc["records"]["total"] == 2
    assert doc["records"]["by_processing_level"].get("L2b") == 2
    assert doc["records"]["by_data_type"] == {"image": 2}
    assert set(doc["records"]) >= {"observations", "by_status", "by_instrument"}

    assert doc["storage"]["configured"] is True
    assert "jwst-bucket/team" in doc["storage"]["url"]
    assert STORAGE_SECRET not in body
    assert "***" in doc["storage"]["url"]


async def test_status_is_json_when_the_database_is_down(
    jp_fetch, jp_serverapp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Point the running extension at a closed port: reachable false, an error, still 200.
    from jwstnb.server import SETTINGS_KEY
    from tests.servers import free_port

    monkeypatch.setenv(
        "JWSTNB_MONGO_URI", f"mongodb://u:hunter2@127.0.0.1:{free_port()}/?directConnection=true"
    )
    jp_serverapp.web_app.settings[SETTINGS_KEY].close()  # forget the session it had
    response = await jp_fetch("jwstnb", "api", "status")
    doc = json.loads(response.body)
    assert doc["database"]["reachable"] is False
    assert doc["database"]["error"]
    assert doc["records"] is None
    assert "hunter2" not in response.body.decode()
