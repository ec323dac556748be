"""Settings base: every service reads its environment once, at start-up, through one class.

Each service defines ``class XSettings(ServiceSettings)`` with
``model_config = service_config("X")`` so its variables are ``NUMPROXY_X_<FIELD>``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["auto", "json", "text"]


def service_config(service: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=f"NUMPROXY_{service.upper()}_",
        extra="ignore",
        frozen=True,
        validate_default=True,
    )


class ServiceSettings(BaseSettings):
    """Fields every service has."""

    log_level: str = Field("INFO", description="Python log level name")
    log_format: LogFormat = Field("auto", description="json, text, or auto (json unless a TTY)")
    shutdown_grace: float = Field(
        10.0, ge=0, description="seconds in-flight calls get to finish on SIGTERM"
    )
