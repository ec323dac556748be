"""Messages-API webhook authentication: ``Authorization: Bearer <JWT>``, HS256 with the
signature secret, whose ``payload_hash`` claim is the SHA-256 hex of the raw body."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import jwt

from numproxy.gateway.errors import unauthorized
from numproxy.gateway.sms_signature import check_timestamp


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def verify_message_token(
    authorization: str | None, body: bytes, *, secret: str, max_age: int, now: float
) -> dict[str, Any]:
    """The verified claims, or a 401 WebhookError.

    With no secret configured nothing is verified; the claims of a well-formed token are still
    returned (unverified) so the api_key can be read.
    """
    token = bearer_token(authorization)
    if not secret:
        return _unverified_claims(token) if token else {}
    if token is None:
        raise unauthorized("TOKEN_REQUIRED", "Authorization: Bearer <JWT> is required")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["payload_hash"], "verify_iat": False},
        )
    except jwt.InvalidTokenError as exc:
        raise unauthorized("TOKEN_INVALID", f"JWT rejected: {exc}") from None
    expected = hashlib.sha256(body).hexdigest()
    received = claims["payload_hash"]
    if not isinstance(received, str) or not hmac.compare_digest(
        expected.encode(), received.lower().encode()
    ):
        raise unauthorized("PAYLOAD_HASH_MISMATCH", "payload_hash does not match the body")
    if max_age > 0:
        check_timestamp(claims.get("iat"), field="iat", max_age=max_age, now=now)
    return claims


def _unverified_claims(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}
    return claims
