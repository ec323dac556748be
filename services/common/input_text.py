"""What text from outside may hold: the one rule the gateway and the router both apply.

NUL and the other C0 control characters, except tab, LF, CR and FF (GSM-7 has LF, CR and FF),
and DEL are refused, not stripped: PostgreSQL cannot store NUL, and a message is never changed
on its way to the other phone. Identifiers (message ids, references, keys) hold no control
character at all.
"""

from __future__ import annotations

import re

_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_IN_IDENTIFIER = re.compile(r"[\x00-\x1f\x7f]")


def text_problem(value: str, max_chars: int) -> str:
    """Why ``value`` cannot be a message text ("" when it can)."""
    if len(value) > max_chars:
        return f"is longer than {max_chars} characters"
    if _IN_TEXT.search(value):
        return "contains NUL or another control character"
    return ""


def identifier_problem(value: str, max_chars: int) -> str:
    """Why ``value`` cannot be an identifier-like field ("" when it can)."""
    if len(value) > max_chars:
        return f"is longer than {max_chars} characters"
    if _IN_IDENTIFIER.search(value):
        return "contains a control character"
    return ""
