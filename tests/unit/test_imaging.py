"""jwstnb.imaging: the one normaliser, PNG rendering, celestial WCS and the read plan (pure)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jwstnb import imaging


def _ramp() -> np.ndarray:
    data = np.arange(100 * 80, dtype=np.float32).reshape(100, 80)
    data[3, 4] = np.nan
    data[5, 6] = np.inf
    data[7, 8] = -np.inf
    return data


def test_importing_imaging_stays_light() -> None:
    code = (
        "import sys, jwstnb.imaging; "
        "print(sorted(m for m in ('numpy', 'astropy', 'PIL', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("stretch", imaging.STRETCHES)
def test_every_stretch_maps_into_0_1_and_non_finite_to_0(stretch: str) -> None:
    out = imaging.normalise(_ramp(), stretch)
    assert out.shape == (100, 80)
    assert out.dtype == np.float64
    assert np.all(np.isfinite(out))
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out[3, 4] == 0.0 and out[5, 6] == 0.0 and out[7, 8] == 0.0
    # the ramp stays ordered (every stretch is monotonic)
    finite = np.isfinite(_ramp())
    values = out[finite]
    assert np.all(np.diff(values) >= -1e-12)
    assert values[-1] > values[0]


def test_linear_is_min_to_max_of_the_finite_pixels() -> None:
    data = np.array([[np.nan, 10.0, 20.0], [30.0, 50.0, np.inf]])
    out = imaging.normalise(data, "linear")
    assert out.tolist() == [[0.0, 0.0, 0.25], [0.5, 1.0, 0.0]]


def test_asinh_and_log_clip_outside_the_central_interval() -> None:
    data = np.linspace(0.0, 1.0, 10_001)
    data[-1] = 1e6  # one hot pixel does not flatten the rest
    for stretch in ("asinh", "log"):
        out = imaging.normalise(data, stretch)
        assert out[-1] == 1.0
        assert 0.2 < out[5000] < 1.0, stretch


def test_flat_empty_and_all_nan_images() -> None:
    assert imaging.normalise(np.full((4, 4), 7.0), "zscale").tolist() == [[0.5] * 4] * 4
    assert imaging.normalise(np.zeros((3, 3)), "log").max() == 0.0
    assert imaging.normalise(np.full((2, 2), np.nan), "asinh").tolist() == [[0.0, 0.0]] * 2


def test_integer_and_big_endian_data_normalise_like_floats() -> None:
    data = (np.arange(64).reshape(8, 8) * 3).astype(">i2")
    assert np.array_equal(
        imaging.normalise(data, "zscale"), imaging.normalise(data.astype(np.float64), "zscale")
    )


def test_unknown_stretch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown stretch 'sqrt'.*zscale, asinh, linear, log"):
        imaging.normalise(np.ones((2, 2)), "sqrt")


def test_first_plane() -> None:
    cube = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    assert np.array_equal(imaging.first_plane(cube), cube[0, 0])
    with pytest.raises(ValueError, match="not an image: 1 axis"):
        imaging.first_plane(np.ones(5))


def test_to_png_flips_north_up_and_resizes() -> None:
    data = np.zeros((4, 6))
    data[0, :] = 1.0  # FITS row 0: the bottom of the picture
    image = Image.open(io.BytesIO(imaging.to_png(data)))
    assert image.mode == "L" and image.size == (6, 4)
    pixels = np.asarray(image)
    assert pixels[-1].tolist() == [255] * 6 and pixels[0].tolist() == [0] * 6
    small = Image.open(io.BytesIO(imaging.to_png(np.ones((100, 50)) * 0.5, size=20)))
    assert small.size == (10, 20)
    assert np.asarray(small).min() == np.asarray(small).max() == 128
    coloured = Image.open(io.BytesIO(imaging.to_png(data, cmap="viridis")))
    assert coloured.mode == "RGB"
    with pytest.raises(ValueError, match="unknown colour map"):
        imaging.to_png(data, cmap="no-such-map")


def test_to_uint8_rounds_and_clips() -> None:
    out = imaging.to_uint8(np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan]))
    assert out.tolist() == [0, 0, 128, 255, 255, 0]


def test_stride_for() -> None:
    assert imaging.stride_for((1000, 2000), 256) == 8
    assert imaging.stride_for((3, 100, 100), 256) == 1
    with pytest.raises(ValueError, match="positive"):
        imaging.stride_for((10, 10), 0)


def test_celestial_wcs() -> None:
    from astropy.io import fits

    header = fits.Header()
    assert imaging.celestial_wcs(header) is None
    for name, value in {
        "NAXIS": 2, "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 1.0, "CRPIX2": 1.0,
        "CRVAL1": 10.0, "CRVAL2": 41.0, "CDELT1": -1e-4, "CDELT2": 1e-4,
    }.items():
        header[name] = value
    wcs = imaging.celestial_wcs(header)
    assert wcs is not None and wcs.naxis == 2
    ra, dec = wcs.all_pix2world(0, 0, 0)
    assert (float(ra), float(dec)) == pytest.approx((10.0, 41.0))
    header["CTYPE1"], header["CTYPE2"] = "WAVE", "FREQ"
    assert imaging.celestial_wcs(header) is None
    from jwstnb.storage import celestial_wcs

    assert celestial_wcs is imaging.celestial_wcs


def test_plan_reads_the_whole_plane_when_sampled_rows_lie_close() -> None:
    # 1024 x 1024 float32, every 8th row: 4 KiB rows 28 KiB apart; one request costs more
    plan = imaging.plan_plane_read(1024, 1024, 4, 8)
    assert plan.requests == 1
    assert plan.ranges[0][0] == 0
    assert 0.99 * 4 * 2**20 <= plan.bytes <= 4 * 2**20


def test_plan_reads_sampled_rows_of_a_big_mosaic() -> None:
    # 14000 x 14000 float32 (784 MB) at 256 px: 55-row steps, rows 3 MB apart
    step = imaging.stride_for((14000, 14000), 256)
    plan = imaging.plan_plane_read(14000, 14000, 4, step)
    assert plan.kind == "rows"
    assert plan.requests == len(range(0, 14000, step))
    assert plan.bytes == plan.requests * 14000 * 4
    assert all(b - a == 14000 * 4 for a, b in plan.ranges)
    # where a request costs 10 s, rows are fetched many at a time, in big pieces
    whole = imaging.plan_plane_read(14000, 14000, 4, step, request_seconds=10.0)
    plane = 14000 * 14000 * 4
    assert whole.bytes > 2 * plan.bytes
    assert whole.requests <= plane // imaging.CHUNK_BYTES + 2

    # a store that serves one request at a time: fewer, bigger pieces (64 MB plane: one)
    parallel = imaging.plan_plane_read(4096, 4096, 4, 16, request_seconds=1.0)
    serial = imaging.plan_plane_read(4096, 4096, 4, 16, request_seconds=1.0, concurrency=1)
    assert parallel.requests == 8 and serial.requests == 1
    assert all(b - a <= imaging.MAX_CHUNK_BYTES for a, b in whole.ranges)
    assert all(a % (14000 * 4) == 0 for a, _ in whole.ranges)  # whole rows per request
    assert whole.seconds < 10.0 * plan.requests


def test_plan_merges_rows_whose_gap_costs_less_than_a_request() -> None:
    # rows of 4000 bytes every 10th row: gaps of 36 kB; a request's latency is worth 40 kB
    plan = imaging.plan_plane_read(
        100, 1000, 4, 10, request_seconds=0.001, bytes_per_second=40_000 / 0.001,
        chunk_bytes=10**9,
    )
    assert plan.requests == 1 and plan.ranges == ((0, 91 * 4000),)
    # ... and worth 30 kB: no merging, ten row requests (all in one concurrent wave)
    apart = imaging.plan_plane_read(
        100, 1000, 4, 10, request_seconds=0.001, bytes_per_second=30_000 / 0.001,
        concurrency=16,
    )
    assert apart.kind == "rows" and apart.requests == 10
    cheap = imaging.plan_plane_read(100, 1000, 4, 10, request_seconds=1e-9)
    assert cheap.kind == "rows" and cheap.requests == 10 and cheap.bytes == 40_000
