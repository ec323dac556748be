"""The request body the sender posts to /sms/json."""

import httpx

from numproxy.common.sms_encoding import Encoding
from numproxy.common.vonage_signing import verify
from numproxy.sender.vonage import Credentials, OutboundSms, VonageClient

SMS = OutboundSms("+447700900001", "+447700900002", "hi & bye=ok", Encoding.GSM7, "ref-1")


def test_secret_auth_form() -> None:
    client = VonageClient(httpx.AsyncClient(), "http://x", Credentials("key", "secret"))
    form = client.build_form(SMS)
    assert form == {
        "api_key": "key",
        "api_secret": "secret",
        "from": "447700900001",
        "to": "447700900002",
        "text": "hi & bye=ok",
        "type": "text",
        "status-report-req": "1",
        "client-ref": "ref-1",
    }


def test_signature_auth_form_verifies_and_has_no_secret() -> None:
    creds = Credentials(
        "key", auth_method="signature", signature_secret="sigsecret", signature_method="sha256"
    )
    client = VonageClient(httpx.AsyncClient(), "http://x", creds, clock=lambda: 1_700_000_000)
    form = client.build_form(SMS)
    assert "api_secret" not in form
    assert form["timestamp"] == "1700000000"
    assert verify(form, "sigsecret", "sha256")


def test_credentials_repr_hides_secrets() -> None:
    creds = Credentials("key", "secret-value", signature_secret="sig-value")
    assert "secret-value" not in repr(creds)
    assert "sig-value" not in repr(creds)
