"""The one rule for text from outside: which characters a message text and an identifier may
hold, and how long they may be."""

from __future__ import annotations

import pytest

from numproxy.common.input_text import identifier_problem, text_problem


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "\f", " ", "é", "€", "🎉", "\u0085"])
def test_text_may_hold_line_breaks_tabs_and_any_printable_character(char: str) -> None:
    assert text_problem(f"a{char}b", 10) == ""


@pytest.mark.parametrize("code", [*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
def test_text_may_not_hold_nul_or_other_control_characters(code: int) -> None:
    assert text_problem(f"a{chr(code)}b", 10) == "contains NUL or another control character"


@pytest.mark.parametrize("code", [*range(0x00, 0x20), 0x7F])
def test_identifiers_hold_no_control_character_at_all(code: int) -> None:
    assert identifier_problem(f"id{chr(code)}", 10) == "contains a control character"


def test_length_bounds() -> None:
    assert text_problem("x" * 3200, 3200) == ""
    assert text_problem("x" * 3201, 3200) == "is longer than 3200 characters"
    assert identifier_problem("x" * 64, 64) == ""
    assert identifier_problem("x" * 65, 64) == "is longer than 64 characters"
