"""Messages-API JWT verification."""

from __future__ import annotations

import hashlib
from typing import Any

import jwt
import pytest

from numproxy.gateway.errors import WebhookError
from numproxy.gateway.message_token import bearer_token, verify_message_token

NOW = 1_700_000_000
SECRET = "messages-api-signature-secret-0123456789"
BODY = b'{"message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab", "text": "hi"}'


def token(body: bytes = BODY, secret: str = SECRET, **claims: Any) -> str:
    payload = {"iat": NOW, "payload_hash": hashlib.sha256(body).hexdigest(), "api_key": "k1"}
    payload.update(claims)
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, secret, algorithm="HS256"
    )


def verify(authorization: str | None, body: bytes = BODY, max_age: int = 300) -> dict[str, Any]:
    return verify_message_token(authorization, body, secret=SECRET, max_age=max_age, now=NOW)


def rejection(authorization: str | None, body: bytes = BODY, max_age: int = 300) -> str:
    with pytest.raises(WebhookError) as caught:
        verify(authorization, body, max_age)
    assert caught.value.status == 401
    return caught.value.code


def test_valid_token_returns_claims() -> None:
    assert verify(f"Bearer {token()}")["api_key"] == "k1"
    assert verify(f"bearer  {token()} ")["api_key"] == "k1"


def test_upper_case_payload_hash_is_accepted() -> None:
    upper = token(payload_hash=hashlib.sha256(BODY).hexdigest().upper())
    assert verify(f"Bearer {upper}")["api_key"] == "k1"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "TOKEN_REQUIRED"),
        ("", "TOKEN_REQUIRED"),
        (f"Basic {token()}", "TOKEN_REQUIRED"),
        ("Bearer ", "TOKEN_REQUIRED"),
        ("Bearer a.b.c", "TOKEN_INVALID"),
        (f"Bearer {token(secret='another-secret-that-is-long-enough-0123')}", "TOKEN_INVALID"),
        (f"Bearer {token(payload_hash=None)}", "TOKEN_INVALID"),
        (f"Bearer {token(body=b'other')}", "PAYLOAD_HASH_MISMATCH"),
        (f"Bearer {token(payload_hash=42)}", "PAYLOAD_HASH_MISMATCH"),
        (f"Bearer {token(payload_hash='ä' * 64)}", "PAYLOAD_HASH_MISMATCH"),
        (f"Bearer {token(iat=NOW - 301)}", "SIGNATURE_EXPIRED"),
        (f"Bearer {token(iat=None)}", "SIGNATURE_EXPIRED"),
        (f"Bearer {token(exp=NOW - 1)}", "TOKEN_INVALID"),
    ],
)
def test_rejected(authorization: str | None, code: str) -> None:
    assert rejection(authorization) == code


def test_hs512_is_not_accepted() -> None:
    claims = {"iat": NOW, "payload_hash": hashlib.sha256(BODY).hexdigest()}
    other_alg = jwt.encode(claims, SECRET * 2, "HS512")
    assert rejection(f"Bearer {other_alg}") == "TOKEN_INVALID"


def test_max_age_zero_ignores_iat() -> None:
    assert verify(f"Bearer {token(iat=None)}", max_age=0)["api_key"] == "k1"


def test_without_secret_claims_are_read_unverified() -> None:
    foreign = token(secret="whatever-secret-the-sender-used-0123456")
    claims = verify_message_token(f"Bearer {foreign}", b"x", secret="", max_age=300, now=NOW)
    assert claims["api_key"] == "k1"
    assert verify_message_token("Bearer junk", b"x", secret="", max_age=300, now=NOW) == {}
    assert verify_message_token(None, b"x", secret="", max_age=300, now=NOW) == {}


def test_bearer_token() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("Token abc") is None
    assert bearer_token(None) is None
