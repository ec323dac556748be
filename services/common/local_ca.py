"""A local certificate authority for ``numproxy dev``, the test stacks and ``numproxy.testing``.

One folder holds ``ca.pem`` (+ ``ca-key.pem``) and, per identity, ``<name>.pem`` and
``<name>-key.pem`` (keys owner-only). Each certificate's first DNS SAN is the identity (the
caller name the services see), then the host names and addresses it serves on. Files are
kept while valid and remade when missing, expiring or not signed by the folder's CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from numproxy.common.tls import ClientTls

# Identities of ``numproxy dev``: the services and apps, ``admin`` for the CLI, and ``app``
# for a developer's own hook server (docs/examples/hook_app.py).
DEV_IDENTITIES = ("router", "sender", "gateway", "console", "lobby", "admin", "app")
DEFAULT_HOSTS = ("localhost", "127.0.0.1")
VALIDITY = datetime.timedelta(days=365)
# Remade when less than this is left.
RENEW_BEFORE = datetime.timedelta(days=1)
CA_FILE = "ca.pem"
_CA_KEY_FILE = "ca-key.pem"


@dataclass(frozen=True)
class IdentityFiles:
    """The files of one identity: what a service's TLS_CERT, TLS_KEY and TLS_CA name."""

    cert: Path
    key: Path
    ca: Path

    def client_tls(self) -> ClientTls:
        return ClientTls.from_files(self.ca, self.cert, self.key)


def identity_files(folder: Path, name: str) -> IdentityFiles:
    return IdentityFiles(folder / f"{name}.pem", folder / f"{name}-key.pem", folder / CA_FILE)


def ensure_local_ca(
    folder: Path,
    identities: Sequence[str] = DEV_IDENTITIES,
    hosts: Iterable[str] = DEFAULT_HOSTS,
    *,
    key_mode: int = 0o600,
) -> dict[str, IdentityFiles]:
    """The CA and one certificate per identity in ``folder``, made where missing or expiring.

    ``key_mode`` 0o644 is for throw-away folders mounted into containers that run as another
    user; everything else keeps keys owner-only.
    """
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_cert, ca_key = _ensure_ca(folder, now, key_mode)
    host_list = list(hosts)
    files = {}
    for name in identities:
        paths = identity_files(folder, name)
        if not _still_valid(paths.cert, ca_cert, now) or not paths.key.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _issue(name, [name, *host_list], key, ca_cert, ca_key, now)
            _write(paths.key, _key_pem(key), key_mode)
            _write(paths.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        files[name] = paths
    return files


def _ensure_ca(
    folder: Path, now: datetime.datetime, key_mode: int
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = folder / CA_FILE, folder / _CA_KEY_FILE
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc - now > (
            RENEW_BEFORE
        ):
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "numproxy local CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def _issue(
    identity: str,
    names: Sequence[str],
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime.datetime,
) -> x509.Certificate:
    sans: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):  # in order, once each: the identity first
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        # Every identity both serves and calls (the router is the sender's client).
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _still_valid(path: Path, ca_cert: x509.Certificate, now: datetime.datetime) -> bool:
    if not path.exists():
        return False
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):  # unreadable or another CA's: remake it
        return False
    return cert.not_valid_after_utc - now > RENEW_BEFORE


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` with ``mode`` from the first byte (a key is never readable by others)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.chmod(tmp, mode)  # O_CREAT's mode is masked by the umask
    os.replace(tmp, path)
