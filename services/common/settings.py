"""Settings base: every service reads its environment once, at start-up, through one class.

Each service defines ``class XSettings(ServiceSettings)`` with
``model_config = service_config("X")`` so its variables are ``NUMPROXY_X_<FIELD>``.
"""

from __future__ import annotations

import sys
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError
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


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Read ``cls`` from the environment (``overrides`` win over it); bad values exit (status
    2) with one line each (one line in all when there is one problem).

    The message names the environment variable and the problem, never the value of a secret.
    """
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            # Errors about the whole class (no field) name their variables themselves.
            problems.append(f"{prefix}{field.upper()}: {error['msg']}" if field else error["msg"])
        if len(problems) == 1:
            print(f"invalid configuration: {problems[0]}", file=sys.stderr)
        else:
            lines = [f"invalid configuration ({len(problems)} problems):"]
            lines.extend(f"  {problem}" for problem in problems)
            print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
