"""The command line every service shares, for ``numproxy <service>`` and
``python -m numproxy.<service>`` alike (both call the service's ``main(argv)``, which builds its
parser here).

Every setting of the service's settings class is a flag: ``NUMPROXY_SENDER_RATE_LIMIT`` is
``--rate-limit``, booleans are ``--local-dev`` / ``--no-local-dev``, lists and tables are JSON
as in the environment. A flag wins over the environment. Secrets have no flag: a command line
is visible to every user of the machine (``ps``), so they come from the environment only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from numproxy.common.eventloop import run as run_event_loop
from numproxy.common.ports import EXIT_PORT_IN_USE, PortInUse
from numproxy.common.settings import flag, load_settings
from numproxy.common.tracing import configure_tracing

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

_COMPLEX = (list, tuple, set, frozenset, dict)


def _is_secret(field: FieldInfo) -> bool:
    return SecretStr in (field.annotation, *typing.get_args(field.annotation))


def _is_complex(field: FieldInfo) -> bool:
    return typing.get_origin(field.annotation) in _COMPLEX


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r}") from None


def _help(prefix: str, name: str, field: FieldInfo) -> str:
    default = field.default
    shown = ", ".join(map(str, default)) if isinstance(default, _COMPLEX) else default
    text = f"{field.description or name} (${prefix}{name.upper()}; default {shown!s})"
    return text.replace("%", "%%")  # argparse formats help with %


def settings_flags(parser: argparse.ArgumentParser, cls: type[BaseSettings]) -> None:
    """Add one flag per setting of ``cls`` (not secrets) to ``parser``."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    group = parser.add_argument_group(
        "settings", f"each overrides its {prefix}* environment variable"
    )
    for name, field in cls.model_fields.items():
        if _is_secret(field):
            continue
        options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        options["help"] = _help(prefix, name, field)
        choices = typing.get_args(field.annotation)
        if field.annotation is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(field.annotation) is typing.Literal:
            options["choices"] = choices
        elif _is_complex(field):
            options.update(type=_json, metavar="JSON")
        else:
            options["metavar"] = name.upper()
        group.add_argument(flag(name), **options)


def service_parser(
    service: str,
    cls: type[BaseSettings],
    description: str,
    actions: Mapping[str, str] | None = None,
) -> argparse.ArgumentParser:
    """The parser of ``numproxy <service>``: its actions (``migrate`` ...), if any, then one
    flag per setting."""
    parser = argparse.ArgumentParser(
        prog=f"numproxy {service}",
        description=description,
        usage="%(prog)s " + ("[ACTION] " if actions else "") + "[--SETTING VALUE ...]",
    )
    if actions:
        parser.add_argument(
            "action",
            nargs="?",
            choices=sorted(actions),
            help="; ".join(f"{key}: {text}" for key, text in actions.items()),
        )
    settings_flags(parser, cls)
    return parser


def settings_from_args(cls: type[SettingsT], args: argparse.Namespace) -> SettingsT:
    """``cls`` from the environment, with the flags given in ``args`` on top."""
    given = {name: getattr(args, name) for name in cls.model_fields if hasattr(args, name)}
    return load_settings(cls, given)


def serve(service: str, main: Coroutine[Any, Any, None], *, traced: bool = False) -> int:
    """Run a service's ``main`` coroutine; a taken port is one line and EXIT_PORT_IN_USE.
    ``traced``: with tracing configured by the OTEL_* variables (common/tracing.py), its
    buffered spans exported at the end."""
    stop_tracing = configure_tracing(service, os.environ) if traced else None
    try:
        run_event_loop(main)
    except PortInUse as exc:
        variable = f"NUMPROXY_{service.upper()}_PORT"
        print(
            f"error: {service}: port {exc.port} on {exc.host} is already in use; "
            f"choose another with --port or {variable}",
            file=sys.stderr,
        )
        return EXIT_PORT_IN_USE
    finally:
        if stop_tracing is not None:
            stop_tracing()
    return 0
