"""The ``jwstnb`` command, run as a user runs it: a subprocess against the test MongoDB server.

Each test gets a fresh database (``--database``) and storage folders under tmp_path; the
database is given the way users give it, through ``JWSTNB_MONGO_URI``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "jwstnb.cli"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("JWSTNB_") and k not in ("PYTEST_CURRENT_TEST",)
    }
    env["JWSTNB_HOME"] = str(tmp_path / "home")
    env["JWSTNB_CONFIG"] = str(tmp_path / "no-config.toml")
    if not (tmp_path / "no-config.toml").exists():
        (tmp_path / "no-config.toml").write_text("")  # mounts that `scan --mount` adds go here
    env.update(extra)
    return env


@pytest.fixture
def jwstnb_cmd(
    tmp_path: Path, mongo_uri: str, db_name: str
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``jwstnb --database DB ARGS`` with JWSTNB_MONGO_URI set; returns the finished process."""

    def run(*args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*CLI, "--database", db_name, *args],
            env=_env(tmp_path, JWSTNB_MONGO_URI=mongo_uri, **env),
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check:
            assert proc.returncode == 0, (
                f"{args}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    return run


def _admin(mongo_uri: str, db_name: str):
    from jwstnb.session import connect

    return connect(mongo_uri, database=db_name, admin=True)


def test_seed_writes_sample_files_and_records_idempotently(
    jwstnb_cmd, tmp_path: Path, mongo_uri: str, db_name: str
) -> None:
    from jwstnb import samples
    from jwstnb.storage import Storage

    storage_url = (tmp_path / "store").as_uri()
    first = jwstnb_cmd("seed", "--storage", storage_url)
    assert "seeded" in first.stdout
    keys = Storage(storage_url).list("mast/")
    assert keys and all(k.startswith("mast/") for k in keys)
    with _admin(mongo_uri, db_name) as s:
        total = s.count()
        assert total >= len([k for k in keys if k.endswith(".fits")])
        lineage = s.lineage(samples.NIRCAM_OBSERVATION)
        assert len(lineage) > 0
    jwstnb_cmd("seed", "--storage", storage_url)
    with _admin(mongo_uri, db_name) as s:
        assert s.count() == total  # seeding again updates, never duplicates


def test_scan_imports_every_file_then_skips_them(
    jwstnb_cmd, tmp_path: Path, mongo_uri: str, db_name: str
) -> None:
    from jwstnb import samples
    from jwstnb.storage import Storage

    storage_url = (tmp_path / "scanme").as_uri()
    sample = samples.write_sample(Storage(storage_url))
    out = jwstnb_cmd("scan", storage_url, "--mount", "scanme", "--quiet").stdout
    assert f"{len(sample.keys)} imported" in out, out
    assert "0 failed" in out
    with _admin(mongo_uri, db_name) as s:
        assert s.count() == len(sample.keys)
        paths = {r.file_path for r in s.search(page_size=500).items}
    # every record opens again through the default Storage (the mount is in the config file)
    env = _env(tmp_path)
    opened = subprocess.run(
        [sys.executable, "-c", "import sys, jwstnb; st = jwstnb.Storage(); "
         "print(sum(st.exists(k) for k in sys.argv[1:]))", *sorted(paths)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert opened.stdout.strip() == str(len(paths)), opened.stderr
    again = jwstnb_cmd("scan", storage_url, "--quiet").stdout  # a mount now: no name needed
    assert "0 imported" in again, again


def test_asn_writes_an_association_the_pipeline_schema_accepts(
    jwstnb_cmd, tmp_path: Path
) -> None:
    import jsonschema

    from jwstnb import samples
    from jwstnb.naming import product_group
    from jwstnb.storage import Storage

    storage_url = (tmp_path / "asn-store").as_uri()
    samples.write_sample(Storage(storage_url))
    jwstnb_cmd("scan", storage_url, "--mount", "asnstore", "--quiet")
    out = tmp_path / "image3_asn.json"
    said = jwstnb_cmd("asn", samples.NIRCAM_OBSERVATION, "--kind", "image3", "-o", str(out))
    assert "1 product(s), 4 member(s)" in said.stdout
    asn = json.loads(out.read_text())
    schema_file = Path(__file__).parents[1] / "data" / "jwst_asn_schema" / (
        "asn_schema_jw_level3.json")
    jsonschema.Draft4Validator(json.loads(schema_file.read_text())).validate(asn)
    (product,) = asn["products"]
    assert product["name"] == samples.NIRCAM_OBS_ID
    assert product_group(product["name"]) == (samples.NIRCAM_OBSERVATION, False)
    assert sorted(m["expname"] for m in product["members"]) == sorted(
        f"jw02733001001_02101_{e}_{d}_cal.fits" for e in ("00001", "00002")
        for d in ("nrca1", "nrcb1"))
    # to stdout, and a group that is not there is one line on stderr
    printed = jwstnb_cmd("asn", samples.NIRCAM_OBSERVATION, "--kind", "image2")
    assert len(json.loads(printed.stdout)["products"]) == 4
    missing = jwstnb_cmd("asn", "jw09999-o001_t001_nircam", "--kind", "image3", check=False)
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
    assert "jw09999-o001_t001_nircam" in missing.stderr


def test_scan_of_a_folder_whose_url_is_percent_encoded(
    jwstnb_cmd, tmp_path: Path, mongo_uri: str, db_name: str
) -> None:
    """``Path.as_uri()`` and file managers write a space as %20: it is the same folder."""
    from tests.fixtures_storage import make_fits_bytes

    folder = tmp_path / "my data"
    folder.mkdir()
    (folder / "jw01234001001_02101_00001_nrca1_cal.fits").write_bytes(make_fits_bytes())
    assert "%20" in folder.as_uri()
    out = jwstnb_cmd("scan", folder.as_uri(), "--mount", "mine", "-q").stdout
    assert "1 imported" in out, out


def test_scan_of_an_unknown_protocol_fails_with_one_line(jwstnb_cmd, tmp_path: Path) -> None:
    proc = jwstnb_cmd("scan", "nosuchproto://x/y", "--mount", "x", check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "nosuchproto" in proc.stderr


def test_import_mast_from_saved_rows(
    jwstnb_cmd, tmp_path: Path, mongo_uri: str, db_name: str
) -> None:
    from jwstnb import samples
    from jwstnb.storage import Storage

    storage_url = (tmp_path / "mast-store").as_uri()
    sample = samples.write_sample(Storage(storage_url))
    saved = [
        {
            "observation": obs,
            "products": [p for p in sample.product_rows if p.get("obs_id") == obs.get("obs_id")]
            or list(sample.product_rows),
        }
        for obs in sample.observation_rows
    ]
    rows_file = tmp_path / "mast_rows.json"
    rows_file.write_text(json.dumps(saved, default=str))
    out = jwstnb_cmd("import-mast", str(rows_file), "--storage", storage_url).stdout
    assert "imported" in out
    with _admin(mongo_uri, db_name) as s:
        records = s.search(page_size=500).items
    assert records
    assert all(r.is_public for r in records)
    assert any(k.startswith("mast_") for r in records for k in r.metadata)


def test_import_mast_with_a_broken_file_says_why(jwstnb_cmd, tmp_path: Path) -> None:
    bad = tmp_path / "rows.json"
    bad.write_text("{not json")
    proc = jwstnb_cmd("import-mast", str(bad), check=False)
    assert proc.returncode == 1
    assert "not JSON" in proc.stderr


def test_export_then_restore_round_trips(
    jwstnb_cmd, tmp_path: Path, mongo_uri: str, db_name: str
) -> None:
    jwstnb_cmd("seed", "--storage", (tmp_path / "store").as_uri())
    with _admin(mongo_uri, db_name) as s:
        before = sorted(r.file_path for r in s.search(page_size=500).items)
    backup = (tmp_path / "backup" / "jwst.jsonl").as_uri()
    out = jwstnb_cmd("export", backup, "--parents").stdout
    assert "exported" in out
    with _admin(mongo_uri, db_name) as s:
        s.collection.delete_many({})  # around jwstnb: the counts summary counts again
        s.recount()
        assert s.count() == 0
    jwstnb_cmd("restore", backup)
    with _admin(mongo_uri, db_name) as s:
        after = sorted(r.file_path for r in s.search(page_size=500).items)
    assert after == before


def test_db_start_status_stop(tmp_path: Path) -> None:
    env = _env(tmp_path)  # no URI: the embedded database under JWSTNB_HOME

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "db", *args], env=env, capture_output=True, text=True, timeout=120
        )

    stopped = run("status")
    assert stopped.returncode == 3 and "not running" in stopped.stdout
    try:
        started = run("start")
        assert started.returncode == 0, started.stderr
        status = run("status", "--json")
        assert status.returncode == 0
        doc = json.loads(status.stdout)
        assert doc["running"] is True and doc["port"]
        assert "password" not in status.stdout.lower()
        state = json.loads((tmp_path / "home" / "localdb.json").read_text())
        secret = state.get("password")
        assert secret and secret not in status.stdout + started.stdout
    finally:
        done = run("stop")
    assert done.returncode == 0 and "stopped" in done.stdout
    assert run("status").returncode == 3


# a Python without SecantusDB: the honest way to hide an installed package from one process
_NO_SECANTUS = (
    "import sys; sys.modules['secantus'] = None; "
    "from jwstnb.cli import main; sys.exit(main(['doctor']))"
)


def test_doctor_without_local_extra_or_uri_says_what_to_do(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _NO_SECANTUS],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout
    assert "pip install 'jwstnb[local]'" in proc.stdout
    assert "JWSTNB_MONGO_URI=mongodb://" in proc.stdout
    assert "FAIL database" in proc.stdout


def test_doctor_with_a_reachable_uri_is_happy(tmp_path: Path, mongo_uri: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _NO_SECANTUS],
        env=_env(tmp_path, JWSTNB_MONGO_URI=mongo_uri),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout
    assert "ok   database" in proc.stdout
    assert "jwst_data_analysis" in proc.stdout and "records" in proc.stdout  # it connected


def test_doctor_with_an_unreachable_uri_hides_the_password(tmp_path: Path) -> None:
    from tests.servers import free_port

    uri = f"mongodb://bob:hunter2@127.0.0.1:{free_port()}/?directConnection=true"
    proc = subprocess.run(
        [*CLI, "doctor"],
        env=_env(tmp_path, JWSTNB_MONGO_URI=uri),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "does not answer" in proc.stdout
    assert "hunter2" not in proc.stdout + proc.stderr


def test_doctor_recount_repairs_what_bypassed_the_summary(
    jwstnb_cmd, mongo_uri: str, db_name: str
) -> None:
    from jwstnb.schema import JwstDataModel

    admin = _admin(mongo_uri, db_name)
    try:
        for n in range(3):
            admin.insert(JwstDataModel(file_name=f"f{n}.fits", file_path=f"doctor/{n}",
                                       data_type="image", processing_level="L2b",
                                       is_public=True))
        admin.collection.delete_one({"filePath": "doctor/0"})  # around jwstnb
        assert admin.counts().total == 3  # the summary cannot know
        healthy = jwstnb_cmd("doctor", check=False)
        assert "counts summary exact" in healthy.stdout
        fixed = jwstnb_cmd("doctor", "--recount")
        assert "differed: records read by public: total 3 -> 2" in fixed.stdout
        assert "2 records counted; the summary differed in" in fixed.stdout
        assert admin.counts().total == 2
        again = jwstnb_cmd("doctor", "--recount")
        assert "the summary was exact" in again.stdout
    finally:
        admin.close()
