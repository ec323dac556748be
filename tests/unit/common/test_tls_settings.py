"""The TLS settings every service mixes in: complete, existing files, or explicit plaintext."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from numproxy.common import local_ca
from numproxy.common.settings import load_settings
from numproxy.common.tls import ServerAuth
from numproxy.router.settings import RouterSettings
from tests.support.tls import identity


@pytest.fixture(autouse=True)
def no_transport_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALLOW_PLAINTEXT", "TLS_CERT", "TLS_KEY", "TLS_CA"):
        monkeypatch.delenv(f"NUMPROXY_ROUTER_{name}", raising=False)


def refusal(capsys: pytest.CaptureFixture[str], **values: object) -> str:
    with pytest.raises(SystemExit) as exited:
        load_settings(RouterSettings, values)
    assert exited.value.code == 2
    return capsys.readouterr().err.strip()


def test_half_a_configuration_names_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    files = identity("router")
    message = refusal(capsys, tls_cert=str(files.cert))
    assert message == (
        "invalid configuration: NUMPROXY_ROUTER_TLS_CA, NUMPROXY_ROUTER_TLS_KEY not set: TLS "
        "needs the certificate, its key and the CA bundle"
    )


def test_bad_token_entries_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    message = refusal(capsys, allow_plaintext=True, auth_tokens={"ci": "not-a-hash"})
    assert message.startswith("invalid configuration: --auth-tokens:")  # given as a flag
    assert "64 lowercase hex digits" in message


def test_certificates_win_over_plaintext() -> None:
    files = identity("router")
    settings = load_settings(
        RouterSettings,
        {
            "tls_cert": str(files.cert),
            "tls_key": str(files.key),
            "tls_ca": str(files.ca),
            "allow_plaintext": True,
            "health_port": 8086,
        },
    )
    auth = ServerAuth.from_settings(settings)
    assert auth.tls is not None and auth.tls.cert == files.cert.read_bytes()
    assert auth.health_port == 8086
    client = settings.client_tls()
    assert client is not None and client.key == files.key.read_bytes()
    plaintext = load_settings(RouterSettings, {"allow_plaintext": True})
    assert ServerAuth.from_settings(plaintext).tls is None and plaintext.client_tls() is None


def test_certificates_close_to_expiry_are_remade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Shorter-lived than the renewal margin: every call finds them expiring.
    monkeypatch.setattr(local_ca, "VALIDITY", datetime.timedelta(hours=12))
    first = local_ca.ensure_local_ca(tmp_path, ["sender"])["sender"]
    ca, cert = first.ca.read_bytes(), first.cert.read_bytes()
    again = local_ca.ensure_local_ca(tmp_path, ["sender"])["sender"]
    assert again.ca.read_bytes() != ca and again.cert.read_bytes() != cert
