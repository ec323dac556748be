"""Sender settings: NUMPROXY_SENDER_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from numproxy.common.authorization import Callers
from numproxy.common.settings import GrpcServiceSettings, service_config
from numproxy.common.tls import ServerAuthSettings, TlsSettings
from numproxy.common.vonage_signing import SignatureMethod

AuthMethod = Literal["secret", "signature"]
HttpTransport = Literal["aiohttp", "httpx"]


class SenderSettings(GrpcServiceSettings, TlsSettings, ServerAuthSettings):
    model_config = service_config("sender")

    callers: Callers = Field(
        {"router": {"scopes": ["sms:send"]}},  # type: ignore[dict-item]  # validated
        description="what each authenticated caller may do: JSON object, caller name -> "
        '{"scopes": [...]}; a caller not listed may call nothing (docs/security.md)',
    )
    host: str = Field("0.0.0.0", description="address the gRPC server binds")
    port: int = Field(50052, ge=0, le=65535, description="gRPC port (0 = any free port)")
    base_url: str = Field(
        "https://rest.nexmo.com", description="Vonage SMS API base URL (the simulator's locally)"
    )
    api_key: str = Field("", description="Vonage API key")
    api_secret: SecretStr = Field(SecretStr(""), description="Vonage API secret")
    http_timeout: float = Field(10.0, gt=0, description="timeout of one HTTP call, seconds")
    auth_method: AuthMethod = Field(
        "secret", description="secret: send api_secret; signature: sign with signature_secret"
    )
    signature_secret: SecretStr = Field(
        SecretStr(""), description="Vonage signature secret (auth_method=signature)"
    )
    signature_method: SignatureMethod = Field(
        "md5hash", description="md5hash, md5, sha1, sha256 or sha512 (HMAC variants)"
    )
    rate_limit: float = Field(
        30.0, ge=0, description="requests/s to the provider per API key and process (0 = none)"
    )
    idempotency_window: float = Field(
        86_400.0, gt=0, description="seconds a successful result is replayed for a repeated key"
    )
    idempotency_max_entries: int = Field(
        100_000, ge=1, description="results remembered at most (oldest dropped first)"
    )
    max_send_time: float = Field(
        30.0, gt=0, description="budget of one SendSms, retries included, when no deadline is set"
    )
    retry_initial_backoff: float = Field(0.2, gt=0, description="first retry delay, seconds")
    retry_max_backoff: float = Field(5.0, gt=0, description="largest retry delay, seconds")
    ttl_ms: int | None = Field(
        None, ge=0, description="message ttl sent to the provider, ms (unset = provider default)"
    )
    # Measured through the service chain: ~390 msg/s with httpx's own transport, ~730 msg/s
    # with aiohttp underneath httpx's API. aiohttp is the default; "httpx" is the fallback.
    http_transport: HttpTransport = Field(
        "aiohttp", description="HTTP transport under httpx: aiohttp (faster) or httpx"
    )
    http_max_connections: int = Field(100, ge=1, description="HTTP connection pool size")
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="HTTP port serving Prometheus metrics on /metrics (0 = off; the chart "
        "uses 9090)",
    )

    def credentials_complete(self) -> bool:
        """True when the configured auth method has what it needs."""
        if not self.api_key:
            return False
        if self.auth_method == "signature":
            return bool(self.signature_secret.get_secret_value())
        return bool(self.api_secret.get_secret_value())
