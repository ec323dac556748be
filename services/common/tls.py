"""TLS material of a gRPC server or client, read from files named by settings.

Every service's settings mix in :class:`TlsSettings` (``NUMPROXY_<SVC>_TLS_CERT``, ``_TLS_KEY``,
``_TLS_CA``, ``_ALLOW_PLAINTEXT``); gRPC servers also mix in :class:`ServerAuthSettings`
(bearer tokens, the token port, the plaintext health port). Without certificates a service
refuses to start unless plaintext was chosen explicitly.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import grpc
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

log = logging.getLogger(__name__)

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# Caller names a bearer token maps to: the same shape as a certificate's DNS name.
_CALLER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class ServerTls:
    """A server's certificate chain and key, and the CA bundle its clients' certificates must
    chain to."""

    cert: bytes = field(repr=False)
    key: bytes = field(repr=False)
    ca: bytes = field(repr=False)

    def credentials(self, *, require_client_cert: bool = True) -> grpc.ServerCredentials:
        # grpc either requires and verifies a client certificate or asks for none: the token
        # port (bearer-token callers) is the one that asks for none.
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)],
            root_certificates=self.ca if require_client_cert else None,
            require_client_auth=require_client_cert,
        )


@dataclass(frozen=True)
class ClientTls:
    """The CA bundle a client trusts, and its own certificate and key (absent for a caller
    that authenticates with a bearer token instead)."""

    ca: bytes = field(repr=False)
    cert: bytes | None = field(default=None, repr=False)
    key: bytes | None = field(default=None, repr=False)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.ca, self.key, self.cert)

    @classmethod
    def from_files(
        cls, ca: str | Path, cert: str | Path | None = None, key: str | Path | None = None
    ) -> Self:
        if (cert is None) != (key is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")
        return cls(
            Path(ca).read_bytes(),
            Path(cert).read_bytes() if cert is not None else None,
            Path(key).read_bytes() if key is not None else None,
        )


class TlsSettings(BaseModel):
    """Mixed into every service's settings: its certificate (presented as a server and as a
    client), key and trusted CA bundle, or the explicit choice of plaintext."""

    tls_cert: str = Field(
        "",
        description="PEM certificate (chain) this service presents, as a gRPC server and as a "
        "client; its first DNS SAN is its identity",
    )
    tls_key: str = Field("", description="PEM private key of tls_cert")
    tls_ca: str = Field("", description="PEM CA bundle the certificates of its peers must chain to")
    allow_plaintext: bool = Field(
        False,
        description="with no TLS files, speak plaintext gRPC instead of refusing to start "
        "(no peer is authenticated by certificate; logged as a warning)",
    )

    @model_validator(mode="after")
    def _tls_or_explicitly_plaintext(self) -> Self:
        prefix = str(self.model_config.get("env_prefix", ""))
        given = [name for name in ("tls_cert", "tls_key", "tls_ca") if getattr(self, name)]
        if not given and not self.allow_plaintext:
            raise PydanticCustomError(
                "tls_missing",
                f"{prefix}TLS_CERT, {prefix}TLS_KEY and {prefix}TLS_CA are not set: set them to "
                f"PEM files, or {prefix}ALLOW_PLAINTEXT=true to run without TLS",
            )
        if given and len(given) < 3:
            missing = sorted({"tls_cert", "tls_key", "tls_ca"} - set(given))
            raise PydanticCustomError(
                "tls_incomplete",
                "{missing} not set: TLS needs the certificate, its key and the CA bundle",
                {"missing": ", ".join(prefix + name.upper() for name in missing)},
            )
        for name in given:
            if not Path(getattr(self, name)).is_file():
                raise PydanticCustomError(
                    "tls_file_missing",
                    "{variable}: no such file",
                    {"variable": prefix + name.upper()},
                )
        return self

    @property
    def plaintext(self) -> bool:
        return not self.tls_cert

    def server_tls(self) -> ServerTls | None:
        """The server's TLS material; None when plaintext was chosen."""
        if self.plaintext:
            return None
        return ServerTls(
            Path(self.tls_cert).read_bytes(),
            Path(self.tls_key).read_bytes(),
            Path(self.tls_ca).read_bytes(),
        )

    def client_tls(self) -> ClientTls | None:
        """The same material as a client presents it; None when plaintext was chosen."""
        if self.plaintext:
            return None
        return ClientTls.from_files(self.tls_ca, self.tls_cert, self.tls_key)


class ServerAuthSettings(BaseModel):
    """Mixed into the settings of every gRPC server: who may call besides certificate holders,
    and the extra ports."""

    auth_tokens: dict[str, str] = Field(
        {},
        description="bearer tokens of callers without a client certificate: JSON object caller "
        "name -> SHA-256 hex of the token (`numproxy token` makes one)",
    )
    token_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="TLS port that asks for no client certificate, for bearer-token callers "
        "(0 = none; with plaintext, tokens are accepted on the main port)",
    )
    health_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="plaintext port serving only the standard gRPC health service, for "
        "probes that cannot do TLS (0 = none)",
    )

    @field_validator("auth_tokens")
    @classmethod
    def _hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not _CALLER_NAME.match(name):
                raise ValueError(f"caller name {name[:64]!r} is not a DNS-like name")
            if not _SHA256_HEX.match(digest):
                raise ValueError(f"the hash of {name!r} is not 64 lowercase hex digits (SHA-256)")
        return value


@dataclass(frozen=True)
class ServerAuth:
    """How a gRPC server authenticates: TLS material (None = plaintext), token hashes, and the
    token and health ports (0 = none)."""

    tls: ServerTls | None
    tokens: dict[str, str] = field(default_factory=dict, repr=False)
    token_port: int = 0
    health_port: int = 0

    @classmethod
    def from_settings(cls, settings: TlsSettings) -> Self:
        extra = settings if isinstance(settings, ServerAuthSettings) else ServerAuthSettings()
        return cls(
            settings.server_tls(),
            dict(extra.auth_tokens),
            extra.token_port,
            extra.health_port,
        )


PLAINTEXT_SERVER = ServerAuth(None)


def warn_plaintext(what: str) -> None:
    log.warning(
        "%s speaks plaintext gRPC (ALLOW_PLAINTEXT=true): callers are not authenticated by "
        "certificate and traffic is readable on the network",
        what,
    )
