"""`import jwstnb` stays quick: the heavy libraries load only when used."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, jwstnb; "
        "heavy = [m for m in ('astropy', 'ipywidgets', 'matplotlib', 'pymongo', 'pydantic', "
        "'fsspec', 's3fs', 'numpy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve_lazily() -> None:
    code = (
        "import sys, jwstnb; m = jwstnb.JwstDataModel; "
        "assert 'astropy' not in sys.modules and 'ipywidgets' not in sys.modules; "
        "print(m.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "JwstDataModel"


def test_public_names_lazy_table_and_type_checking_imports_agree() -> None:
    """Every name in __all__ is lazily importable, and the TYPE_CHECKING block imports each
    lazy name from the module the table says (so type checkers see what users get)."""
    import ast
    import importlib
    from pathlib import Path

    import jwstnb

    tree = ast.parse(Path(jwstnb.__file__).read_text(encoding="utf-8"))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    source = stmt.module if stmt.module != "jwstnb" else f"jwstnb.{alias.name}"
                    typed[alias.name] = str(source)
    lazy = dict(jwstnb._LAZY)
    assert {name: typed[name] for name in lazy} == lazy
    submodules = {name for name in typed if typed[name] == f"jwstnb.{name}"}
    assert submodules <= jwstnb._SUBMODULES
    assert set(jwstnb.__all__) - {"__version__"} == set(lazy) | submodules
    for name in jwstnb.__all__:
        assert getattr(jwstnb, name) is not None
    for module in jwstnb._SUBMODULES - {"processing"}:
        importlib.import_module(f"jwstnb.{module}")
