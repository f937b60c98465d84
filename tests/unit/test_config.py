"""Connection resolution order, config file, URI files, redaction and the dev-credential warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from jwstnb import config
from jwstnb.errors import ConnectionFailed

SECRET = "s3cr3t-P4ss"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with no user config file (points JWSTNB_CONFIG nowhere unless given)."""
    env = {"JWSTNB_CONFIG": str(tmp_path / "absent.toml")}
    env.update(extra)
    return env


def _write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body)
    return path


def test_nothing_configured_means_the_local_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # default config dir is empty
    resolved = config.resolve(environ={})
    assert resolved.uri is None and resolved.source == "local"
    assert resolved.display == "embedded local server"


def test_explicit_config_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectionFailed, match=r"absent\.toml"):
        config.resolve(environ=_env(tmp_path))
    # ... unless a URI comes from a stronger source
    assert config.resolve("mongodb://h/", environ=_env(tmp_path)).source == "argument"


def test_resolution_order(tmp_path: Path) -> None:
    uri_file = tmp_path / "uri.txt"
    uri_file.write_text("mongodb://file-host/\n")
    cfg = _write_config(tmp_path, '[mongo]\nuri = "mongodb://config-host/"\ndatabase = "mydb"\n')
    full = {
        "JWSTNB_CONFIG": str(cfg),
        "JWSTNB_MONGO_URI": "mongodb://env-host/",
        "JWSTNB_MONGO_URI_FILE": str(uri_file),
    }
    r = config.resolve("mongodb://arg-host/", environ=full)
    assert (r.uri, r.source) == ("mongodb://arg-host/", "argument")
    assert r.database == "mydb"
    r = config.resolve(environ=full)
    assert (r.uri, r.source) == ("mongodb://env-host/", "env")
    del full["JWSTNB_MONGO_URI"]
    r = config.resolve(environ=full)
    assert (r.uri, r.source) == ("mongodb://file-host/", "env-file")
    del full["JWSTNB_MONGO_URI_FILE"]
    r = config.resolve(environ=full)
    assert (r.uri, r.source) == ("mongodb://config-host/", "config-file")


def test_config_file_can_point_to_a_uri_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(f"mongodb://u:{SECRET}@db.example:27017/\n")
    cfg = _write_config(tmp_path, f'[mongo]\nuri_file = "{secret}"\ncollection = "c2"\n')
    r = config.resolve(environ={"JWSTNB_CONFIG": str(cfg)})
    assert r.uri == f"mongodb://u:{SECRET}@db.example:27017/"
    assert r.collection == "c2"
    assert SECRET not in repr(r) and SECRET not in r.display


def test_unreadable_or_empty_uri_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConnectionFailed, match="JWSTNB_MONGO_URI_FILE"):
        config.resolve(environ=_env(tmp_path, JWSTNB_MONGO_URI_FILE=str(tmp_path / "nope")))
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    with pytest.raises(ConnectionFailed, match="empty"):
        config.resolve(environ=_env(tmp_path, JWSTNB_MONGO_URI_FILE=str(empty)))


def test_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    cfg = _write_config(tmp_path, "[mongo\nuri=")
    with pytest.raises(ConnectionFailed, match="config file"):
        config.resolve(environ={"JWSTNB_CONFIG": str(cfg)})


@pytest.mark.parametrize(
    "uri",
    [
        f"mongodb://alice:{SECRET}@host:27017/?authSource=admin",
        f"mongodb+srv://alice:{SECRET}@cluster.example.net/db",
        f"mongodb://host/?authMechanism=PLAIN&password={SECRET}",
    ],
)
def test_redact_hides_passwords(uri: str) -> None:
    shown = config.redact(uri)
    assert SECRET not in shown
    assert "***" in shown
    assert "host" in shown or "cluster" in shown


def test_redact_text_and_helpers() -> None:
    uri = f"mongodb://alice:{SECRET}@h1:1,h2:2/db?x=1"
    message = f"could not reach {uri}: auth {SECRET} failed"
    assert SECRET not in config.redact_text(message, SECRET)
    assert config.credentials(uri) == ("alice", SECRET)
    assert config.credentials("mongodb://h/") == (None, None)
    assert config.credentials("mongodb://a%40b:p%3Aw@h/") == ("a@b", "p:w")
    assert config.hosts(uri) == "h1:1,h2:2"
    assert config.hosts("mongodb://127.0.0.1:9/?directConnection=true") == "127.0.0.1:9"


def test_dev_credentials_warn() -> None:
    with pytest.warns(config.DevCredentialsWarning, match="admin:password"):
        assert config.warn_dev_credentials("mongodb://admin:password@localhost:27017/")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not config.warn_dev_credentials(f"mongodb://admin:{SECRET}@localhost/")
