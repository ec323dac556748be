"""Gateway settings: NUMPROXY_GATEWAY_* environment variables."""

from __future__ import annotations

from pydantic import Field

from numproxy.common.settings import ServiceSettings, service_config


class GatewaySettings(ServiceSettings):
    model_config = service_config("gateway")

    host: str = Field("0.0.0.0", description="address the HTTP server binds")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port")
    router_address: str = Field("127.0.0.1:50051", description="host:port of the router")
    router_timeout: float = Field(
        5.0, gt=0, description="deadline of one router call, seconds (then 503 to Vonage)"
    )
