"""A Storage pickles by its public recipe: the constructor arguments it was made with, so a
Dask worker rebuilds it without any private field, open file or lock."""

from __future__ import annotations

import pickle
import pickletools
from pathlib import Path
from typing import Any

import pytest

from jwstnb.storage import Storage, StorageRecipe


def pickled_strings(data: bytes) -> list[str]:
    """Every string a pickle holds: module and attribute names, dict keys, values."""
    return [arg for _op, arg, _pos in pickletools.genops(data) if isinstance(arg, str)]


def assert_public(data: bytes) -> None:
    """No private name (``_x``, ``module._x``, ``a._b.c``) anywhere in a pickle."""
    names = [s for s in pickled_strings(data) if s.isidentifier() or "." in s]
    private = [s for s in names if any(p.startswith("_") for p in s.split(" ")[-1].split("."))]
    assert private == [], private


def test_the_check_finds_private_names() -> None:
    from jwstnb.storage._fits import _bounds

    with pytest.raises(AssertionError):
        assert_public(pickle.dumps({"state": {"_mounts": 1}}))
    with pytest.raises(AssertionError):
        assert_public(pickle.dumps(_bounds))


def round_trip(storage: Storage) -> Storage:
    data = pickle.dumps(storage)
    assert_public(data)
    return pickle.loads(data)  # type: ignore[no-any-return]


def test_a_local_storage_round_trips_with_an_equal_recipe(tmp_path: Path) -> None:
    storage = Storage(tmp_path.as_uri())
    storage.write_bytes("mast/a/file.fits", b"SIMPLE  = T")
    again = round_trip(storage)
    assert isinstance(again, Storage) and again is not storage
    assert again.recipe == storage.recipe
    assert repr(again) == repr(storage)
    assert again.read_bytes("mast/a/file.fits") == b"SIMPLE  = T"


def test_a_mount_mapping_round_trips_with_its_options_and_settings(tmp_path: Path) -> None:
    (tmp_path / "main").mkdir()
    (tmp_path / "team").mkdir()
    mounts = {"": (tmp_path / "main").as_uri(), "team": str(tmp_path / "team")}
    storage = Storage(
        mounts,
        options={"team/": {"auto_mkdir": True}},
        block_size=4096,
        cache_type="readahead",
        max_inflate_bytes=10**6,
        max_image_pixels=10**4,
        public_options={"default_block_size": 2**16},
        thumbnail_cache=tmp_path / "thumbs",
        read_costs={"concurrency": 4.0},
    )
    storage.write_bytes("team/x/one.json", b"{}")
    storage.write_bytes("mast/two.json", b"[]")
    again = round_trip(storage)
    assert again.recipe == storage.recipe
    assert again.mounts == storage.mounts
    for name in ("block_size", "cache_type", "max_inflate_bytes", "max_image_pixels", "read_costs"):
        assert getattr(again, name) == getattr(storage, name)
    assert again.read_bytes("team/x/one.json") == b"{}"
    assert again.read_bytes("mast/two.json") == b"[]"
    assert again.list() == storage.list() == ["mast/two.json", "team/x/one.json"]
    # the recipe rebuilds the same Storage by hand too
    assert storage.recipe.build().recipe == storage.recipe


def test_the_reduction_is_the_public_constructor() -> None:
    storage = Storage({"": "memory://pickle-a", "b/": "memory://pickle-b"}, block_size=8192)
    rebuild, args = storage.__reduce__()
    assert rebuild.func is Storage
    assert args == ({"": "memory://pickle-a", "b/": "memory://pickle-b"},)
    import inspect

    named = set(inspect.signature(Storage).parameters) - {"url", "fsspec_options"}
    assert set(rebuild.keywords) == named
    assert not any(name.startswith("_") for name in rebuild.keywords)


def test_the_config_files_mounts_travel_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Storage()`` resolves the environment and config file where it is made; the other
    process needs neither."""
    config = tmp_path / "config.toml"
    team = (tmp_path / "team").as_uri()
    config.write_text(f'[storage.mounts]\nteam = {{ url = "{team}", auto_mkdir = true }}\n')
    monkeypatch.setenv("JWSTNB_CONFIG", str(config))
    monkeypatch.setenv("JWSTNB_STORAGE_URL", (tmp_path / "main").as_uri())
    storage = Storage()
    data = pickle.dumps(storage)
    monkeypatch.delenv("JWSTNB_CONFIG")
    monkeypatch.delenv("JWSTNB_STORAGE_URL")
    again: Any = pickle.loads(data)
    assert again.recipe == storage.recipe
    assert again.recipe.mounts == {
        "": (tmp_path / "main").as_uri(), "team/": team
    }
    assert again.recipe.keywords["options"] == {"team/": {"auto_mkdir": True}}


def test_credentials_travel_in_the_pickle_but_never_in_a_repr() -> None:
    pytest.importorskip("s3fs")
    storage = Storage(
        {"": "s3://AKIDPICKLEKEY:pickle-secret-value@bucket/p", "b/": "s3://other/q"},
        options={"b/": {"secret": "other-secret-value", "key": "AKIDOTHERKEY"}},
        endpoint_url="http://127.0.0.1:9",
    )
    again = round_trip(storage)
    assert again.recipe == storage.recipe
    assert again.fs.storage_options["secret"] == "pickle-secret-value"
    for text in (repr(storage), repr(again), repr(storage.recipe), str(storage.recipe)):
        for secret in ("AKIDPICKLEKEY", "pickle-secret-value", "other-secret", "AKIDOTHERKEY"):
            assert secret not in text, text
    assert isinstance(storage.recipe, StorageRecipe)
    assert "s3://bucket/p" in repr(storage.recipe)


def test_public_classes_are_named_by_the_package() -> None:
    from jwstnb import storage

    for name in ("Storage", "StorageRecipe", "Cutout"):
        assert getattr(storage, name).__module__ == "jwstnb.storage"
