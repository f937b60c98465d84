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
