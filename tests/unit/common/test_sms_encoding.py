"""GSM-7 vs UCS-2 choice and part counting (160/153, 70/67)."""

import pytest

from numproxy.common.sms_encoding import Encoding, count_parts, plan, split

EXTENDED = "|^€{}[]~\\"


def test_plain_ascii_is_gsm7_one_part() -> None:
    result = plan("Hello, see you at 5pm @ the café!")
    assert result.encoding is Encoding.GSM7
    assert result.parts == 1


@pytest.mark.parametrize("char", list(EXTENDED))
def test_extended_chars_stay_gsm7_and_count_two(char: str) -> None:
    result = plan(f"a{char}b")
    assert result.encoding is Encoding.GSM7
    assert result.units == 4


def test_non_gsm_char_switches_to_ucs2() -> None:
    assert plan("price: 5 ₹").encoding is Encoding.UCS2
    assert plan("hi 😀").encoding is Encoding.UCS2
    assert plan("Ça va? ç").encoding is Encoding.UCS2  # lower-case ç is not in GSM 03.38


@pytest.mark.parametrize(
    ("length", "parts"), [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3)]
)
def test_gsm7_boundaries(length: int, parts: int) -> None:
    text = "a" * length
    assert plan(text).parts == parts
    assert Encoding("text") is plan(text).encoding


@pytest.mark.parametrize(("length", "parts"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_boundaries(length: int, parts: int) -> None:
    text = "ж" * length
    result = plan(text)
    assert result.encoding is Encoding.UCS2
    assert result.parts == parts


def test_extended_chars_push_over_the_single_limit() -> None:
    assert plan("a" * 158 + "€").parts == 1  # 160 septets
    assert plan("a" * 159 + "€").parts == 2  # 161 septets


def test_escape_pair_is_not_split_across_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10
    parts = split(text, Encoding.GSM7)
    assert parts == ["a" * 152, "€" + "b" * 10]


def test_emoji_counts_two_units_and_is_kept_whole() -> None:
    text = "x" * 66 + "😀" + "y" * 5
    assert plan(text).units == 73
    parts = split(text, Encoding.UCS2)
    assert parts == ["x" * 66, "😀" + "y" * 5]
    assert "".join(parts) == text


def test_non_gsm_char_sent_as_text_counts_as_one_septet() -> None:
    assert count_parts("₹" * 160, Encoding.GSM7) == 1
