"""Storage on a shared host: symlinks never leave a local root, decompression and picture
sizes are bounded, and no secret reaches a message, repr or traceback (local disk, moto S3)."""

from __future__ import annotations

import gzip
import io
import os
import struct
import time
import traceback
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jwstnb.errors import (
    FitsError,
    InvalidStorageKey,
    JwstnbError,
    StorageError,
    StorageFileNotFound,
)
from jwstnb.storage import MAX_INFLATE_BYTES, Storage
from tests.fixtures_storage import make_fits_bytes

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-Value-9f8e7d"


# --- symlinks ---------------------------------------------------------------------------------


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Storage, Path]:
    """A storage folder holding symlinks out of it (a file and a folder) and one inside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.fits").write_bytes(make_fits_bytes((8, 8)))
    (outside / "victim.txt").write_text("keep me")
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (root / "data" / "good.fits").write_bytes(make_fits_bytes((8, 8)))
    os.symlink(outside / "secret.fits", root / "data" / "escape.fits")
    os.symlink(outside, root / "out")
    os.symlink(root / "data" / "good.fits", root / "data" / "alias.fits")  # stays inside
    return Storage(root.as_uri()), outside


def test_symlinks_out_of_the_root_are_refused_for_every_operation(
    linked: tuple[Storage, Path],
) -> None:
    storage, outside = linked
    reads: list[Callable[[str], Any]] = [
        storage.read_bytes, storage.read_header, storage.read_headers, storage.open,
        storage.open_fits, storage.exists, storage.size, storage.thumbnail,
        storage.image_data, storage.locate,
        lambda k: storage.cutout(k, "SCI", y=(0, 2), x=(0, 2)),
    ]
    for key in ("data/escape.fits", "out/secret.fits"):
        for operation in reads:
            with pytest.raises(InvalidStorageKey, match="outside the storage folder"):
                operation(key)
    with pytest.raises(InvalidStorageKey):
        storage.write_bytes("out/victim.txt", b"overwritten")
    with pytest.raises(InvalidStorageKey):
        storage.write_bytes("out/new/file.txt", b"planted")
    with pytest.raises(InvalidStorageKey):
        storage.delete("out/victim.txt")
    with pytest.raises(InvalidStorageKey):
        storage.list("out/")
    assert (outside / "victim.txt").read_text() == "keep me"
    assert not (outside / "new").exists()
    # listings hold real files only (links are never listed, so never scanned twice);
    # a link that stays inside the root reads like its target
    assert storage.list() == ["data/good.fits"]
    assert storage.read_header("data/alias.fits")["SIMPLE"] is True
    assert storage.read_bytes("data/alias.fits") == storage.read_bytes("data/good.fits")


def test_a_folder_swapped_for_a_symlink_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "mast").mkdir(parents=True)
    storage = Storage(root.as_uri())
    storage.write_bytes("mast/a.txt", b"1")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "mast" / "a.txt").unlink()
    (root / "mast").rmdir()
    os.symlink(outside, root / "mast")
    with pytest.raises(InvalidStorageKey):
        storage.write_bytes("mast/a.txt", b"2")
    assert list(outside.iterdir()) == []


# --- bounded decompression ------------------------------------------------------------------


def _gzip_bomb(naxis: tuple[int, int], *, sci_after: bool = False) -> bytes:
    """A gzip FITS whose data inflates to NAXIS1 x NAXIS2 float32 zeros, as concatenated
    gzip members (the zeros compressed once): 1 GiB costs about 4.5 MiB on disk."""
    from astropy.io import fits

    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"], header["NAXIS2"] = naxis
    header["EXTEND"] = True
    total = naxis[0] * naxis[1] * 4
    chunk = 16 * 2**20
    zero = gzip.compress(b"\0" * chunk, compresslevel=1)
    members = [gzip.compress(header.tostring().encode()), zero * (total // chunk)]
    rest = total % chunk
    pad = (-total) % 2880
    members.append(gzip.compress(b"\0" * (rest + pad)))
    if sci_after:
        sci = fits.ImageHDU(_small_plane(), name="SCI")
        members.append(gzip.compress(sci.header.tostring().encode() + sci.data.tobytes()))
    return b"".join(members)


def _small_plane() -> Any:
    import numpy as np

    return np.ones((8, 8), dtype=">f4")


def _timed(call: Callable[[], Any]) -> tuple[BaseException | None, float, int]:
    """(exception raised, seconds, peak bytes allocated) of one call."""
    tracemalloc.start()
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        call()
    except BaseException as exc:
        error = exc
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, seconds, peak


@pytest.fixture(scope="module")
def gib_bomb() -> bytes:
    return _gzip_bomb((16384, 16384))


def test_a_gzip_that_inflates_to_1_gib_is_refused_fast(storage: Storage, gib_bomb: bytes) -> None:
    assert len(gib_bomb) < 5 * 2**20
    storage.write_bytes("bomb/big_i2d.fits.gz", gib_bomb)
    assert storage.max_inflate_bytes == MAX_INFLATE_BYTES
    calls: list[Callable[[], Any]] = [
        lambda: storage.read_headers("bomb/big_i2d.fits.gz"),
        lambda: storage.thumbnail("bomb/big_i2d.fits.gz"),
        lambda: storage.image_data("bomb/big_i2d.fits.gz"),
        lambda: storage.open_fits("bomb/big_i2d.fits.gz"),
        lambda: storage.cutout("bomb/big_i2d.fits.gz", 0, y=(0, 10), x=(0, 10)),
    ]
    for call in calls:
        error, seconds, peak = _timed(call)
        assert isinstance(error, FitsError), error
        assert f"limit of {MAX_INFLATE_BYTES} bytes" in str(error)
        assert seconds < 1.0, seconds
        assert peak < 100 * 2**20, peak


def test_inflation_past_a_per_storage_limit_is_refused_even_mid_file(tmp_path: Path) -> None:
    """The bomb sits in the primary data with a SCI extension after it: reaching the SCI
    header means inflating the bomb; astropy hides that error, jwstnb still refuses."""
    storage = Storage(tmp_path.as_uri(), max_inflate_bytes=4 * 2**20)
    storage.write_bytes("b/mid.fits.gz", _gzip_bomb((2048, 2048), sci_after=True))
    for call in (
        lambda: storage.read_headers("b/mid.fits.gz"),
        lambda: storage.thumbnail("b/mid.fits.gz"),
        lambda: storage.read_header("b/mid.fits.gz", "SCI"),
    ):
        with pytest.raises(FitsError, match=f"limit of {4 * 2**20} bytes"):
            call()
    # the same file is fine under a higher limit
    roomy = Storage(tmp_path.as_uri(), max_inflate_bytes=64 * 2**20)
    names = [h.get("EXTNAME", "PRIMARY") for h in roomy.read_headers("b/mid.fits.gz")]
    assert names == ["PRIMARY", "SCI"]
    # bzip2 goes through the same bound
    import bz2

    raw = gzip.decompress(_gzip_bomb((2048, 2048)))
    storage.write_bytes("b/big.fits.bz2", bz2.compress(raw))
    with pytest.raises(FitsError, match="would inflate past the limit"):
        storage.read_headers("b/big.fits.bz2")


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    at = data.index(b"IHDR")
    data[at + 4 : at + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[at : at + 17])) & 0xFFFFFFFF
    data[at + 17 : at + 21] = struct.pack(">I", crc)
    return bytes(data)


def test_a_png_claiming_30000_by_30000_is_refused_fast(storage: Storage) -> None:
    storage.write_bytes("pics/bomb.png", _png_claiming(30000, 30000))
    for call in (
        lambda: storage.thumbnail("pics/bomb.png"),
        lambda: storage.open_image("pics/bomb.png"),
        lambda: storage.picture_info("pics/bomb.png"),
        lambda: storage.image_data("pics/bomb.png"),
    ):
        error, seconds, peak = _timed(call)
        assert isinstance(error, FitsError), error
        assert f"limit of {storage.max_image_pixels} pixels" in str(error)
        assert seconds < 1.0 and peak < 100 * 2**20


def test_pictures_above_a_lower_pixel_limit_are_refused(tmp_path: Path) -> None:
    """Below Pillow's own limits, jwstnb's limit still holds (no warning-only path)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 100), (10, 20, 30)).save(out, format="PNG")
    strict = Storage(tmp_path.as_uri(), max_image_pixels=10_000)
    strict.write_bytes("p/a.png", out.getvalue())
    with pytest.raises(FitsError, match="limit of 10000 pixels"):
        strict.thumbnail("p/a.png")
    relaxed = Storage(tmp_path.as_uri(), thumbnail_cache=False)
    assert relaxed.picture_info("p/a.png") == (200, 100, "RGB")
    assert Image.open(io.BytesIO(relaxed.thumbnail("p/a.png", size=50))).size == (50, 25)


