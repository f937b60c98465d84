"""Every way the ``jwstnb`` command fails, run as a user runs it (a subprocess, real servers).

Each failure must be exactly one line on stderr that names what failed, a non-zero exit
status, no traceback, no secret, and no folder made anywhere it was not asked for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures_storage import make_fits_bytes, truncated
from tests.servers import free_port

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "jwstnb.cli"]
CAL = "jw02733001001_02101_00001_nrca1_cal.fits"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no jwstnb settings or AWS credentials from outside, an empty
    config file, and a home of its own under ``tmp_path``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JWSTNB_", "AWS_", "PYTEST_"))
    }
    env["JWSTNB_HOME"] = str(tmp_path / "home")
    config = tmp_path / "config.toml"
    if not config.exists():
        config.write_text("")
    env["JWSTNB_CONFIG"] = str(config)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-aws-credentials")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-aws-config")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=_env(tmp_path, **env), capture_output=True, text=True, timeout=180
    )


def one_line_failure(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Assert the process failed with one line on stderr holding ``expected``; return it."""
    assert proc.returncode != 0, f"exit 0\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("jwstnb"), line
    for text in expected:
        assert text.lower() in line.lower(), line
    return line


@pytest.fixture(autouse=True)
def _stop_embedded_database(tmp_path: Path) -> Iterator[None]:
    """A command run without a MongoDB URI starts the embedded database in the test's home
    and leaves it running, as it does for a user; stop it when the test ends."""
    yield
    from jwstnb import localdb

    localdb.stop(tmp_path / "home")


