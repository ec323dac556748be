"""SMS encoding choice and part counting, as Vonage bills it.

GSM-7 (Vonage ``type=text``) when every character is in the GSM 03.38 basic or extension
table (extension characters take two septets): 160 septets in one SMS, 153 per part of a
concatenated one. Anything else is UCS-2 (``type=unicode``), counted in UTF-16 code units:
70 in one SMS, 67 per part. A two-unit character is never split across parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("|^€{}[]~\\\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
# Parts of one concatenated SMS at most: its user data header counts them in one byte.
MAX_CONCAT_PARTS = 255
# Characters of one message at most (the provider accepts up to 3200; longer is refused).
MAX_TEXT_CHARS = 3200


class Encoding(StrEnum):
    """The value is Vonage's ``type`` parameter."""

    GSM7 = "text"
    UCS2 = "unicode"


@dataclass(frozen=True, slots=True)
class Plan:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def choose_encoding(text: str) -> Encoding:
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def char_units(char: str, encoding: Encoding) -> int:
    """Septets (GSM-7; a character outside the tables is sent as "?", one septet) or UTF-16
    code units (UCS-2) one character takes."""
    if encoding is Encoding.GSM7:
        return 2 if char in GSM7_EXTENDED else 1
    return 2 if ord(char) > 0xFFFF else 1


def units(text: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return len(text) + sum(1 for c in text if c in GSM7_EXTENDED)
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def limits(encoding: Encoding) -> tuple[int, int]:
    """(units in a single SMS, units per part of a concatenated one)."""
    return (GSM7_SINGLE, GSM7_PART) if encoding is Encoding.GSM7 else (UCS2_SINGLE, UCS2_PART)


def split(text: str, encoding: Encoding) -> list[str]:
    """The text of each SMS part (one part for text that fits a single SMS, also when empty)."""
    single, per_part = limits(encoding)
    if units(text, encoding) <= single:
        return [text]
    parts: list[str] = []
    start, used = 0, 0
    for index, char in enumerate(text):
        cost = char_units(char, encoding)
        if used + cost > per_part:
            parts.append(text[start:index])
            start, used = index, 0
        used += cost
    parts.append(text[start:])
    return parts


def count_parts(text: str, encoding: Encoding) -> int:
    single, _ = limits(encoding)
    if units(text, encoding) <= single:
        return 1
    return len(split(text, encoding))


def plan(text: str) -> Plan:
    """Encoding, size and part count of ``text`` sent with the encoding it needs."""
    encoding = choose_encoding(text)
    return Plan(encoding, units(text, encoding), count_parts(text, encoding))
