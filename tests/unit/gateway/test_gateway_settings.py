"""NUMPROXY_GATEWAY_* variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from numproxy.common.settings import load_settings
from numproxy.gateway.settings import GatewaySettings


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SIGNATURE_SECRET", "SIGNATURE_METHOD", "SIGNATURE_MAX_AGE", "ALLOW_UNSIGNED"):
        monkeypatch.delenv(f"NUMPROXY_GATEWAY_{name}", raising=False)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("NUMPROXY_GATEWAY_SIGNATURE_SECRET", "s3cret")
    settings = GatewaySettings()
    assert (settings.signature_method, settings.signature_max_age) == ("md5hash", 300)
    assert settings.allow_unsigned is False
    assert settings.replay_cache_size == 100_000
    assert settings.port == 8080


def test_no_secret_is_refused_unless_unsigned_is_allowed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _clear(monkeypatch)
    with pytest.raises(SystemExit) as exited:
        load_settings(GatewaySettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line
    assert "NUMPROXY_GATEWAY_SIGNATURE_SECRET is not set" in err
    assert "NUMPROXY_GATEWAY_ALLOW_UNSIGNED=true" in err

    monkeypatch.setenv("NUMPROXY_GATEWAY_ALLOW_UNSIGNED", "true")
    settings = load_settings(GatewaySettings)
    assert settings.allow_unsigned and not settings.signature_secret.get_secret_value()


def test_signature_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMPROXY_GATEWAY_SIGNATURE_SECRET", "hunter2")
    monkeypatch.setenv("NUMPROXY_GATEWAY_SIGNATURE_METHOD", "sha512")
    monkeypatch.setenv("NUMPROXY_GATEWAY_SIGNATURE_MAX_AGE", "0")
    settings = GatewaySettings()
    assert settings.signature_secret.get_secret_value() == "hunter2"
    assert (settings.signature_method, settings.signature_max_age) == ("sha512", 0)
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [("SIGNATURE_METHOD", "sha3"), ("SIGNATURE_MAX_AGE", "-1"), ("REPLAY_CACHE_SIZE", "0")],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv("NUMPROXY_GATEWAY_SIGNATURE_SECRET", "s3cret")
    monkeypatch.setenv(f"NUMPROXY_GATEWAY_{name}", value)
    with pytest.raises(ValidationError):
        GatewaySettings()