@pytest.fixture
def s3_env(s3_endpoint: str) -> dict[str, str]:
    """What points the command at the moto S3 server, as it would at any S3 endpoint."""
    return {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-value",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


# --- the command line itself ---------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    import jwstnb

    proc = run(tmp_path, "--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"jwstnb {jwstnb.__version__}"


def test_unknown_command_is_one_line(tmp_path: Path) -> None:
    line = one_line_failure(run(tmp_path, "frobnicate"), "frobnicate", "--help")
    assert "usage:" not in line


# --- storage: S3, credentials, buckets, folders --------------------------------------------


def test_scan_of_an_unknown_bucket(tmp_path: Path, s3_env: dict[str, str]) -> None:
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    proc = run(tmp_path, "scan", f"s3://{bucket}/jwst", "--mount", "nobucket", "-q", **s3_env)
    one_line_failure(proc, bucket)
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in proc.stderr + proc.stdout


def test_scan_of_s3_without_credentials(tmp_path: Path, s3_endpoint: str) -> None:
    proc = run(
        tmp_path, "scan", "s3://some-bucket/jwst", "--mount", "nocreds", "-q",
        AWS_ENDPOINT_URL=s3_endpoint, AWS_DEFAULT_REGION="us-east-1",
    )
    one_line_failure(proc, "credentials")


def test_scan_of_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "does" / "not" / "exist"
    proc = run(tmp_path, "scan", missing.as_uri(), "--mount", "nowhere", "-q")
    one_line_failure(proc, str(missing))
    assert not missing.exists() and not (tmp_path / "does").exists()


def test_scan_of_an_unmounted_url_says_how_to_mount_it(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / CAL).write_bytes(make_fits_bytes())
    line = one_line_failure(run(tmp_path, "scan", folder.as_uri(), "-q"), "--mount")
    assert "jwstnb scan" in line


def test_scan_reports_a_truncated_fits_in_one_line_and_collects_warnings(
    tmp_path: Path, mongo_uri: str, db_name: str
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    good = make_fits_bytes()
    (folder / CAL).write_bytes(truncated(good))
    (folder / CAL.replace("00001", "00002")).write_bytes(good[:1000])  # cut inside the header
    (folder / CAL.replace("00001", "00003")).write_bytes(good)
    proc = run(
        tmp_path, "--database", db_name, "scan", folder.as_uri(), "--mount", "files",
        JWSTNB_MONGO_URI=mongo_uri,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "1 imported" in proc.stdout and "2 failed" in proc.stdout, proc.stdout
    failed = [line for line in proc.stdout.splitlines() if line.strip().startswith("failed:")]
    assert len(failed) == 2, proc.stdout
    for line in failed:
        assert "no SIMPLE card" not in line, line
        assert "truncat" in line.lower(), line
    # astropy's warnings are collected into the report, never printed raw into a progress
    # bar (and with stderr not a terminal there is no bar): stderr stays empty
    assert proc.stderr.strip() == "", proc.stderr


# --- backups ---------------------------------------------------------------------------------


def test_export_to_a_missing_folder_creates_nothing(tmp_path: Path, mongo_uri: str) -> None:
    top = Path("/") / f"nonexistent-jwstnb-{uuid.uuid4().hex[:8]}"
    proc = run(tmp_path, "export", f"file://{top}/x.jsonl", JWSTNB_MONGO_URI=mongo_uri)
    one_line_failure(proc, str(top), "--parents")
    assert not top.exists()
    nested = tmp_path / "a" / "b" / "x.jsonl"
    one_line_failure(run(tmp_path, "export", str(nested), JWSTNB_MONGO_URI=mongo_uri))
    assert not (tmp_path / "a").exists()


def _record_line(name: str, **fields: object) -> str:
    doc = {
        "_id": {"$oid": uuid.uuid4().hex[:24]},
        "fileName": name,
        "filePath": f"mast/{name}",
        "dataType": "image",
        "processingLevel": "L2b",
        "processingStatus": "pending",
        "isPublic": True,
        **fields,
    }
    return json.dumps(doc)


def test_restore_of_a_bad_line_names_the_line_and_field(
    tmp_path: Path, mongo_uri: str, db_name: str
) -> None:
    backup = tmp_path / "backup.jsonl"
    backup.write_text(
        "\n".join(
            [
                _record_line(CAL),
                _record_line(CAL.replace("00001", "00002"), processingLevel="L9"),
                _record_line(CAL.replace("00001", "00003")),
            ]
        )
        + "\n"
    )
    proc = run(
        tmp_path, "--database", db_name, "restore", backup.as_uri(), JWSTNB_MONGO_URI=mongo_uri
    )
    line = one_line_failure(proc)
    assert re.search(r"line 2\b", line), line
    assert re.search(r"processing_?level", line, re.I), line
    assert "errors.pydantic.dev" not in line


def test_restore_of_a_missing_file(tmp_path: Path, mongo_uri: str) -> None:
    missing = tmp_path / "nope.jsonl"
    one_line_failure(run(tmp_path, "restore", str(missing), JWSTNB_MONGO_URI=mongo_uri), "nope")


# --- the database and the global options -----------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_uri_reaches_doctor(tmp_path: Path, where: str) -> None:
    uri = f"mongodb://bob:hunter2@127.0.0.1:{free_port()}/?directConnection=true"
    args = ["--uri", uri, "doctor"] if where == "before" else ["doctor", "--uri", uri]
    proc = run(tmp_path, *args)
    assert proc.returncode == 1, proc.stdout
    assert "FAIL database" in proc.stdout and "does not answer" in proc.stdout
    assert "hunter2" not in proc.stdout + proc.stderr
    assert "all good" not in proc.stdout


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    uri = f"mongodb://bob:hunter2@127.0.0.1:{free_port()}/?directConnection=true"
    proc = run(tmp_path, "--uri", uri, "export", str(tmp_path / "x.jsonl"))
    line = one_line_failure(proc, "127.0.0.1")
    assert "hunter2" not in line


def test_global_storage_reaches_doctor_without_its_secret(
    tmp_path: Path, s3_env: dict[str, str]
) -> None:
    secret = "SECRET-" + uuid.uuid4().hex
    proc = run(tmp_path, "--storage", f"s3://key:{secret}@bucket", "doctor", **s3_env)
    assert "FAIL storage" in proc.stdout, proc.stdout
    assert secret not in proc.stdout + proc.stderr


def test_global_storage_reaches_seed(tmp_path: Path, mongo_uri: str, db_name: str) -> None:
    store = tmp_path / "given-store"
    proc = run(
        tmp_path, "--storage", store.as_uri(), "--database", db_name, "seed",
        JWSTNB_MONGO_URI=mongo_uri,
    )
    assert proc.returncode == 0, proc.stderr
    assert any(store.rglob("*.fits"))
    assert not (tmp_path / "home" / "storage").exists()


def test_import_mast_of_a_missing_file(tmp_path: Path, mongo_uri: str) -> None:
    proc = run(tmp_path, "import-mast", str(tmp_path / "rows.json"), JWSTNB_MONGO_URI=mongo_uri)
    one_line_failure(proc, "rows.json")


@pytest.mark.slow
def test_lost_credentials_then_reset_password(tmp_path: Path) -> None:
    """The embedded database whose state file is gone stays closed, says how to recover,
    and ``jwstnb db reset-password`` recovers it."""
    store = (tmp_path / "store").as_uri()
    try:
        first = run(tmp_path, "--storage", store, "seed")
        assert first.returncode == 0, first.stderr
        run(tmp_path, "db", "stop")
        (tmp_path / "home" / "localdb.json").unlink()
        one_line_failure(run(tmp_path, "--storage", store, "seed"), "jwstnb db reset-password")
        reset = run(tmp_path, "db", "reset-password")
        assert reset.returncode == 0, reset.stderr
        again = run(tmp_path, "--storage", store, "seed")
        assert again.returncode == 0, again.stderr
    finally:
        run(tmp_path, "db", "stop")


# --- the pieces, without a subprocess -------------------------------------------------------


def test_error_line_is_one_line_without_secrets() -> None:
    from jwstnb.cli import error_line
    from jwstnb.errors import StorageError, invalid

    line = error_line(
        StorageError("cannot list s3://key:hunter22@bucket/x\n  botocore said: no"),
        "scan",
        ["s3://key:hunter22@bucket/x"],
    )
    assert line.startswith("jwstnb scan: ") and "\n" not in line and "hunter22" not in line
    assert "jwstnb doctor" in line
    line = error_line(invalid("processingLevel", "must be L1, L2a, L2b or L3", "L9"), "restore")
    assert line == "jwstnb restore: processingLevel: must be L1, L2a, L2b or L3"
    missing = ModuleNotFoundError("No module named 's3fs'", name="s3fs")
    assert error_line(missing, "scan").endswith("s3fs is not installed: pip install 'jwstnb[s3]'")
    bug = error_line(TypeError("boom"), "seed")
    assert "unexpected TypeError: boom" in bug and "JWSTNB_DEBUG=1" in bug


def test_check_parent_refuses_or_creates_only_when_asked(tmp_path: Path) -> None:
    from jwstnb.cli import CliError, check_parent

    target = tmp_path / "a" / "b" / "x.jsonl"
    with pytest.raises(CliError, match="--parents"):
        check_parent(target.as_uri(), create=False)
    assert not (tmp_path / "a").exists()
    check_parent(str(tmp_path / "x.jsonl"), create=False)  # the folder exists: fine
    check_parent("s3://bucket/none/x.jsonl", create=False)  # no folders to make remotely
    check_parent(target.as_uri(), create=True)
    assert target.parent.is_dir()


def test_prepare_tutorials_keeps_changed_copies_and_refreshes_the_rest(tmp_path: Path) -> None:
    from jwstnb.cli import prepare_tutorials

    source, target = tmp_path / "src", tmp_path / "work"
    source.mkdir()
    (source / "a.ipynb").write_text("a1")
    (source / "b.ipynb").write_text("b1")
    (source / "conftest.py").write_text("not a tutorial")
    assert prepare_tutorials(source, target) == []
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith(".")) == [
        "a.ipynb", "b.ipynb",
    ]
    (target / "a.ipynb").write_text("a1, edited by the user")
    (source / "a.ipynb").write_text("a2")
    (source / "b.ipynb").write_text("b2")
    notes = prepare_tutorials(source, target)
    assert len(notes) == 1 and "a.ipynb" in notes[0]
    assert (target / "a.ipynb").read_text() == "a1, edited by the user"
    assert (target / "b.ipynb").read_text() == "b2"
    (target / "a.ipynb").unlink()
    assert prepare_tutorials(source, target) == []
    assert (target / "a.ipynb").read_text() == "a2"
