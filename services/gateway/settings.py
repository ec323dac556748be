"""Gateway settings: NUMPROXY_GATEWAY_* environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError

from numproxy.common.call_errors import MAX_BATCH_ITEMS
from numproxy.common.settings import ServiceSettings, service_config
from numproxy.common.tls import TlsSettings
from numproxy.common.vonage_signing import SignatureMethod


class GatewaySettings(ServiceSettings, TlsSettings):
    model_config = service_config("gateway")

    host: str = Field("0.0.0.0", description="address the HTTP server binds")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port")
    router_address: str = Field("127.0.0.1:50051", description="host:port of the router")
    router_timeout: float = Field(
        5.0, gt=0, description="deadline of one router call, seconds (then 503 to Vonage)"
    )
    router_batch_max: int = Field(
        100,
        ge=1,
        le=MAX_BATCH_ITEMS,
        description="inbound SMS webhooks passed to the router in one call at most (those that "
        "arrive while earlier calls are under way share the next one)",
    )
    router_batch_concurrency: int = Field(
        2, ge=1, le=64, description="calls carrying inbound SMS to the router at once"
    )
    signature_secret: SecretStr = Field(
        SecretStr(""),
        description="Vonage signature secret, required unless ALLOW_UNSIGNED=true. Also the "
        "HS256 key of Messages-API JWTs",
    )
    allow_unsigned: bool = Field(
        False,
        description="with no SIGNATURE_SECRET, accept unsigned webhooks instead of refusing to "
        "start (anyone who reaches the gateway can then forge them; logged as a warning)",
    )
    signature_method: SignatureMethod = Field(
        "md5hash", description="SMS-API signature method: md5hash, md5, sha1, sha256 or sha512"
    )
    signature_max_age: int = Field(
        300,
        ge=0,
        description="accepted clock difference of a signed webhook's timestamp, seconds; "
        "0 = no timestamp check",
    )
    replay_cache_size: int = Field(
        100_000,
        ge=1,
        description="signed webhooks this process remembers to refuse a replay within the "
        "timestamp window (the oldest is forgotten first when full); per process, not shared "
        "between replicas",
    )
    max_body_bytes: int = Field(
        65_536, gt=0, description="largest webhook body accepted (then 413)"
    )

    @model_validator(mode="after")
    def _signed_or_explicitly_unsigned(self) -> GatewaySettings:
        # Fail closed: unsigned webhooks let anyone who reaches the gateway text, stop sessions
        # and forge receipts, so they need an explicit opt-in.
        if not self.signature_secret.get_secret_value() and not self.allow_unsigned:
            raise PydanticCustomError(
                "signature_secret_missing",
                "NUMPROXY_GATEWAY_SIGNATURE_SECRET is not set: set it to the Vonage signature "
                "secret, or NUMPROXY_GATEWAY_ALLOW_UNSIGNED=true to accept unsigned webhooks",
            )
        return self
