"""Router settings: NUMPROXY_ROUTER_* environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from numproxy.common.settings import ServiceSettings, service_config


class RouterSettings(ServiceSettings):
    model_config = service_config("router")

    host: str = Field("0.0.0.0", description="address the gRPC server binds")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 = any free port)")
    database_url: SecretStr = Field(
        SecretStr("sqlite+aiosqlite:///numproxy.db"),
        description="SQLAlchemy async URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://...",
    )
    sender_address: str = Field("127.0.0.1:50052", description="host:port of the sender")
    send_timeout: float = Field(10.0, gt=0, description="deadline of one SendSms call, seconds")
    sweep_interval: float = Field(
        30.0, gt=0, description="seconds between sweeps that close expired sessions"
    )
    dispatch_interval: float = Field(
        1.0, gt=0, description="seconds between outbox polls (retries and crash recovery)"
    )
