"""``numproxy dev`` signs webhooks out of the box: a random secret kept in its state folder,
or the one given with --signature-secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from numproxy.cli.main import build_parser, dev_config
from numproxy.common.scopes import Scope
from numproxy.common.settings import load_settings
from numproxy.router.settings import RouterSettings
from numproxy.sender.settings import SenderSettings


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
