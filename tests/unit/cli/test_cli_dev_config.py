"""``numproxy dev`` signs webhooks out of the box: a random secret kept in its state folder,
or the one given with --signature-secret."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from numproxy.cli.dev import ports_problem
from numproxy.cli.main import build_parser, dev_config
from numproxy.cli.stack import StackConfig
from numproxy.common.scopes import Scope
from numproxy.common.settings import load_settings
from numproxy.router.settings import RouterSettings
from numproxy.sender.settings import SenderSettings
from tests.support.postgres import free_port


def test_a_random_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    state = tmp_path / ".numproxy"
    args = build_parser().parse_args(["dev"])
    first = dev_config(args, state)
    secret_file = state / "signature-secret"
    assert first.signature_secret == secret_file.read_text().strip()
    assert len(first.signature_secret) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert first.signature_method == "sha256"
    assert first.database_url == f"sqlite+aiosqlite:///{state}/dev.db"
    # The next run keeps it (a developer may sign test webhooks with it).
    assert dev_config(args, state).signature_secret == first.signature_secret
    other = dev_config(args, tmp_path / "elsewhere")
    assert other.signature_secret != first.signature_secret


def test_an_empty_secret_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "signature-secret").write_text("\n")
    config = dev_config(build_parser().parse_args(["dev"]), tmp_path)
    assert config.signature_secret
    assert (tmp_path / "signature-secret").read_text().strip() == config.signature_secret


def test_signature_secret_option_sets_it(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["dev", "--signature-secret", "given-secret", "--signature-method", "md5hash"]
    )
    config = dev_config(args, tmp_path)
    assert (config.signature_secret, config.signature_method) == ("given-secret", "md5hash")
    assert not (tmp_path / "signature-secret").exists()
    env = config.process_env("gateway")
    assert env["NUMPROXY_GATEWAY_SIGNATURE_SECRET"] == "given-secret"
    assert config.process_env("simulator")["NUMPROXY_SIMULATOR_SIGNATURE_SECRET"] == "given-secret"
    assert "given-secret" not in repr(config)


def test_the_stack_configures_its_callers_identities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = dev_config(build_parser().parse_args(["dev"]), tmp_path)
    for service in ("router", "sender"):
        for key, value in config.process_env(service).items():
            if key.startswith(f"NUMPROXY_{service.upper()}_"):
                monkeypatch.setenv(key, value)
    router = load_settings(RouterSettings)
    scopes = {name: set(policy.scopes) for name, policy in router.callers.items()}
    assert scopes["admin"] == set(Scope)
    assert scopes["gateway"] == {Scope.INBOUND}
    assert Scope.AUDIT_READ not in scopes["console"] and Scope.INBOUND not in scopes["console"]
    assert router.callers["lobby"].pools == {"lobby", "chat"}
    assert all(router.callers[name].pools is None for name in ("admin", "gateway", "console"))
    sender = load_settings(SenderSettings)
    assert {n: set(p.scopes) for n, p in sender.callers.items()} == {"router": {Scope.SMS_SEND}}
    # Until the services authenticate their callers, the stack's calls are made as these.
    assert (router.anonymous_caller, sender.anonymous_caller) == ("admin", "router")


def test_the_environment_wins_over_the_stacks_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    config = StackConfig(database_url="sqlite+aiosqlite:///dev.db", sender_port=6001)
    assert config.process_env("sender")["NUMPROXY_SENDER_RATE_LIMIT"] == "30"  # the default
    monkeypatch.setenv("NUMPROXY_SENDER_RATE_LIMIT", "0")
    monkeypatch.setenv("NUMPROXY_SENDER_PORT", "7000")
    env = config.process_env("sender")
    assert env["NUMPROXY_SENDER_RATE_LIMIT"] == "0"
    assert env["NUMPROXY_SENDER_PORT"] == "6001"  # the stack's wiring stays
    given = StackConfig(
        database_url="sqlite+aiosqlite:///dev.db",
        extra_env={"NUMPROXY_SENDER_RATE_LIMIT": "5"},
    )
    assert given.process_env("sender")["NUMPROXY_SENDER_RATE_LIMIT"] == "5"


def test_the_database_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMPROXY_ROUTER_DATABASE_URL", "sqlite+aiosqlite:///elsewhere.db")
    config = dev_config(build_parser().parse_args(["dev"]), tmp_path)
    assert config.database_url == "sqlite+aiosqlite:///elsewhere.db"
    given = build_parser().parse_args(["dev", "--database-url", "sqlite+aiosqlite:///x.db"])
    assert dev_config(given, tmp_path).database_url == "sqlite+aiosqlite:///x.db"


def test_a_port_given_twice_or_taken_is_one_line_naming_the_flag() -> None:
    port = free_port()
    twice = StackConfig(database_url="sqlite://", gateway_port=port, console_port=port)
    assert ports_problem(twice) == (
        f"error: port {port} is given to both gateway and console; "
        "choose another with --console-port"
    )
    free = {name: free_port() for name in ("router", "sender", "simulator", "gateway")}
    free |= {"lobby": free_port(), "console": free_port()}
    config = StackConfig(database_url="sqlite://", **{f"{n}_port": p for n, p in free.items()})
    assert ports_problem(config) is None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free["lobby"]))
        sock.listen()
        assert ports_problem(config) == (
            f"error: port {free['lobby']} (lobby) is already in use on 127.0.0.1; "
            "choose another with --lobby-port"
        )
