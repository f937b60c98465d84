"""Storage mounts (local disk + moto S3), the config file's mounts, and records read from a
moto bucket laid out as the public JWST bucket (``s3://stpubdata/jwst/public/``)."""

from __future__ import annotations

import contextlib
import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from jwstnb import config
from jwstnb.errors import InvalidStorageKey, StorageFileNotFound, StorageNotConfigured
from jwstnb.storage import PUBLIC_BUCKET_URL, Storage
from tests.fixtures_storage import make_fits_bytes

pytestmark = pytest.mark.integration

KEY = "jw02733001001_02101_00001_nrca1_cal.fits"


@dataclass
class Record:
    """The two fields Storage reads from a record (``JwstDataModel`` has both)."""

    file_path: str
    metadata: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def mounted(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> Storage:
    local = tmp_path / "local"
    local.mkdir()
    return Storage(
        {"": local.as_uri(), "team/": f"s3://{s3_bucket}/jwst", "team/raw/": str(tmp_path / "raw")},
        options={"team/": {"endpoint_url": s3_endpoint}},
    )


def test_the_longest_prefix_picks_the_mount(
    mounted: Storage, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    mounted.write_bytes("mast/a.fits", make_fits_bytes((8, 8)))
    mounted.write_bytes("team/b.fits", make_fits_bytes((8, 8), seed=1))
    mounted.write_bytes("team/raw/c.fits", make_fits_bytes((8, 8), seed=2))
    assert (tmp_path / "local" / "mast" / "a.fits").exists()
    assert (tmp_path / "raw" / "c.fits").exists()
    bucket = Storage(f"s3://{s3_bucket}", endpoint_url=s3_endpoint)
    assert bucket.list() == ["jwst/b.fits"]
    assert mounted.list() == ["mast/a.fits", "team/b.fits", "team/raw/c.fits"]
    assert mounted.list("team/") == ["team/b.fits", "team/raw/c.fits"]
    assert mounted.list("team/raw/") == ["team/raw/c.fits"]
    assert mounted.list("te") == ["team/b.fits", "team/raw/c.fits"]
    assert mounted.read_header("team/b.fits", "SCI")["NAXIS1"] == 8
    assert mounted.cutout("team/raw/c.fits", y=(4, 5), x=(4, 5)).data[0, 0] == 50.0
    assert mounted.thumbnail("team/b.fits", size=8).startswith(b"\x89PNG")
    assert set(mounted.mounts) == {"", "team/", "team/raw/"}
    assert "endpoint_url" in repr(mounted)
    assert mounted.protocol == "file"  # the default mount's
    with pytest.raises(InvalidStorageKey):
        mounted.read_bytes("team/../mast/a.fits")


def test_a_mapping_without_a_default_mount_says_what_to_add(tmp_path: Path) -> None:
    storage = Storage({"only/": tmp_path.as_uri()})
    storage.write_bytes("only/x.txt", b"x")
    assert (tmp_path / "x.txt").read_bytes() == b"x"
    with pytest.raises(StorageNotConfigured, match=r"no mount holds 'other/x\.txt'.*add_mount"):
        storage.read_bytes("other/x.txt")
    with pytest.raises(StorageNotConfigured, match="reserved"):
        Storage({".jwstnb/": tmp_path.as_uri()})
    with pytest.raises(StorageNotConfigured, match="not a key prefix"):
        Storage({"../up/": tmp_path.as_uri()})


def test_mount_of_key_for_and_canonical_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "mast").mkdir(parents=True)
    storage = Storage({"": data.as_uri(), "mirror/": (data / "mast").as_uri()})
    storage.write_bytes("mirror/a.fits", b"x")
    assert storage.mount_of(data.as_uri()) == ""
    assert storage.mount_of(str(data / "mast") + "/") == "mirror/"
    assert storage.mount_of((tmp_path / "else").as_uri()) is None
    # one file, two keys: the most specific mount's key is the one key
    assert storage.key_for((data / "mast" / "a.fits").as_uri()) == "mirror/a.fits"
    assert storage.key_for(str(data / "mast" / "a.fits")) == "mirror/a.fits"
    assert storage.canonical_key("mast/a.fits") == "mirror/a.fits"
    assert storage.canonical_key("mirror/a.fits") == "mirror/a.fits"
    assert storage.read_bytes("mast/a.fits") == storage.read_bytes("mirror/a.fits")
    assert storage.key_for((tmp_path / "outside.fits").as_uri()) is None
    assert storage.key_for("s3://bucket/x.fits") is None
    # reached through a symlinked path, the file still has its key
    os.symlink(data, tmp_path / "link")
    assert storage.key_for(str(tmp_path / "link" / "mast" / "a.fits")) == "mirror/a.fits"


def test_mount_of_and_key_for_on_s3(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    storage = Storage(
        {"": tmp_path.as_uri(), "team/": f"s3://{s3_bucket}/jwst"},
        options={"team/": {"endpoint_url": s3_endpoint}},
    )
    assert storage.mount_of(f"s3://{s3_bucket}/jwst/") == "team/"
    assert storage.key_for(f"s3://{s3_bucket}/jwst/obs/x.fits") == "team/obs/x.fits"
    assert storage.key_for(f"s3://{s3_bucket}/other/x.fits") is None


# --- the config file and the environment ----------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JWSTNB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JWSTNB_CONFIG", str(tmp_path / "cfg" / "config.toml"))
    monkeypatch.delenv("JWSTNB_STORAGE_URL", raising=False)
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.toml").write_text('# my settings\n[mongo]\ndatabase = "x"\n')
    return tmp_path


def test_add_mount_persists_and_storage_merges_it(home: Path) -> None:
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "obs").mkdir()
    (elsewhere / "obs" / KEY).write_bytes(make_fits_bytes((8, 8)))
    config.add_mount("elsewhere", elsewhere.as_uri())
    path = home / "cfg" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.startswith("# my settings\n[mongo]")  # the rest of the file is kept
    assert config.load_config()["storage"]["mounts"] == {"elsewhere": elsewhere.as_uri()}
    config.add_mount("elsewhere", elsewhere.as_uri())  # again: nothing changes
    assert path.read_text() == text
    storage = Storage()
    assert storage.mounts[""] == (home / "home" / "storage").resolve().as_uri()
    assert storage.mounts["elsewhere/"] == elsewhere.as_uri()
    assert storage.list("elsewhere/") == [f"elsewhere/obs/{KEY}"]
    assert storage.read_header(f"elsewhere/obs/{KEY}", "SCI")["NAXIS1"] == 8
    assert storage.key_for(str(elsewhere / "obs" / KEY)) == f"elsewhere/obs/{KEY}"
    assert storage.mount_of(elsewhere.as_uri()) == "elsewhere/"
    # a second mount, given as a plain path, lands under the same table
    other = home / "other"
    other.mkdir()
    config.add_mount("other", str(other))
    assert Storage().mounts["other/"] == other.as_uri()


def test_add_mount_refusals(home: Path) -> None:
    first = home / "first"
    first.mkdir()
    config.add_mount("first", first.as_uri())
    before = (home / "cfg" / "config.toml").read_text()
    with pytest.raises(StorageNotConfigured, match="already points to"):
        config.add_mount("first", (home / "second").as_uri())
    with pytest.raises(StorageNotConfigured, match="already mount 'first'"):
        config.add_mount("again", first.as_uri())
    with pytest.raises(StorageNotConfigured, match="already the default mount"):
        config.add_mount("home", (home / "home" / "storage").resolve().as_uri())
    for bad in ("a/b", "..", "", ".jwstnb", "x\\y", "\u2024\u2024"):
        with pytest.raises(InvalidStorageKey):
            config.add_mount(bad, (home / "z").as_uri())
    assert (home / "cfg" / "config.toml").read_text() == before


def test_mounts_with_options_from_the_config_file(
    home: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    config.add_mount(
        "team", f"s3://{s3_bucket}/jwst", options={"endpoint_url": s3_endpoint, "anon": False}
    )
    storage = Storage()
    storage.write_bytes("team/x.fits", make_fits_bytes((8, 8)))
    assert Storage(f"s3://{s3_bucket}", endpoint_url=s3_endpoint).list() == ["jwst/x.fits"]
    assert storage.read_header("team/x.fits", "SCI")["NAXIS2"] == 8


def test_the_environment_names_the_default_mount(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWSTNB_STORAGE_URL", (home / "env").as_uri())
    config.add_mount("named", (home / "named").as_uri())
    assert Storage().mounts == {"named/": (home / "named").as_uri(), "": (home / "env").as_uri()}


# --- the public JWST bucket -------------------------------------------------------------------


@pytest.fixture
def public_bucket(s3_endpoint: str) -> Storage:
    """moto's ``stpubdata`` bucket, written like the public one (``jwst/public/<obs>/...``)."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket="stpubdata")
    writer = Storage(PUBLIC_BUCKET_URL, endpoint_url=s3_endpoint)
    writer.write_bytes(f"jw02733001001/{KEY}", make_fits_bytes((32, 32)))
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 10, 10)).save(out, format="JPEG")
    writer.write_bytes("jw02733001001/preview_thumb.jpg", out.getvalue())
    # like the real bucket: anyone may list it and read its objects
    client.put_bucket_acl(Bucket="stpubdata", ACL="public-read")
    for key in writer.list():
        client.put_object_acl(Bucket="stpubdata", Key=f"jwst/public/{key}", ACL="public-read")
    return writer


def test_records_open_from_the_public_bucket_when_no_mount_holds_them(
    public_bucket: Storage, s3_endpoint: str, tmp_path: Path
) -> None:
    storage = Storage(
        tmp_path.as_uri(), public_options={"endpoint_url": s3_endpoint},
        thumbnail_cache=tmp_path / "thumbs",
    )
    uri = f"{PUBLIC_BUCKET_URL}jw02733001001/{KEY}"
    record = Record(f"mast/jw02733-o001_t001_nircam/{KEY}", {"cloud_uri": uri, "dataURI": "x"})
    fs, path = storage.locate(record)
    assert path == f"stpubdata/jwst/public/jw02733001001/{KEY}"
    assert "s3" in fs.protocol
    assert storage.read_header(record, "SCI")["NAXIS1"] == 32
    assert [h.get("EXTNAME", "PRIMARY") for h in storage.read_headers(record)][:2] == [
        "PRIMARY", "SCI"
    ]
    with storage.open_fits(record) as hdul:
        assert hdul["SCI"].data.shape == (32, 32)
    assert storage.cutout(record, y=(16, 17), x=(16, 17)).data[0, 0] == 50.0
    assert storage.size(record) == public_bucket.size(f"jw02733001001/{KEY}")
    with storage.open(record) as f:
        assert f.read(6) == b"SIMPLE"
    png = storage.thumbnail(record, size=16)
    assert Image.open(io.BytesIO(png)).size == (16, 16)
    # the public bucket is read-only: the thumbnail is cached in the local folder
    cached = list((tmp_path / "thumbs").rglob("*.png"))
    assert len(cached) == 1 and cached[0].read_bytes() == png
    assert not any(k.startswith(".jwstnb/") for k in public_bucket.list())
    picture = Record("mast/p/preview_thumb.jpg", {"cloud_uri": f"{PUBLIC_BUCKET_URL}"
                                                  "jw02733001001/preview_thumb.jpg"})
    assert Image.open(io.BytesIO(storage.thumbnail(picture, size=20))).size == (20, 10)
    # a key alone (no record) still means the mount, where the file is not
    with pytest.raises(StorageFileNotFound):
        storage.read_header(record.file_path)


def test_a_mount_that_holds_the_key_wins_over_the_bucket(
    public_bucket: Storage, s3_endpoint: str, tmp_path: Path
) -> None:
    storage = Storage(tmp_path.as_uri(), public_options={"endpoint_url": s3_endpoint})
    key = f"mast/jw02733-o001_t001_nircam/{KEY}"
    storage.write_bytes(key, make_fits_bytes((8, 8)))
    record = Record(key, {"cloud_uri": f"{PUBLIC_BUCKET_URL}jw02733001001/{KEY}"})
    assert storage.read_header(record, "SCI")["NAXIS1"] == 8
    assert storage.locate(record)[1] == str((tmp_path / key).resolve())


def test_only_the_public_bucket_is_followed(tmp_path: Path, s3_endpoint: str) -> None:
    (tmp_path / "secret.fits").write_bytes(make_fits_bytes((8, 8)))
    storage = Storage((tmp_path / "store").as_uri(), public_options={"endpoint_url": s3_endpoint})
    for uri in (
        (tmp_path / "secret.fits").as_uri(),
        "s3://someone-else/jwst/public/x.fits",
        f"{PUBLIC_BUCKET_URL}../../other/x.fits",
        f"{PUBLIC_BUCKET_URL}%2e%2e/x.fits",
    ):
        record = Record("mast/x.fits", {"cloud_uri": uri})
        with pytest.raises(StorageFileNotFound):
            storage.read_header(record)
    with pytest.raises(InvalidStorageKey):
        storage.read_header(Record("../x.fits", {"cloud_uri": f"{PUBLIC_BUCKET_URL}a.fits"}))


def test_a_read_only_mount_caches_thumbnails_in_the_local_folder(
    public_bucket: Storage, s3_endpoint: str, tmp_path: Path
) -> None:
    """An anonymous mount (the public bucket) is read-only: its thumbnails are cached in the
    local cache folder, never written to the bucket."""
    storage = Storage(
        {"pub/": PUBLIC_BUCKET_URL}, options={"pub/": {"anon": True}},
        endpoint_url=s3_endpoint, thumbnail_cache=tmp_path / "cache",
    )
    key = f"pub/jw02733001001/{KEY}"
    first = storage.thumbnail(key, size=16)
    assert len(list((tmp_path / "cache").rglob("*.png"))) == 1
    writer = Storage("s3://stpubdata", endpoint_url=s3_endpoint)
    assert not [p for p in writer.fs.find("stpubdata") if "/.jwstnb/" in p]
    storage.reset_counters()
    assert storage.thumbnail(key, size=16) == first
    assert storage.read_requests == 0  # served from the local folder
