"""Storage on real backends: a local folder and moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from jwstnb.errors import FitsError, InvalidStorageKey, NotFound
from jwstnb.storage import Storage, StorageNotConfigured
from tests.fixtures_storage import (
    NOT_FITS,
    header_corrupt,
    header_without_end,
    make_fits_bytes,
    truncated,
)

pytestmark = pytest.mark.integration

KEY = "mast/jw02733-o001_t001_nircam_clear-f090w/jw02733001001_02101_00001_nrca1_cal.fits"


def test_write_list_size_read_delete(storage: Storage) -> None:
    storage.write_bytes("mast/a/one.fits", b"1" * 10)
    storage.write_bytes("mast/a/b/two.json", b"{}")
    storage.write_bytes("other/three.csv", b"x,y\n")
    assert storage.list() == ["mast/a/b/two.json", "mast/a/one.fits", "other/three.csv"]
    assert storage.list("mast/") == ["mast/a/b/two.json", "mast/a/one.fits"]
    assert storage.list("mast/a/b/") == ["mast/a/b/two.json"]
    assert storage.list("mast/a/o") == ["mast/a/one.fits"]
    assert storage.list("nothing/") == []
    assert storage.sizes("mast/") == {"mast/a/b/two.json": 2, "mast/a/one.fits": 10}
    assert storage.exists("mast/a/one.fits")
    assert not storage.exists("mast/a/none.fits")
    assert storage.size("mast/a/one.fits") == 10
    assert storage.read_bytes("other/three.csv") == b"x,y\n"
    with storage.open("mast/a/one.fits") as f:
        assert f.read() == b"1" * 10
    with storage.open("mast/a/b/two.json", "r") as f:
        assert f.read() == "{}"
    storage.delete("other/three.csv")
    assert not storage.exists("other/three.csv")
    with pytest.raises(NotFound, match=r"no file 'other/three\.csv'"):
        storage.read_bytes("other/three.csv")
    with pytest.raises(FileNotFoundError):
        storage.size("other/three.csv")


def test_hostile_keys_never_reach_outside_the_base(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    root = tmp_path / "base"
    root.mkdir()
    storage = Storage(root.as_uri())
    for key in ("../secret.txt", "%2e%2e/secret.txt", "%252e%252e/secret.txt", str(secret)):
        with pytest.raises(InvalidStorageKey):
            storage.read_bytes(key)
        with pytest.raises(InvalidStorageKey):
            storage.exists(key)
    with pytest.raises(InvalidStorageKey):
        storage.list("../")
    assert storage.list() == []


def test_open_fits_header_and_cutout(storage: Storage) -> None:
    data = make_fits_bytes((64, 80))
    storage.write_bytes(KEY, data)
    with storage.open_fits(KEY) as hdul:
        assert hdul[0].header["TARGNAME"] == "NGC-3132"
        assert hdul["SCI"].section[32, 40] == pytest.approx(50.0)
    header = storage.read_header(KEY)
    assert header["TELESCOP"] == "JWST"
    assert storage.read_header(KEY, "SCI")["CTYPE1"] == "RA---TAN"
    assert storage.read_header(KEY, 3)["EXTNAME"] == "DQ"
    assert storage.read_header(KEY, ("ERR", 1))["EXTNAME"] == "ERR"
    headers = storage.read_headers(KEY)
    assert [h.get("EXTNAME", "PRIMARY") for h in headers] == ["PRIMARY", "SCI", "ERR", "DQ"]

    cut = storage.cutout(KEY, "SCI", y=(30, 35), x=(38, 44))
    assert cut.data.shape == (5, 6)
    assert cut.data[2, 2] == pytest.approx(50.0)
    assert cut.y == (30, 35) and cut.x == (38, 44)
    # the cutout's WCS is the full WCS shifted to the box
    full_wcs = _wcs(header=storage.read_header(KEY, "SCI"))
    ra, dec = full_wcs.pixel_to_world_values(40, 32)
    assert cut.wcs is not None
    assert np.allclose(cut.wcs.pixel_to_world_values(2, 2), (ra, dec))
    with pytest.raises(FitsError, match=r"no extension 'NOPE'.*PRIMARY, SCI, ERR, DQ"):
        storage.cutout(KEY, "NOPE", y=(0, 2), x=(0, 2))


def _wcs(header):  # type: ignore[no-untyped-def]
    from astropy.wcs import WCS

    return WCS(header)


def test_sky_cutout_keeps_the_wcs(storage: Storage) -> None:
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D

    storage.write_bytes(KEY, make_fits_bytes((64, 64)))
    wcs = _wcs(storage.read_header(KEY, "SCI"))
    ra, dec = wcs.pixel_to_world_values(32, 32)  # the bright pixel
    position = SkyCoord(ra * u.deg, dec * u.deg)
    cut = storage.cutout(KEY, "SCI", position=position, size=(9, 9))
    assert isinstance(cut, Cutout2D)
    assert cut.data.shape == (9, 9)
    assert cut.data[4, 4] == pytest.approx(50.0)
    assert cut.xmin_original == 28 and cut.ymin_original == 28
    assert np.allclose(cut.wcs.pixel_to_world_values(4, 4), (ra, dec))
    by_pixel = storage.cutout(KEY, "SCI", position=(32, 32), size=5)
    assert by_pixel.data[2, 2] == pytest.approx(50.0)
    angular = storage.cutout(KEY, "SCI", position=position, size=0.3 * u.arcsec)
    assert angular.data.shape == (10, 10)  # 0.3" at 0.031"/pixel


def test_cube_cutout_takes_a_plane(storage: Storage) -> None:
    storage.write_bytes("cube_rateints.fits", make_fits_bytes((3, 20, 30)))
    plane0 = storage.cutout("cube_rateints.fits", y=(0, 20), x=(0, 30)).data
    plane2 = storage.cutout("cube_rateints.fits", y=(0, 20), x=(0, 30), plane=2).data
    assert plane0.shape == plane2.shape == (20, 30)
    assert not np.array_equal(plane0, plane2)
    image = storage.image_data("cube_rateints.fits")
    assert np.array_equal(image, plane0)


def _png(data: bytes):  # type: ignore[no-untyped-def]
    from PIL import Image

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("stretch", ["zscale", "asinh", "linear", "log"])
def test_thumbnail_stretches(storage: Storage, stretch: str) -> None:
    storage.write_bytes(KEY, make_fits_bytes((64, 128)))
    image = _png(storage.thumbnail(KEY, size=64, stretch=stretch))
    assert image.size == (64, 32)
    pixels = np.asarray(image)
    assert pixels.max() > pixels.min()  # not a flat picture


def test_thumbnail_of_pictures_and_bad_stretch(storage: Storage) -> None:
    from PIL import Image

    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("TIFF", "tiff")):
        out = io.BytesIO()
        Image.new("RGB", (200, 100), (200, 30, 30)).save(out, format=fmt)
        storage.write_bytes(f"pics/red.{ext}", out.getvalue())
        image = _png(storage.thumbnail(f"pics/red.{ext}", size=50))
        assert image.size == (50, 25)
        assert storage.image_data(f"pics/red.{ext}").shape == (100, 200)
    storage.write_bytes("pics/broken.png", b"not a png")
    with pytest.raises(FitsError, match=r"'pics/broken\.png' is not a readable image"):
        storage.thumbnail("pics/broken.png")
    storage.write_bytes(KEY, make_fits_bytes())
    with pytest.raises(ValueError, match="stretch"):
        storage.thumbnail(KEY, stretch="sqrt-ish")


def test_thumbnail_is_computed_once_per_file_version(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.write_bytes(KEY, make_fits_bytes((256, 256)))
    first = storage.thumbnail(KEY, size=64)
    # cached under the reserved prefix, which listings (and so scans) never show
    assert storage.list() == [KEY]
    cached = [p for p in storage.fs.find(storage.path(KEY).rsplit("/mast/", 1)[0])
              if "/.jwstnb/thumbs/" in p]
    assert len(cached) == 1 and cached[0].endswith("-64px-zscale-auto.png")
    storage.reset_counters()

    def rendered_again(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("a cached thumbnail was rendered from the FITS file again")

    with monkeypatch.context() as patch:
        patch.setattr(storage, "_render_thumbnail", rendered_again)
        second = storage.thumbnail(KEY, size=64)
    assert second == first
    if not storage.is_local:
        assert storage.read_requests == 1  # the cached PNG, nothing of the FITS file
        assert storage.bytes_read == len(second) < 20_000
    # another size or stretch is another thumbnail; a new version of the file recomputes
    assert storage.thumbnail(KEY, size=32) != first
    storage.write_bytes(KEY, make_fits_bytes((256, 256), seed=7))
    assert storage.thumbnail(KEY, size=64) != first


def test_a_scanned_record_finds_its_thumbnail_without_asking_the_store(
    storage: Storage,
) -> None:
    """A record that carries ``metadata["file_version"]`` (from the scan's listing) names
    its cached thumbnail directly: no request for the FITS file's ETag or bytes."""
    from dataclasses import dataclass, field

    @dataclass
    class Record:
        file_path: str
        file_size: int
        metadata: dict[str, str] = field(default_factory=dict)

    storage.write_bytes(KEY, make_fits_bytes((128, 128)))
    versions = storage.file_versions("mast/")
    assert versions == {KEY: storage.file_version(KEY)}
    assert storage.files("mast/") == {KEY: (storage.size(KEY), versions[KEY])}
    record = Record(KEY, storage.size(KEY), {"file_version": versions[KEY]})
    first = storage.thumbnail(record, size=32)
    assert storage.thumbnail(KEY, size=32) == first  # the same cache entry as by key
    storage.delete(KEY)  # the FITS file is not read again, not even its size
    storage.reset_counters()
    assert storage.thumbnail(record, size=32) == first
    if not storage.is_local:
        assert storage.read_requests == 1
    storage.write_bytes(KEY, make_fits_bytes((128, 128), seed=3))
    assert storage.file_version(KEY) != versions[KEY]


@pytest.mark.parametrize("stretch", ["zscale", "asinh", "linear", "log"])
def test_thumbnail_pixels_are_the_normalised_plane(storage: Storage, stretch: str) -> None:
    """The thumbnail is imaging.normalise of the strided plane (what FitsPreview shows)."""
    from jwstnb import imaging

    storage.write_bytes(KEY, make_fits_bytes((200, 300)))
    step = imaging.stride_for((200, 300), 100)
    plane = storage.image_data(KEY, step=step)
    expected = imaging.to_png(imaging.normalise(plane, stretch), 100)
    got = storage.thumbnail(KEY, size=100, stretch=stretch)
    assert np.array_equal(np.asarray(_png(got)), np.asarray(_png(expected)))


@pytest.mark.parametrize("latency", [1e-6, 10.0])
def test_planned_remote_reads_match_astropy(
    s3_endpoint: str, s3_bucket: str, latency: float
) -> None:
    """Sampled rows (cheap requests) and whole-plane reads (dear ones) give astropy's pixels,
    scaled (BSCALE/BZERO) and with BLANK pixels as NaN."""
    from astropy.io import fits

    data = (np.arange(120 * 90).reshape(120, 90) % 3000).astype(np.int16)
    data[7, 8] = -999
    hdu = fits.ImageHDU(data, name="SCI")
    hdu.header["BSCALE"], hdu.header["BZERO"], hdu.header["BLANK"] = 2.0, 100.0, -999
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(out)
    storage = Storage(
        f"s3://{s3_bucket}", endpoint_url=s3_endpoint, read_costs={"request_seconds": latency}
    )
    storage.write_bytes("int.fits", out.getvalue())
    with fits.open(io.BytesIO(out.getvalue())) as hdul:
        truth = hdul["SCI"].data.astype(np.float32)
    for step in (1, 3, 7):
        got = storage.image_data("int.fits", step=step)
        expected = truth[::step, ::step]
        assert got.shape == expected.shape
        assert np.array_equal(np.isnan(got), np.isnan(expected)) and np.isnan(got).any() == (
            step == 1
        )
        assert np.allclose(got[~np.isnan(got)], expected[~np.isnan(expected)])


def test_malformed_files_raise_fits_error_naming_key_and_reason(storage: Storage) -> None:
    good = make_fits_bytes()
    cases = {
        "bad/truncated.fits": (truncated(good), "truncated"),
        "bad/text.fits": (NOT_FITS, "not a FITS file"),
        "bad/empty.fits": (b"", "not a FITS file: the file is empty"),
        "bad/header.fits": (header_corrupt(good), "corrupt header in HDU 1"),
        "bad/noend.fits": (header_without_end(good), "END card is missing"),
        "bad/cut-in-header.fits": (good[: 2880 + 1000], "truncated or corrupt"),
    }
    for key, (data, _) in cases.items():
        storage.write_bytes(key, data)
    for key, (_, reason) in cases.items():
        with pytest.raises(FitsError) as info:
            storage.read_headers(key)
        assert key in str(info.value) and reason in str(info.value), str(info.value)
    # the loaders refuse them too, with the key in the message
    for key in ("bad/text.fits", "bad/header.fits", "bad/noend.fits", "bad/empty.fits"):
        for load in (storage.thumbnail, storage.image_data, storage.open_fits):
            with pytest.raises(FitsError, match=key.replace(".", r"\.")):
                load(key)
    with pytest.raises(FitsError, match="truncated"):
        storage.cutout("bad/truncated.fits", "DQ", y=(0, 64), x=(0, 64))
    with pytest.raises(NotFound):
        storage.read_header("bad/missing.fits")


def test_storage_from_environment_and_redaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JWSTNB_STORAGE_URL", raising=False)
    monkeypatch.setenv("JWSTNB_HOME", str(tmp_path / "home"))
    # nothing configured: the storage folder beside the embedded database
    assert Storage().url == (tmp_path / "home" / "storage").as_uri()
    with pytest.raises(StorageNotConfigured, match="empty"):
        Storage("  ")
    monkeypatch.setenv("JWSTNB_STORAGE_URL", tmp_path.as_uri())
    storage = Storage()
    storage.write_bytes("x/y.txt", b"hi")
    assert (tmp_path / "x" / "y.txt").read_bytes() == b"hi"
    assert storage.protocol == "file"

    memory = Storage("memory://jwstnb-test-redaction", password="hunter2-secret")
    assert "hunter2" not in repr(memory) and "password" in repr(memory)
    from jwstnb.config import redact as redact_url

    assert redact_url("ftp://alice:hunter2@host/data") == "ftp://alice:***@host/data"
    assert redact_url("s3://bucket/x?secret=abc&region=us") == "s3://bucket/x?secret=***&region=us"


def test_s3_secrets_stay_out_of_repr_and_errors(s3_endpoint: str, s3_bucket: str) -> None:
    storage = Storage(
        f"s3://{s3_bucket}", endpoint_url=s3_endpoint, key="testing", secret="s3cr3t-value"
    )
    storage.write_bytes("a.fits", make_fits_bytes())
    assert "s3cr3t" not in repr(storage)
    with pytest.raises(FitsError) as info:
        storage.cutout("a.fits", "NOPE", y=(0, 1), x=(0, 1))
    assert "s3cr3t" not in str(info.value)


def test_s3_cutout_reads_only_what_it_needs(s3_endpoint: str, s3_bucket: str) -> None:
    """A cutout of a 1024x1024 SCI (about 12 MB with ERR and DQ) costs a small fraction."""
    storage = Storage(f"s3://{s3_bucket}", endpoint_url=s3_endpoint)
    storage.write_bytes("big.fits", make_fits_bytes((1024, 1024)))
    total = storage.size("big.fits")
    storage.reset_counters()
    header = storage.read_header("big.fits", "SCI")
    assert header["NAXIS1"] == 1024
    assert storage.bytes_read <= 2 * storage.block_size
    storage.reset_counters()
    cut = storage.cutout("big.fits", "SCI", y=(500, 600), x=(500, 600))
    assert cut.data.shape == (100, 100)
    assert cut.data[12, 12] == pytest.approx(50.0)
    assert storage.bytes_read < 0.05 * total, (storage.bytes_read, total)
    assert storage.read_requests <= 4
    storage.reset_counters()
    thumb = _png(storage.thumbnail("big.fits", size=128))
    assert thumb.size == (128, 128)
    # 8-row steps of 4 KiB rows: a whole-plane read (4 MiB in one request) costs less than
    # 128 row requests, so the SCI plane is read whole, and nothing after it
    plane = 1024 * 1024 * 4
    assert plane <= storage.bytes_read < plane + 3 * storage.block_size
    assert storage.read_requests <= 4
    # where requests are almost free, only the sampled rows are read
    cheap = Storage(
        f"s3://{s3_bucket}", endpoint_url=s3_endpoint, read_costs={"request_seconds": 1e-6}
    )
    assert _png(cheap.thumbnail("big.fits", size=64, stretch="linear")).size == (64, 64)
    assert cheap.bytes_read < plane / 8 + 3 * storage.block_size
    # and the data agree with a full read
    from astropy.io import fits

    with fits.open(io.BytesIO(storage.read_bytes("big.fits"))) as hdul:
        assert np.array_equal(hdul["SCI"].data[500:600, 500:600], cut.data)


def test_memory_storage(fits_bytes) -> None:  # type: ignore[no-untyped-def]
    storage = Storage("memory://jwstnb-test-memory")
    storage.write_bytes("m/x.fits", fits_bytes((16, 16)))
    assert storage.list("m/") == ["m/x.fits"]
    assert storage.cutout("m/x.fits", y=(8, 9), x=(8, 9)).data[0, 0] == pytest.approx(50.0)
    storage.delete("m/x.fits")


def test_gzipped_fits(storage: Storage) -> None:
    import gzip

    storage.write_bytes("z/a_cal.fits.gz", gzip.compress(make_fits_bytes((32, 32))))
    assert [h.get("EXTNAME", "PRIMARY") for h in storage.read_headers("z/a_cal.fits.gz")] == [
        "PRIMARY", "SCI", "ERR", "DQ"
    ]
    assert storage.cutout("z/a_cal.fits.gz", y=(16, 17), x=(16, 17)).data[0, 0] == 50.0
    assert storage.thumbnail("z/a_cal.fits.gz", size=16).startswith(b"\x89PNG")
