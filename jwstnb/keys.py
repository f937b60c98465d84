"""Storage-key rules (pure, no I/O).

A storage key names a file relative to a storage base URL: ``mast/jw02733-o001_t001_nircam/
jw02733-o001_t001_nircam_clear-f090w_i2d.fits``. Keys are checked before any I/O so that a
hostile key can never reach outside the base: relative, ``/``-separated, at most 1024
characters, no ``.`` or ``..`` segment, no leading ``/``, no ``\\``, no scheme, no NUL or
control characters, and nothing that percent-decodes or NFKC-normalises into any of those.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from jwstnb.errors import InvalidStorageKey

__all__ = [
    "KEY_PATTERN",
    "MAX_KEY_LENGTH",
    "RESERVED_PREFIX",
    "is_valid_key",
    "join_key",
    "validate_key",
]

MAX_KEY_LENGTH = 1024
#: Keys under this prefix are jwstnb's own files in a storage (cached thumbnails): never
#: listed, scanned or mounted.
RESERVED_PREFIX = ".jwstnb/"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_MAX_DECODE_ROUNDS = 8


def _problem(text: str) -> str | None:
    """Return why ``text`` (one decoding of a key) is not a safe key, or None."""
    if text == "":
        return "it is empty"
    for ch in text:
        if ch == "\x00":
            return "it contains a NUL character"
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"it contains the control character U+{ord(ch):04X}"
    if "\\" in text:
        return "it contains a backslash (keys use '/')"
    if text.startswith("/"):
        return "it starts with '/' (keys are relative to the storage base)"
    if text.startswith("~"):
        return "it starts with '~' (keys are relative to the storage base)"
    if _SCHEME.match(text):
        return "it has a URL scheme (keys are relative to the storage base)"
    for segment in text.split("/"):
        if segment in (".", ".."):
            return f"it contains a {segment!r} segment"
        if segment == "":
            return "it contains an empty segment ('//' or a trailing '/')"
        if segment.strip() != segment and segment.strip() in (".", "..", ""):
            return "it contains a segment that is only dots and spaces"
    return None


def validate_key(key: object) -> str:
    """Return ``key`` unchanged if it is a valid storage key, else raise InvalidStorageKey.

    Every percent-decoding and NFKC normalisation of the key is checked too, so
    ``%2e%2e/``, ``%252e%252e/`` and ``\u2024\u2024/`` are refused like ``../``.
    """
    if not isinstance(key, str):
        raise InvalidStorageKey(f"storage key must be a string, not {type(key).__name__}")
    shown = key if len(key) <= 80 else key[:77] + "..."
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidStorageKey(
            f"invalid storage key {shown!r}: it is {len(key)} characters long "
            f"(at most {MAX_KEY_LENGTH})"
        )
    # Every form a file system, URL parser or Unicode-normalising layer might turn the key
    # into is checked: each percent-decoding, and the NFKC form of each (U+2024 ONE DOT
    # LEADER becomes '.', U+FF0F FULLWIDTH SOLIDUS '/', U+FF05 FULLWIDTH PERCENT '%').
    forms: list[tuple[str, str]] = [(key, "")]
    seen: set[str] = set()
    rounds = 0
    while forms:
        text, how = forms.pop(0)
        if text in seen:
            continue
        seen.add(text)
        rounds += 1
        if rounds > 4 * _MAX_DECODE_ROUNDS:
            raise InvalidStorageKey(
                f"invalid storage key {shown!r}: too many layers of percent-encoding"
            )
        reason = _problem(text)
        if reason is not None:
            raise InvalidStorageKey(f"invalid storage key {shown!r}: {reason}{how}")
        normal = unicodedata.normalize("NFKC", text)
        if normal != text:
            for sep in ("/", "\\"):
                if normal.count(sep) != text.count(sep):
                    raise InvalidStorageKey(
                        f"invalid storage key {shown!r}: it contains a character that "
                        f"NFKC-normalises to {sep!r}"
                    )
            forms.append((normal, how or " once NFKC-normalised"))
        if "%" in text:
            try:
                decoded = unquote(text, errors="strict")
            except UnicodeDecodeError:
                raise InvalidStorageKey(
                    f"invalid storage key {shown!r}: it percent-decodes to bytes that are not "
                    "UTF-8"
                ) from None
            if decoded != text:
                forms.append((decoded, how or " once percent-decoded"))
    return key


def is_valid_key(key: object) -> bool:
    """True if ``key`` passes :func:`validate_key`."""
    try:
        validate_key(key)
    except InvalidStorageKey:
        return False
    return True


def join_key(*parts: str) -> str:
    """Join key parts with '/' and validate the result: ``join_key("mast", obs_id, name)``."""
    return validate_key("/".join(p.strip("/") for p in parts if p))


# Characters a key never holds: controls and format characters (the ones listed), the
# backslash, and the look-alikes that NFKC-normalise into '.', '..' or '/' or '\\'.
_FORBIDDEN_CHARACTERS = (
    r"\x00-\x1f\x7f-\x9f\\"  # escapes both Python's re and the server's PCRE read alike
    "\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff"
    "\u2024\u2025\u2026\ufe52\ufe68\uff0e\uff0f\uff3c"
)
#: The same rules as :func:`validate_key`, as one regular expression for the server's
#: ``$jsonSchema`` (so a write that bypasses jwstnb is checked too). It is a little stricter
#: than :func:`validate_key` about percent-encoding: any ``%`` escape of '.', '/', '\\',
#: '%' or a control character is refused outright.
KEY_PATTERN = (
    r"^(?![/~])"  # relative
    r"(?![A-Za-z][A-Za-z0-9+.\-]*:)"  # no scheme
    r"(?!(?:.*/)?\s*\.{0,2}\s*(?:/|$))"  # no empty, '.', '..' (or blank) segment
    r"(?!.*%(?:2[eEfF5]|5[cC]|[01][0-9a-fA-F]|7[fF]))"  # no encoded '.', '/', '\\', '%', control
    rf"[^{_FORBIDDEN_CHARACTERS}]{{1,{MAX_KEY_LENGTH}}}$"
)
