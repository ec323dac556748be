"""Signed SMS-API webhooks: ``sig`` over every received parameter, plus a
timestamp window against replays."""

from __future__ import annotations

from collections.abc import Mapping

from numproxy.common.vonage_signing import SignatureMethod, verify
from numproxy.gateway.errors import unauthorized


def check_sms_signature(
    params: Mapping[str, str],
    *,
    secret: str,
    method: SignatureMethod,
    max_age: int,
    now: float,
) -> None:
    """Raise a 401 WebhookError unless ``params`` carry a valid, fresh ``sig``.

    Does nothing when ``secret`` is empty (signatures not required).
    """
    if not secret:
        return
    if not params.get("sig"):
        raise unauthorized("SIGNATURE_REQUIRED", "request is not signed (no sig parameter)")
    if not verify(params, secret, method):
        raise unauthorized("SIGNATURE_INVALID", f"sig does not match ({method})")
    if max_age > 0:
        check_timestamp(params.get("timestamp"), field="timestamp", max_age=max_age, now=now)


def check_timestamp(value: object, *, field: str, max_age: int, now: float) -> None:
    """Raise a 401 WebhookError unless ``value`` (Unix seconds) is within ±max_age of now."""
    stamp: float
    if isinstance(value, int | float) and not isinstance(value, bool):
        stamp = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        stamp = int(value)
    else:
        raise unauthorized("SIGNATURE_EXPIRED", f"signed request needs {field} (Unix seconds)")
    if abs(now - stamp) > max_age:
        raise unauthorized(
            "SIGNATURE_EXPIRED", f"{field} is more than {max_age}s away from the server clock"
        )