# --- secrets ----------------------------------------------------------------------------------


def _no_secret(error: BaseException, *secrets: str) -> None:
    text = "".join(traceback.format_exception(error)) + repr(error) + str(error)
    for secret in secrets:
        assert secret not in text, text


def test_credentials_in_an_s3_url_never_reach_a_message(
    s3_endpoint: str, s3_bucket: str
) -> None:
    storage = Storage(f"s3://AKIDEXAMPLE:{SECRET}@{s3_bucket}/p", endpoint_url=s3_endpoint)
    assert SECRET not in storage.url and SECRET not in repr(storage)
    assert "AKIDEXAMPLE" not in storage.url
    storage.write_bytes("a.fits", make_fits_bytes((8, 8)))  # the credentials work
    assert storage.read_header("a.fits", "SCI")["NAXIS1"] == 8
    for call in (
        lambda: storage.read_header("missing.fits"),
        lambda: storage.thumbnail("missing.fits"),
        lambda: storage.open("missing.fits"),
        lambda: storage.size("missing.fits"),
    ):
        with pytest.raises(StorageFileNotFound) as info:
            call()
        _no_secret(info.value, SECRET)
    wrong = Storage(
        f"s3://AKIDEXAMPLE:{SECRET}@no-such-bucket-{s3_bucket}", endpoint_url=s3_endpoint
    )
    with pytest.raises(JwstnbError) as info2:
        wrong.read_header("x.fits")
    _no_secret(info2.value, SECRET)


