"""Storage fixtures: a local folder and a moto S3 bucket behind the same Storage API, and
small FITS files (good and deliberately broken) for loader and scan tests."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jwstnb.storage import Storage


def make_fits_bytes(
    shape: tuple[int, ...] = (64, 64),
    *,
    seed: int = 0,
    targname: str = "NGC-3132",
    extra_primary: dict[str, Any] | None = None,
) -> bytes:
    """A small JWST-like FITS file: PRIMARY (no data), SCI (float32, celestial WCS), ERR, DQ."""
    import numpy as np
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    primary = fits.PrimaryHDU()
    header = primary.header
    header["TELESCOP"] = "JWST"
    header["INSTRUME"] = "NIRCAM"
    header["DETECTOR"] = "NRCA1"
    header["FILTER"] = "F090W"
    header["TARGNAME"] = targname
    header["EFFEXPTM"] = 1288.4
    header["DATE-OBS"] = "2022-06-03"
    header["TIME-OBS"] = "11:54:53.000"
    for name, value in (extra_primary or {}).items():
        header[name] = value
    sci_data = rng.normal(1.0, 0.1, shape).astype("float32")
    ny, nx = shape[-2], shape[-1]
    sci_data[..., ny // 2, nx // 2] = 50.0  # a bright pixel to find in cutouts
    sci = fits.ImageHDU(sci_data, name="SCI")
    wcs = {
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": nx / 2 + 0.5,
        "CRPIX2": ny / 2 + 0.5, "CRVAL1": 151.7573, "CRVAL2": -40.4366,
        "CDELT1": -8.6e-6, "CDELT2": 8.6e-6, "CUNIT1": "deg", "CUNIT2": "deg",
    }
    for name, value in wcs.items():
        sci.header[name] = value
    sci.header["BUNIT"] = "MJy/sr"
    err = fits.ImageHDU(np.full(shape, 0.1, dtype="float32"), name="ERR")
    dq = fits.ImageHDU(np.zeros(shape, dtype="uint32"), name="DQ")
    out = io.BytesIO()
    fits.HDUList([primary, sci, err, dq]).writeto(out)
    return out.getvalue()


def truncated(data: bytes) -> bytes:
    """The file cut in the middle of its last HDU's data."""
    return data[: len(data) - 5000]


def header_corrupt(data: bytes) -> bytes:
    """The SCI extension's XTENSION card overwritten with garbage."""
    at = data.index(b"XTENSION")
    return data[:at] + b"GARBAGE! \x01\x02 not a FITS card".ljust(80) + data[at + 80 :]


def header_without_end(data: bytes) -> bytes:
    """The primary header's END card blanked, so it runs into the next header."""
    at = data.index(b"END" + b" " * 77)
    return data[:at] + b" " * 80 + data[at + 80 :]


NOT_FITS = b"This is a text file pretending to be FITS.\n" * 100


@pytest.fixture
def local_storage(tmp_path: Path) -> Storage:
    """A Storage on an empty local folder (file:// URL)."""
    root = tmp_path / "store"
    root.mkdir()
    return Storage(root.as_uri())


@pytest.fixture
def s3_storage(s3_endpoint: str, s3_bucket: str) -> Storage:
    """A Storage on a fresh bucket of the moto S3 server (under a prefix)."""
    return Storage(f"s3://{s3_bucket}/archive", endpoint_url=s3_endpoint)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """Each test that uses it runs on local files and on moto S3."""
    return request.getfixturevalue(f"{request.param}_storage")


@pytest.fixture
def fits_bytes() -> Callable[..., bytes]:
    """The :func:`make_fits_bytes` factory."""
    return make_fits_bytes
