"""Reading single webhook fields, each failure a 400 that names the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from numproxy.common.errors import InvalidArgument
from numproxy.common.numbers import normalize
from numproxy.gateway.errors import bad_request

# Vonage ids: 16 hex digits (older) or UUIDs (newer); accept any short id of that alphabet.
_MESSAGE_ID = re.compile(r"^[0-9A-Za-z-]{1,100}$")


def required(params: Mapping[str, str], field: str) -> str:
    value = params.get(field)
    if value is None or value == "":
        raise bad_request("MISSING_PARAMETER", f"{field} is required")
    return value


def message_id(params: Mapping[str, str], field: str) -> str:
    value = required(params, field)
    if not _MESSAGE_ID.match(value):
        raise bad_request("INVALID_PARAMETER", f"{field} must be a provider message id")
    return value


def phone_number(params: Mapping[str, str], field: str) -> str:
    """The field as +E164."""
    value = required(params, field)
    try:
        return normalize(value, field=field)
    except InvalidArgument as exc:
        raise bad_request(exc.reason, exc.message) from None


def integer(
    params: Mapping[str, str], field: str, *, minimum: int = 0, maximum: int = 2**31 - 1
) -> int | None:
    """The field as an int from ``minimum`` to ``maximum``, None when absent or empty."""
    value = params.get(field, "")
    if value == "":
        return None
    # The length check first: int() of a huge digit string is slow, or refused.
    digits = value.isascii() and value.isdigit() and len(value) <= len(str(maximum))
    if not digits or not minimum <= int(value) <= maximum:
        raise bad_request(
            "INVALID_PARAMETER", f"{field} must be an integer from {minimum} to {maximum}"
        )
    return int(value)


def timestamp(params: Mapping[str, str], field: str) -> Timestamp | None:
    """``YYYY-MM-DD HH:MM:SS`` (or ISO-8601) as a Timestamp; naive times are UTC."""
    value = params.get(field, "")
    if value == "":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(
            "INVALID_PARAMETER", f"{field} must be a UTC time like 2017-05-01 21:52:49"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
