"""Sender settings: NUMPROXY_SENDER_* environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from numproxy.common.settings import ServiceSettings, service_config


class SenderSettings(ServiceSettings):
    model_config = service_config("sender")

    host: str = Field("0.0.0.0", description="address the gRPC server binds")
    port: int = Field(50052, ge=0, le=65535, description="gRPC port (0 = any free port)")
    base_url: str = Field(
        "https://rest.nexmo.com", description="Vonage SMS API base URL (the simulator's locally)"
    )
    api_key: str = Field("", description="Vonage API key")
    api_secret: SecretStr = Field(SecretStr(""), description="Vonage API secret")
    http_timeout: float = Field(10.0, gt=0, description="timeout of one HTTP call, seconds")
