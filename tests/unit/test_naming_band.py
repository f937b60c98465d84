"""Filter and grating bands (naming.band): single elements, the combinations file names and
MAST write, instrument-specific values, and what is not a band."""

from __future__ import annotations

import pytest

from jwstnb.naming import band


@pytest.mark.parametrize(("optics", "instrument", "expected"), [
    ("F090W", None, (0.804, 0.998)),
    ("CLEAR-F090W", "nircam", (0.804, 0.998)),  # CLEAR shapes nothing
    ("clear-f090w", None, (0.804, 0.998)),  # case-insensitive
    ("F090W", "niriss", (0.8, 1.0)),  # NIRISS's own F090W
    ("F444W-F405N", None, (4.032, 4.078)),  # the narrow filter inside the wide one
    ("F405N;F444W", None, (4.032, 4.078)),  # MAST's order and separator
    ("G395H/F290LP", "nirspec", (2.87, 5.27)),
    ("F070LP/G140M", None, (0.90, 1.27)),  # the pair's range, not the grating's
    ("PRISM/CLEAR", None, (0.60, 5.30)),
    ("GR150R-F150W", "niriss", (1.332, 1.662)),  # a grism passes the filter's band
    ("F770W", "miri", (6.664, 8.614)),
    ("P750L", None, (5.0, 14.0)),
    ("CH1-SHORT", "miri", (4.90, 5.74)),
    ("ch12-shortmediumlong", None, (4.90, 11.70)),
    ("GR700XD", "niriss", (0.6, 2.8)),
])
def test_bands(optics: str, instrument: str | None, expected: tuple[float, float]) -> None:
    assert band(optics, instrument) == pytest.approx(expected)


@pytest.mark.parametrize("optics", [None, "", "  ", "CLEAR", "NRM", "MASKRND", "F999W"])
def test_no_band(optics: str | None) -> None:
    assert band(optics) is None


def test_every_band_is_inside_jwst_range() -> None:
    from jwstnb.naming import _BANDS

    for table in _BANDS.values():
        for name, (low, high) in table.items():
            assert 0.59 <= low < high <= 28.5, name
