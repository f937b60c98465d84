"""The archive service's pure parts: the error map both ends share, argument JSON, URL
signatures and token parsing (no server: the service itself is tested in
tests/integration/test_service.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from jwstnb import errors
from jwstnb.errors import invalid
from jwstnb.service.protocol import ERROR_STATUS, error_body, error_from_body, jsonable
from jwstnb.service.signing import Signer
from jwstnb.service.tokens import _split


@pytest.mark.parametrize("cls", [cls for cls, _ in ERROR_STATUS])
def test_every_error_comes_back_as_its_own_class(cls: type[BaseException]) -> None:
    status, body = error_body(cls("what happened"))
    back = error_from_body(status, body)
    assert type(back) is cls and str(back) == "what happened"
    assert status == dict(ERROR_STATUS)[cls]


def test_validation_errors_keep_their_fields() -> None:
    status, body = error_body(invalid("page_size", "page_size is at least 1", -3))
    assert status == 422
    back = error_from_body(status, body)
    assert isinstance(back, ValidationError)
    assert back.errors()[0]["loc"] == ("page_size",)
    assert "at least 1" in str(back)


def test_unknown_failures_say_nothing_of_the_inside() -> None:
    status, body = error_body(RuntimeError("mongodb://u:secret@db/ failed"))
    assert status == 500 and "secret" not in str(body)
    assert isinstance(error_from_body(502, None), errors.ConnectionFailed)
    assert isinstance(error_from_body(404, "not json"), errors.NotFound)


def test_search_arguments_travel_as_json() -> None:
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.time import Time

    assert jsonable(SkyCoord(10.5, -20.25, unit="deg")) == pytest.approx([10.5, -20.25])
    assert jsonable(3 * u.arcmin) == pytest.approx(0.05)
    assert jsonable(Time("2022-07-01T00:00:00", scale="utc")).startswith("2022-07-01T00:00:00")
    assert jsonable(datetime(2022, 7, 1, tzinfo=UTC)) == "2022-07-01T00:00:00+00:00"
    assert jsonable({"tags": ("a", "b"), "n": float("nan")}) == {"tags": ["a", "b"], "n": None}


def test_signatures_bind_key_user_and_expiry() -> None:
    signer = Signer(b"k" * 32, ttl=60)
    url, expires = signer.sign("https://svc/v1/files", "alice/a b.fits", "user:alice")
    assert "alice/a%20b.fits" in url and expires > time.time()
    sig = url.rsplit("s=", 1)[1]
    assert signer.check("alice/a b.fits", "user:alice", str(expires), sig)
    assert not signer.check("alice/other.fits", "user:alice", str(expires), sig)
    assert not signer.check("alice/a b.fits", "user:bob", str(expires), sig)
    assert not signer.check("alice/a b.fits", "user:alice", str(expires + 1), sig)
    assert not signer.check("alice/a b.fits", "user:alice", "soon", sig)
    assert not Signer(b"x" * 32).check("alice/a b.fits", "user:alice", str(expires), sig)
    past = str(int(time.time()) - 1)
    assert not signer.check("k", "user:alice", past, signer._mac("k", "user:alice", int(past)))
    assert "k" * 32 not in repr(signer)
    with pytest.raises(ValueError):
        Signer(b"short")


def test_token_shape() -> None:
    assert _split("jwst_abc123_secret_with_underscores") == ("abc123", "secret_with_underscores")
    bad_tokens = (
        "", "abc", "jwst_", "jwst__x", "jwst_a-b_x", "Bearer jwst_a_b", "jwst_a_" + "x" * 300,
    )
    for bad in bad_tokens:
        assert _split(bad) is None
