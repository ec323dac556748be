"""The tests' local CA: one per test run, certificates for every numproxy identity."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from numproxy.common.local_ca import (
    DEV_IDENTITIES,
    IdentityFiles,
    ensure_local_ca,
    identity_files,
)
from numproxy.common.tls import ClientTls, ServerTls


@functools.cache
def shared_ca_dir() -> Path:
    """A folder with a CA and a certificate per identity (router, sender, gateway, console,
    lobby, admin, and ``app`` for a hook server of its own), valid for localhost and
    127.0.0.1; removed when the run ends."""
    folder = Path(tempfile.mkdtemp(prefix="numproxy-test-ca-"))
    atexit.register(shutil.rmtree, folder, True)
    ensure_local_ca(folder, DEV_IDENTITIES)
    return folder


def identity(name: str) -> IdentityFiles:
    return identity_files(shared_ca_dir(), name)


def client_tls(name: str = "admin") -> ClientTls:
    """What a test presents to a service of the test CA (as ``admin`` unless said)."""
    return identity(name).client_tls()


def server_tls(name: str) -> ServerTls:
    """``name``'s certificate and key as a server presents them, trusting the test CA."""
    files = identity(name)
    return ServerTls(files.cert.read_bytes(), files.key.read_bytes(), files.ca.read_bytes())


def service_tls_env(service: str, identity_name: str | None = None) -> dict[str, str]:
    """NUMPROXY_<SERVICE>_TLS_* naming the test CA's files of ``identity_name`` (the service)."""
    files = identity(identity_name or service)
    prefix = f"NUMPROXY_{service.upper()}_"
    return {
        prefix + "TLS_CERT": str(files.cert),
        prefix + "TLS_KEY": str(files.key),
        prefix + "TLS_CA": str(files.ca),
    }
