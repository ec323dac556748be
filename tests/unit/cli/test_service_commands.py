"""Every service takes the same command line: one flag per setting (secrets excepted), from
``numproxy <service>`` and ``python -m numproxy.<service>`` alike."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from numproxy.cli.main import SERVICE_HELP
from numproxy.common.service_command import settings_from_args
from numproxy.common.settings import flag
from numproxy.console.settings import ConsoleSettings
from numproxy.gateway.settings import GatewaySettings
from numproxy.lobby.settings import LobbySettings
from numproxy.router.settings import RouterSettings
from numproxy.sender.settings import SenderSettings
from numproxy.simulator.settings import SimulatorSettings

SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "router": RouterSettings,
    "sender": SenderSettings,
    "simulator": SimulatorSettings,
    "console": ConsoleSettings,
    "lobby": LobbySettings,
}
NUMPROXY = str(Path(sys.executable).parent / "numproxy")


def parser_of(service: str) -> argparse.ArgumentParser:
    result: argparse.ArgumentParser = import_module(f"numproxy.{service}.__main__").build_parser()
    return result


def test_every_service_command_is_covered() -> None:
    assert set(SERVICE_HELP) == set(SETTINGS)


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_one_flag_per_setting_and_none_for_secrets(service: str) -> None:
    cls = SETTINGS[service]
    (group,) = [g for g in parser_of(service)._action_groups if g.title == "settings"]
    options = {opt for action in group._group_actions for opt in action.option_strings}
    assert {"--port", "--host", "--log-level", "--shutdown-grace"} <= options
    for name, field in cls.model_fields.items():
        secret = field.annotation is SecretStr
        assert (flag(name) in options) is not secret, name
    assert parser_of(service).prog == f"numproxy {service}"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_help_is_the_same_parser_both_ways(service: str) -> None:
    via_cli = subprocess.run([NUMPROXY, service, "--help"], capture_output=True, text=True)
    via_module = subprocess.run(
        [sys.executable, "-m", f"numproxy.{service}", "--help"], capture_output=True, text=True
    )
    assert via_cli.returncode == via_module.returncode == 0
    assert via_cli.stdout == via_module.stdout
    assert "--port PORT" in via_cli.stdout
    assert f"$NUMPROXY_{service.upper()}_PORT" in via_cli.stdout


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMPROXY_SENDER_RATE_LIMIT", "12")
    monkeypatch.setenv("NUMPROXY_SENDER_PORT", "6000")
    args = parser_of("sender").parse_args(["--rate-limit", "0", "--host", "127.0.0.1"])
    settings = settings_from_args(SenderSettings, args)
    assert (settings.rate_limit, settings.host, settings.port) == (0, "127.0.0.1", 6000)


def test_booleans_choices_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMPROXY_CONSOLE_LOCAL_DEV", "true")
    parser = parser_of("console")
    args = parser.parse_args(
        [
            *("--host", "127.0.0.1", "--no-cookie-secure"),
            *("--header-default-role", "operator", "--text-roles", '["operator"]'),
        ]
    )
    assert args.action is None
    settings = settings_from_args(ConsoleSettings, args)
    assert settings.local_dev is True
    assert settings.cookie_secure is False
    assert settings.header_default_role == "operator"
    assert settings.text_roles == ["operator"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--header-default-role", "root"])
    router = settings_from_args(
        RouterSettings, parser_of("router").parse_args(["--stop-keywords", '["HALT"]'])
    )
    assert router.stop_keywords == ("HALT",)


def test_a_bad_flag_value_is_one_line_naming_the_flag() -> None:
    result = subprocess.run(
        [NUMPROXY, "sender", "--rate-limit", "fast"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "invalid configuration: --rate-limit: Input should be a valid number, "
        "unable to parse string as a number"
    ]


def test_actions_keep_working() -> None:
    assert parser_of("router").parse_args(["migrate"]).action == "migrate"
    assert parser_of("lobby").parse_args(["migrate", "--port", "1"]).action == "migrate"
    hashed = subprocess.run(
        [NUMPROXY, "console", "hash-password"], input="secret\n", capture_output=True, text=True
    )
    assert hashed.returncode == 0, hashed.stderr
    assert hashed.stdout.startswith("pbkdf2")