def test_back_end_failures_are_storage_errors_without_secrets() -> None:
    """A dead endpoint: botocore/aiohttp errors come back as StorageError, secret removed."""
    from tests.servers import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    storage = Storage(
        f"s3://AKIDEXAMPLE:{SECRET}@bucket/prefix",
        endpoint_url=endpoint,
        config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 1},
        token=f"tok-{SECRET}",
    )
    assert SECRET not in repr(storage)
    for call in (
        lambda: storage.read_header("a.fits"),
        lambda: storage.list("mast/"),
        lambda: storage.sizes(),
        lambda: storage.thumbnail("a.fits"),
        lambda: storage.read_bytes("a.fits"),
    ):
        with pytest.raises(StorageError) as info:
            call()
        assert "check the URL, credentials and network" in str(info.value)
        _no_secret(info.value, SECRET)


def test_secret_query_parameters_stay_out_of_url_and_repr(tmp_path: Path) -> None:
    storage = Storage(
        {"": tmp_path.as_uri(), "sas/": f"memory://box?sv=2024&sig={SECRET}"},
        options={"sas/": {"account_key": f"ak-{SECRET}"}},
    )
    assert SECRET not in repr(storage)
    assert SECRET not in str(storage.mounts)
    assert "sig=***" in storage.mounts["sas/"]
    assert "account_key" in repr(storage)
