"""Storage keys: hostile keys are refused before any I/O, legitimate ones pass unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from jwstnb.errors import InvalidStorageKey
from jwstnb.keys import MAX_KEY_LENGTH, is_valid_key, join_key, validate_key

HOSTILE_KEYS: list[Any] = [
    # plain traversal
    "..",
    "../etc/passwd",
    "../../../../etc/shadow",
    "mast/../../secret.fits",
    "mast/obs/../../../root/.ssh/id_rsa",
    "mast/..",
    "./mast/file.fits",
    "mast/./file.fits",
    "mast/.",
    " ../x.fits",
    "mast/.. /x.fits",
    # percent-encoded traversal
    "%2e%2e/etc/passwd",
    "%2E%2E/etc/passwd",
    "..%2fetc%2fpasswd",
    "mast/%2e%2e/%2e%2e/secret",
    "%2e/mast/file.fits",
    "mast%2f..%2f..%2fsecret",
    ".%2e/secret",
    # double and triple encoded
    "%252e%252e/etc/passwd",
    "%252E%252E%252Fsecret",
    "mast/%252e%252e/%252e%252e/secret",
    "%25252e%25252e/secret",
    "..%252fsecret",
    # absolute paths
    "/etc/passwd",
    "/",
    "//server/share/file.fits",
    "%2fetc%2fpasswd",
    "%252fetc%252fpasswd",
    "~/secret.fits",
    "~root/.bashrc",
    # schemes
    "file:///etc/passwd",
    "s3://other-bucket/key.fits",
    "http://evil.example/x.fits",
    "https://evil.example/x.fits",
    "memory://x",
    "gs://bucket/x",
    "C:/Windows/win.ini",
    "c:relative.fits",
    "data:text/plain,hello",
    "file%3a%2f%2f%2fetc%2fpasswd",
    # backslashes
    "mast\\file.fits",
    "..\\..\\windows\\system32",
    "\\\\server\\share\\x.fits",
    "C:\\Windows\\win.ini",
    "mast%5c..%5csecret",
    "mast%255c..%255csecret",
    # NUL and control characters
    "mast/file.fits\x00.png",
    "\x00",
    "mast/file%00.fits",
    "mast/file%2500.fits",
    "mast/\nfile.fits",
    "mast/file.fits\r",
    "mast/\tfile.fits",
    "mast/\x1bfile.fits",
    "mast/\x7ffile.fits",
    "mast/%0afile.fits",
    "mast/\u202efile.fits",
    "mast/\u2028file.fits",
    "mast/\ufefffile.fits",
    # empty segments, empty keys, blank
    "",
    " ",
    "mast//file.fits",
    "mast/",
    "%20",
    # over-long
    "a" * (MAX_KEY_LENGTH + 1),
    "mast/" + "x" * MAX_KEY_LENGTH,
    "a/" * 600 + "f.fits",
    # invalid UTF-8 once decoded (overlong encodings of '.')
    "%c0%ae%c0%ae/secret",
    "%e0%80%ae%e0%80%ae/secret",
    # characters that NFKC-normalise into '.', '/', '\\' or '%' (compatibility forms)
    "\u2024\u2024/secret",  # ONE DOT LEADER x2
    "\u2025/secret",  # TWO DOT LEADER
    "mast/\u2024\u2024/x.fits",
    "\ufe52\ufe52/secret",  # SMALL FULL STOP
    "\uff0e\uff0e/secret",  # FULLWIDTH FULL STOP
    "mast\uff0fx.fits",  # FULLWIDTH SOLIDUS
    "mast\uff3cx.fits",  # FULLWIDTH REVERSE SOLIDUS
    "\uff0fetc/passwd",
    "\uff05\uff12\uff45\uff05\uff12\uff45/secret",  # FULLWIDTH '%2e%2e'
    "%E2%80%A4%E2%80%A4/secret",  # percent-encoded ONE DOT LEADERs
    "\uff53\uff13\uff1a//bucket/k",  # FULLWIDTH 's3:'
    # not a string at all
    None,
    b"mast/file.fits",
    42,
    ["mast", "file.fits"],
]

LEGITIMATE_KEYS = [
    "file.fits",
    "mast/jw02733-o001_t001_nircam_clear-f090w/jw02733-o001_t001_nircam_clear-f090w_i2d.fits",
    "mast/jw02733-o001_t001_nircam_clear-f090w/jw02733001001_02101_00001_nrca1_cal.fits",
    "mast/jw01366-o004_t002_nirspec_f290lp-g395h/jw01366004001_04101_00001-seg001_nrs1_x1d.fits",
    "a.b.c.d",
    ".hidden",
    "folder/.hidden/file",
    "...",
    "a/.../b",
    "..foo/bar",
    "foo../bar",
    "data-2024_v1.2/file-name.tar.gz",
    "x-y_z/1.2.3/file.ecsv",
    "/".join(f"level{i}" for i in range(40)) + "/deep.fits",
    "a" * MAX_KEY_LENGTH,
    "my data/file one.fits",
    "données/ngc-3132.fits",
    "100%/file.fits",
    "a%2fb.fits",
    "uploads/alice/2024-01-01T00-00-00Z.png",
    "mast/\ufb01le.fits",  # LATIN SMALL LIGATURE FI: NFKC 'fi', harmless
    "mast/\u00bd-dose.fits",  # VULGAR FRACTION ONE HALF: NFKC '1\u20442', no '/'
    "mast/a\u2024b.fits",  # one dot leader inside a name: 'a.b', not a '..' segment
]


def test_there_are_at_least_fifty_hostile_keys() -> None:
    assert len(HOSTILE_KEYS) >= 50
    assert len(set(map(repr, HOSTILE_KEYS))) == len(HOSTILE_KEYS)


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=lambda k: repr(k)[:40])
def test_hostile_key_is_refused(key: Any) -> None:
    with pytest.raises(InvalidStorageKey) as info:
        validate_key(key)
    assert not is_valid_key(key)
    message = str(info.value)
    assert "storage key" in message
    assert len(message) < 400  # an over-long key is shortened in the message


@pytest.mark.parametrize("key", LEGITIMATE_KEYS, ids=lambda k: k[:40])
def test_legitimate_key_is_accepted_unchanged(key: str) -> None:
    assert validate_key(key) == key
    assert is_valid_key(key)


def test_reasons_are_specific() -> None:
    cases = {
        "../x": "'..' segment",
        "%252e%252e/x": "percent-decoded",
        "/etc/passwd": "starts with '/'",
        "s3://b/k": "URL scheme",
        "a\\b": "backslash",
        "a\x00b": "NUL",
        "": "empty",
        "a" * 2000: "at most 1024",
        "\u2024\u2024/x": "'..' segment once NFKC-normalised",
        "a\uff0fb": "NFKC-normalises to '/'",
        "%E2%80%A5/x": "percent-decoded",
    }
    for key, reason in cases.items():
        with pytest.raises(InvalidStorageKey, match=reason):
            validate_key(key)


def test_join_key_validates_the_joined_key() -> None:
    assert join_key("mast", "jw02733-o001_t001_nircam", "f.fits") == (
        "mast/jw02733-o001_t001_nircam/f.fits"
    )
    assert join_key("mast/", "/obs/", "f.fits") == "mast/obs/f.fits"
    with pytest.raises(InvalidStorageKey):
        join_key("mast", "..", "f.fits")
    with pytest.raises(InvalidStorageKey):
        join_key("mast", "%2e%2e", "f.fits")


class _Tripwire:
    """An fsspec stand-in that fails the test if any I/O method is reached."""

    protocol = ("memory",)
    calls: list[str]

    def __init__(self) -> None:
        self.calls = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            raise AssertionError(f"I/O reached: {name}{args}")

        return call


@pytest.mark.parametrize("key", HOSTILE_KEYS[:60:3], ids=lambda k: repr(k)[:40])
def test_storage_refuses_hostile_keys_before_any_io(key: Any) -> None:
    from jwstnb.storage import Storage

    storage = Storage("memory://tripwire")
    wire = _Tripwire()
    for mount in storage._mounts:  # every Storage method validates before touching them
        mount.fs = wire
    operations = [
        lambda: storage.exists(key),
        lambda: storage.size(key),
        lambda: storage.open(key),
        lambda: storage.read_bytes(key),
        lambda: storage.write_bytes(key, b"x"),
        lambda: storage.delete(key),
        lambda: storage.open_fits(key),
        lambda: storage.read_header(key),
        lambda: storage.read_headers(key),
        lambda: storage.cutout(key, y=(0, 1), x=(0, 1)),
        lambda: storage.thumbnail(key),
        lambda: storage.image_data(key),
    ]
    for operation in operations:
        with pytest.raises(InvalidStorageKey):
            operation()
    assert wire.calls == []
