import pytest

from numproxy.common.errors import InvalidArgument
from numproxy.common.numbers import country_calling_code, mask, mask_numbers_in, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("447700900000", "+447700900000"),
        ("+15550100123", "+15550100123"),
        ("+1 (555) 010-0123", "+15550100123"),
    ],
)
def test_normalize_accepts_e164_with_or_without_plus(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "+0123456789", "123", "+1234567890123456"])
def test_normalize_rejects_non_e164(raw: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        normalize(raw, field="to")
    assert caught.value.reason == "INVALID_NUMBER"
    assert caught.value.metadata == {"field": "to"}


def test_mask_keeps_only_country_code_and_last_two_digits() -> None:
    assert mask("+15550100123") == "+1***23"
    assert mask("447700900000") == "44***00"
    assert mask("+35312345678") == "+353***78"
    assert mask("+1 (555) 010-0123") == "+1***23"  # formatting never shows
    assert mask("12345") == "***"
    assert mask("not-a-number") == "***"


def test_mask_numbers_in_text_leaves_ids_alone() -> None:
    line = "from 447700900000 to +15550100123 id 0B00000042AC53BD uuid aaaa-12345678-bb"
    masked = mask_numbers_in(line)
    assert "447700900000" not in masked and "+15550100123" not in masked
    assert "0B00000042AC53BD" in masked and "aaaa-12345678-bb" in masked


def test_country_calling_codes() -> None:
    assert country_calling_code("+15550100123") == "1"
    assert country_calling_code("+447700900000") == "44"
    assert country_calling_code("+353861234567") == "353"
