"""NUMPROXY_GATEWAY_* variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from numproxy.gateway.settings import GatewaySettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECRET", "METHOD", "MAX_AGE"):
        monkeypatch.delenv(f"NUMPROXY_GATEWAY_SIGNATURE_{name}", raising=False)
    settings = GatewaySettings()
    assert settings.signature_secret.get_secret_value() == ""
    assert (settings.signature_method, settings.signature_max_age) == ("md5hash", 300)
    assert settings.port == 8080


def test_signature_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMPROXY_GATEWAY_SIGNATURE_SECRET", "hunter2")
    monkeypatch.setenv("NUMPROXY_GATEWAY_SIGNATURE_METHOD", "sha512")
    monkeypatch.setenv("NUMPROXY_GATEWAY_SIGNATURE_MAX_AGE", "0")
    settings = GatewaySettings()
    assert settings.signature_secret.get_secret_value() == "hunter2"
    assert (settings.signature_method, settings.signature_max_age) == ("sha512", 0)
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(("name", "value"), [("METHOD", "sha3"), ("MAX_AGE", "-1")])
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"NUMPROXY_GATEWAY_SIGNATURE_{name}", value)
    with pytest.raises(ValidationError):
        GatewaySettings()
