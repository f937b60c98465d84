"""%jwst line parsing (pure) and registration on a real IPython shell."""

from __future__ import annotations

import pytest

from jwstnb.magics import USAGE, Command, UsageError, parse_line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", Command("help")),
        ("help", Command("help")),
        ("search", Command("search", "")),
        ("search ngc 3132", Command("search", "ngc 3132")),
        ('search "ngc 3132"', Command("search", "ngc 3132")),
        ("SEARCH f090w", Command("search", "f090w")),
        ("lineage jw02733-o001_t001_nircam", Command("lineage", "jw02733-o001_t001_nircam")),
        ("status", Command("status")),
    ],
)
def test_parse_line(line: str, expected: Command) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize("line", ["lineage", "lineage a b", "delete everything"])
def test_bad_lines_raise_usage(line: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_line(line)
    assert USAGE in str(info.value)


def test_unbalanced_quote_is_still_text() -> None:
    assert parse_line('search "ngc 3132') == Command("search", '"ngc 3132')


def test_load_ext_registers_jwst_magic(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    ip.run_line_magic("load_ext", "jwstnb")
    assert "jwst" in ip.magics_manager.magics["line"]
    ip.run_line_magic("jwst", "nonsense")
    assert "unknown %jwst command 'nonsense'" in capsys.readouterr().out
