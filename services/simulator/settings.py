"""Simulator settings: NUMPROXY_SIMULATOR_* environment variables.

The fault-injection fields (rate_limit, error_rate, latency_ms, duplicate_rate, dlr_status,
dlr_enabled) are start values; ``POST /_sim/config`` changes them at run time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from numproxy.common.settings import ServiceSettings, service_config
from numproxy.common.vonage_signing import SignatureMethod

DlrStatus = Literal["delivered", "expired", "failed", "rejected", "accepted", "buffered", "unknown"]
InboundFormat = Literal["get", "form", "json", "messages"]
DlrFormat = Literal["get", "form", "json"]


class SimulatorSettings(ServiceSettings):
    model_config = service_config("simulator")

    host: str = Field("0.0.0.0", description="address the HTTP server binds")
    port: int = Field(8090, ge=0, le=65535, description="HTTP port")
    gateway_url: str = Field(
        "http://127.0.0.1:8080", description="base URL of the gateway webhooks are delivered to"
    )
    api_key: str = Field("simkey", description="API key /sms/json accepts")
    api_secret: SecretStr = Field(SecretStr("simsecret"), description="API secret it accepts")
    signature_secret: SecretStr = Field(
        SecretStr(""),
        description="signs webhooks and verifies signed /sms/json requests (empty = unsigned)",
    )
    signature_method: SignatureMethod = Field(
        "md5hash", description="md5hash, md5, sha1, sha256 or sha512"
    )
    signature_window: float = Field(
        300.0, gt=0, description="accepted age of a signed request's timestamp, seconds"
    )
    application_id: str = Field(
        "00000000-0000-0000-0000-000000000000",
        description="application_id claim of Messages-API webhook JWTs",
    )
    rate_limit: float = Field(30.0, ge=0, description="/sms/json requests/s per API key (0 = none)")
    error_rate: float = Field(
        0.0, ge=0, le=1, description="fraction of /sms/json calls answered HTTP 500"
    )
    latency_ms: int = Field(0, ge=0, description="delay before /sms/json answers, ms")
    duplicate_rate: float = Field(
        0.0, ge=0, le=1, description="fraction of inbound webhooks delivered twice"
    )
    dlr_enabled: bool = Field(True, description="send delivery receipts")
    dlr_status: DlrStatus = Field("delivered", description="status every delivery receipt reports")
    dlr_format: DlrFormat = Field("get", description="how receipts are delivered: get, form, json")
    message_price: str = Field("0.03330000", description="price of one SMS part, EUR")
    balance: str = Field("1000000.00000000", description="starting account balance, EUR")
    network: str = Field("23410", description="network code reported for recipients")
    retry_initial: float = Field(0.5, gt=0, description="first webhook retry delay, seconds")
    retry_max: float = Field(5.0, gt=0, description="largest webhook retry delay, seconds")
    retry_total: float = Field(
        60.0, ge=0, description="seconds a webhook is retried for after its first attempt"
    )
    webhook_timeout: float = Field(15.0, gt=0, description="timeout of one webhook request")
    webhook_concurrency: int = Field(64, ge=1, description="webhook requests in flight at most")
    outbox_limit: int = Field(200_000, ge=1, description="sent SMS kept for /_sim/outbox")
    deliveries_limit: int = Field(100_000, ge=1, description="webhook attempts kept for /_sim")
    http_transport: Literal["aiohttp", "httpx"] = Field(
        "aiohttp", description="HTTP transport of the webhook client"
    )
