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


@pytest.mark.parametrize(
    "url",
    [
        f"https://acct.blob.core.windows.net/c/f.fits?sv=2024-11-04&se=2026-12-01&sp=r&sig={SECRET}",
        f"https://b.s3.amazonaws.com/k.fits?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=AKIA%2F{SECRET}&X-Amz-Signature={SECRET}",
        f"https://b.s3.amazonaws.com/k.fits?X-Amz-Security-Token={SECRET}&X-Amz-Date=2026",
        f"https://cdn.example/k?Expires=1&Signature={SECRET}&Key-Pair-Id={SECRET}&Policy={SECRET}",
        f"https://storage.googleapis.com/b/k?X-Goog-Signature={SECRET}&GoogleAccessId={SECRET}",
        f"abfs://container?account_key={SECRET}",
        f"https://h/api?auth={SECRET}&page=2",
        f"https://h/api?token={SECRET}",
        f"https://h/api?key={SECRET}&alt=json",
        f"https://h/api?password={SECRET}",
        f"https://h/api?client_secret={SECRET}",
        f"s3://AKIDEXAMPLE:{SECRET}@bucket/prefix",
        f"https://{SECRET}@github.com/org/repo.git",
        f"error talking to server: Authorization: Bearer {SECRET}",
        f"s3 said: token={SECRET}, sig: {SECRET}",
    ],
)
def test_redact_removes_every_secret_bearing_part(url: str) -> None:
    shown = config.redact(url)
    assert SECRET not in shown, shown
    assert "***" in shown


def test_redact_keeps_what_says_where() -> None:
    sas = "https://acct.blob.core.windows.net/c/f.fits?sv=2024-11-04&se=2026-12-01&sp=r&sig=x1"
    assert config.redact(sas) == (
        "https://acct.blob.core.windows.net/c/f.fits?sv=2024-11-04&se=2026-12-01&sp=r&sig=***"
    )
    assert config.redact("mongodb://alice@host/db") == "mongodb://alice@host/db"
    assert config.redact("s3://AKID:pw@bucket/x") == "s3://AKID:***@bucket/x"
    assert config.redact("s3://bucket/x?versionId=3") == "s3://bucket/x?versionId=3"
    assert config.redact("storage key 'mast/a.fits' is missing") == (
        "storage key 'mast/a.fits' is missing"
    )


def test_storage_mounts_from_the_config_file(tmp_path: Path) -> None:
    path = _write_config(
        tmp_path,
        '[storage]\nurl = "file:///data/jwst"\n[storage.mounts]\nteam = "s3://team/jwst"\n'
        'mirror = { url = "s3://mirror/mast", endpoint_url = "http://h:9000", anon = true }\n',
    )
    env = {"JWSTNB_CONFIG": str(path)}
    assert config.storage_mounts(env) == {
        "": "file:///data/jwst", "team/": "s3://team/jwst", "mirror/": "s3://mirror/mast"
    }
    assert config.storage_mount_options(env) == {
        "mirror/": {"endpoint_url": "http://h:9000", "anon": True}
    }
    env["JWSTNB_STORAGE_URL"] = "s3://env/bucket"
    assert config.storage_mounts(env)[""] == "s3://env/bucket"


def test_bad_mount_tables_are_clear_errors(tmp_path: Path) -> None:
    from jwstnb.errors import InvalidStorageKey, StorageNotConfigured

    for body, error, text in (
        ('[storage]\nmounts = "x"\n', StorageNotConfigured, "must be a table"),
        ("[storage.mounts]\nteam = 3\n", StorageNotConfigured, "has no URL"),
        ('[storage.mounts]\n"a/b" = "s3://x"\n', InvalidStorageKey, "one storage-key segment"),
        ('[storage.mounts]\n".jwstnb" = "s3://x"\n', InvalidStorageKey, "reserved"),
    ):
        path = _write_config(tmp_path, body)
        with pytest.raises(error, match=text):
            config.storage_mounts({"JWSTNB_CONFIG": str(path)})


def test_add_mount_writes_a_new_file_0600_and_refuses_inline_tables(tmp_path: Path) -> None:
    import stat

    from jwstnb.errors import StorageNotConfigured

    env = {"JWSTNB_CONFIG": str(tmp_path / "new" / "config.toml"), "JWSTNB_STORAGE_URL": "s3://d"}
    config.add_mount("my mount", "s3://bucket/x", environ=env)
    path = tmp_path / "new" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.load_config(path)["storage"]["mounts"] == {"my mount": "s3://bucket/x"}
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left
    inline = _write_config(tmp_path, 'storage = { mounts = { a = "s3://a" } }\n')
    with pytest.raises(StorageNotConfigured, match="by hand"):
        config.add_mount("b", "s3://b", environ={"JWSTNB_CONFIG": str(inline)})
    assert inline.read_text() == 'storage = { mounts = { a = "s3://a" } }\n'
