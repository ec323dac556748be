"""Settings base: every service reads its environment once, at start-up, through one class.

Each service defines ``class XSettings(ServiceSettings)`` with
``model_config = service_config("X")`` so its variables are ``NUMPROXY_X_<FIELD>``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from numproxy.common.authorization import CALLER_NAME

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


class GrpcServiceSettings(ServiceSettings):
    """Fields every gRPC service has."""

    reflection: bool = Field(
        False,
        description="serve gRPC server reflection: any client that reaches the port can then "
        "list the API (a debugging aid, off by default)",
    )
    anonymous_caller: str = Field(
        "",
        pattern=rf"^(?:{CALLER_NAME})?$",
        description="the caller name given to calls that carry no authenticated identity; "
        "empty: they are refused (UNAUTHENTICATED). Only for a network where every client is "
        "trusted (a local stack); logged as a warning at start",
    )


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def flag(name: str) -> str:
    """The command-line flag of setting ``name``: ``rate_limit`` -> ``--rate-limit``."""
    return "--" + name.replace("_", "-")


def load_settings(cls: type[SettingsT], overrides: Mapping[str, Any] | None = None) -> SettingsT:
    """Read ``cls`` from the environment, with ``overrides`` (setting name -> value, from the
    command line) on top; bad values exit (status 2) with one line each (one line in all when
    there is one problem).

    The message names the flag or environment variable and the problem, never the value of a
    secret.
    """
    prefix = str(cls.model_config.get("env_prefix", ""))
    given: dict[str, Any] = dict(overrides or {})
    try:
        return cls(**given)
    except SettingsError as exc:  # a list/object variable that is not JSON
        named = re.search(r'field "(\w+)"', str(exc))
        variable = prefix + named.group(1).upper() if named else "a variable"
        print(f"invalid configuration: {variable}: not valid JSON", file=sys.stderr)
        raise SystemExit(2) from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            name = str(error["loc"][0]) if error["loc"] else ""
            source = flag(name) if name in given else f"{prefix}{field.upper()}"
            # Errors about the whole class (no field) name their variables themselves.
            problems.append(f"{source}: {error['msg']}" if field else error["msg"])
        if len(problems) == 1:
            print(f"invalid configuration: {problems[0]}", file=sys.stderr)
        else:
            lines = [f"invalid configuration ({len(problems)} problems):"]
            lines.extend(f"  {problem}" for problem in problems)
            print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
