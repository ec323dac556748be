"""Reading single webhook fields, each failure a 400 that names the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from numproxy.common.errors import InvalidArgument
from numproxy.common.input_text import identifier_problem, text_problem
from numproxy.common.numbers import normalize
from numproxy.common.sms_encoding import MAX_TEXT_CHARS
from numproxy.gateway.errors import bad_request

# The router's columns for message ids, concat-ref and api-key.
MAX_ID_CHARS = 64
# Vonage ids: 16 hex digits (older) or UUIDs (newer); accept any short id of that alphabet.
_MESSAGE_ID = re.compile(rf"^[0-9A-Za-z-]{{1,{MAX_ID_CHARS}}}$")
# Other short fields (api-key, concat-ref, client-ref, status, network-code, price...).
MAX_FIELD_CHARS = 100
_MAX_TIMESTAMP_CHARS = 40
# Message times before this are not times the provider sends (and the far past is where
# time-zone offsets overflow).
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


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


def text(params: Mapping[str, str], field: str) -> str:
    """A message text: at most MAX_TEXT_CHARS, no NUL or other control character (see
    common/input_text.py)."""
    value = params[field]
    problem = text_problem(value, MAX_TEXT_CHARS)
    if problem:
        raise bad_request("INVALID_TEXT", f"{field} {problem}")
    return value


def short(params: Mapping[str, str], field: str, max_chars: int = MAX_FIELD_CHARS) -> str:
    """An optional short field ("" when absent): bounded, without control characters."""
    value = params.get(field, "")
    problem = identifier_problem(value, max_chars)
    if problem:
        raise bad_request("INVALID_PARAMETER", f"{field} {problem}")
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
    invalid = bad_request(
        "INVALID_PARAMETER",
        f"{field} must be a UTC time like 2017-05-01 21:52:49, from 1970 to 9999",
    )
    if len(value) > _MAX_TIMESTAMP_CHARS:
        raise invalid
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # An offset can carry a time past year 1 or 9999 once in UTC.
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid from None
    if moment < _EARLIEST:
        raise invalid
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
