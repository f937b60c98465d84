"""The archive service as a real process on 127.0.0.1, for tests, benchmarks and tutorials.

``ServiceProcess`` runs ``python -m jwstnb.service`` with its own environment (the database
URI and storage credentials go to it, not to the caller), optionally with TLS from a
throwaway CA made by ``trustme``, and waits until ``/v1/health`` answers.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.servers import free_port

_SCRUB = ("JWSTNB_", "AWS_")


class ServiceProcess:
    """One ``python -m jwstnb.service`` subprocess; ``start()`` / ``stop()``."""

    def __init__(
        self,
        workdir: Path,
        *,
        env: dict[str, str],
        database: str | None = None,
        tls: bool = True,
        ttl: int | None = None,
        anonymous: bool = False,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.extra_env = env
        self.database = database
        self.tls = tls
        self.ttl = ttl
        self.anonymous = anonymous
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"service-{self.port}.log"
        self.ca_file: Path | None = None
        self.ssl_context: ssl.SSLContext | bool = True

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _make_tls(self) -> tuple[Path, Path]:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca_file = self.workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        certfile, keyfile = self.workdir / "cert.pem", self.workdir / "key.pem"
        cert.cert_chain_pems[0].write_to_path(str(certfile))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(certfile), append=True)
        cert.private_key_pem.write_to_path(str(keyfile))
        os.chmod(keyfile, 0o600)
        self.ssl_context = ssl.create_default_context(cafile=str(self.ca_file))
        return certfile, keyfile

    def start(self, timeout: float = 60.0) -> None:
        import httpx

        cmd = [sys.executable, "-m", "jwstnb.service", "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "info"]
        if self.tls:
            certfile, keyfile = self._make_tls()
            cmd += ["--certfile", str(certfile), "--keyfile", str(keyfile)]
        if self.database:
            cmd += ["--database", self.database]
        if self.ttl:
            cmd += ["--ttl", str(self.ttl)]
        if self.anonymous:
            cmd += ["--anonymous"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
        env.update(self.extra_env)
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited early:\n{self.log.read_text()[-3000:]}")
            try:
                r = httpx.get(f"{self.url}/v1/health", verify=self.ssl_context, timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the service did not answer within {timeout}s; see {self.log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> ServiceProcess:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def write_config(path: Path, text: str) -> Path:
    """A config file only its owner may read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    return path
