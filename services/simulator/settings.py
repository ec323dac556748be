"""Simulator settings: NUMPROXY_SIMULATOR_* environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from numproxy.common.settings import ServiceSettings, service_config


class SimulatorSettings(ServiceSettings):
    model_config = service_config("simulator")

    host: str = Field("0.0.0.0", description="address the HTTP server binds")
    port: int = Field(8090, ge=0, le=65535, description="HTTP port")
    gateway_url: str = Field(
        "http://127.0.0.1:8080", description="base URL of the gateway webhooks are delivered to"
    )
    api_key: str = Field("simkey", description="API key /sms/json accepts")
    api_secret: SecretStr = Field(SecretStr("simsecret"), description="API secret it accepts")
