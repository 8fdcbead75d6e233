"""The Caddyfile compose ships, run with Debian's caddy on free ports and Caddy's own local CA.

Only what differs from production is rewritten: the site address (``localhost`` on a free port, since
no public CA can certify it), ``tls internal`` (Caddy's local CA instead of ACME), the upstream (the
API on this test's port) and the global options that keep Caddy inside the test's directory.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.processes import end_process
from tests.support.services import free_port

SHIPPED = Path(__file__).parents[2] / "docker" / "caddy" / "Caddyfile"


def runnable_caddyfile(*, https_port: int, http_port: int, upstream: str, storage: Path) -> str:
    text = SHIPPED.read_text()
    global_options = (
        f"{{\n\tadmin off\n\tskip_install_trust\n\thttp_port {http_port}\n\thttps_port {https_port}\n"
        f"\tstorage file_system {storage}\n\temail {{$ACME_EMAIL}}\n}}"
    )
    replacements = {
        r"^\{\n\temail \{\$ACME_EMAIL\}\n\}": global_options,
        r"^\{\$ELDERCARE_DOMAIN\} \{$": f"localhost:{https_port} {{\n\ttls internal",
        r"reverse_proxy api:8000 \{": f"reverse_proxy {upstream} {{",
    }
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text, flags=re.M)
        assert count == 1, f"the shipped Caddyfile no longer has {pattern!r}"
    return text


@dataclass
class LocalCaddy:
    """``caddy run`` with the shipped Caddyfile in front of ``upstream`` (host:port)."""

    directory: Path
    upstream: str
    https_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def root_ca(self) -> Path:
        """Caddy's local CA certificate: what a client trusts to verify this site."""
        return self.directory / "storage" / "pki" / "authorities" / "local" / "root.crt"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.root_ca))

    def intermediate_spki_sha256(self) -> str:
        """Base64 SHA-256 of the local intermediate CA's public key, for Chromium's SPKI allow-list."""
        cert = x509.load_pem_x509_certificate((self.root_ca.parent / "intermediate.crt").read_bytes())
        spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()

    def start(self) -> LocalCaddy:
        if shutil.which("caddy") is None:
            raise RuntimeError("caddy is not on PATH: apt-get install caddy")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "Caddyfile"
        config.write_text(
            runnable_caddyfile(
                https_port=self.https_port, http_port=self.http_port, upstream=self.upstream, storage=self.directory / "storage"
            )
        )
        env = {"HOME": str(self.directory), "PATH": "/usr/bin:/bin", "ACME_EMAIL": "ops@example.org"}
        log = (self.directory / "caddy.log").open("ab")
        self._process = subprocess.Popen(
            ["caddy", "run", "--config", str(config), "--adapter", "caddyfile"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self._wait_until_serving()
        return self

    def _wait_until_serving(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"caddy exited: {(self.directory / 'caddy.log').read_text()[-3000:]}")
            if self.root_ca.exists():
                try:
                    httpx.get(self.url + "/healthz", verify=self.ssl_context(), timeout=2)
                    return
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"caddy did not serve {self.url} within {timeout_s} s")

    def stop(self) -> None:
        if self._process is None:
            return
        end_process(self._process)
        self._process = None
