"""Phone numbers: E.164 normalisation and masking for logs and errors."""

from __future__ import annotations

import re

from numproxy.common.errors import InvalidArgument

_E164 = re.compile(r"^\+?([1-9][0-9]{6,14})$")
# A run of 7-15 digits (optionally after "+") that is not part of a longer token.
_NUMBER_IN_TEXT = re.compile(r"(?<![\w+-])\+?[0-9]{7,15}(?![\w-])")


def normalize(number: str, *, field: str = "number") -> str:
    """Return ``number`` as E.164 with a leading "+", or raise InvalidArgument.

    Accepts the forms Vonage uses (digits without "+") and E.164 with "+"; spaces, dashes,
    dots and parentheses are tolerated as formatting.
    """
    compact = re.sub(r"[\s().-]", "", number or "")
    match = _E164.match(compact)
    if not match:
        raise InvalidArgument(
            f"{field} must be an E.164 phone number (7-15 digits, optional leading +), "
            f"got {mask(number)!r}"
            if number
            else f"{field} is required",
            reason="INVALID_NUMBER",
            metadata={"field": field},
        )
    return "+" + match.group(1)


def digits(number: str) -> str:
    """E.164 without the "+", as Vonage's API wants it."""
    return number.lstrip("+")


def mask(number: str) -> str:
    """Mask a phone number for logs and pages: the country code and the last two digits stay
    (``+15550100123`` -> ``+1***23``); anything shorter than a number is ``***``."""
    if not number:
        return number
    plus = "+" if number.startswith("+") else ""
    body = re.sub(r"\D", "", number)  # formatting (and anything else) never shows
    if len(body) < 7:
        return plus + "***"
    return f"{plus}{country_calling_code(body)}***{body[-2:]}"


def mask_numbers_in(text: str) -> str:
    """Mask every phone-number-looking run of digits in free text (a log line, an error)."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask(m.group(0)), text)


def country_calling_code(number: str) -> str:
    """The ITU country calling code of an E.164 number ("+15550100" -> "1").

    Uses the fixed prefix structure of E.164 assignments: zones 1 and 7 are one digit; other
    codes are two digits when listed below, otherwise three.
    """
    body = digits(number)
    if body[:1] in ("1", "7"):
        return body[:1]
    if body[:2] in _TWO_DIGIT_CODES:
        return body[:2]
    return body[:3]


_TWO_DIGIT_CODES = frozenset(
    {"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46"}
    | {"47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62"}
    | {"63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"}
)
