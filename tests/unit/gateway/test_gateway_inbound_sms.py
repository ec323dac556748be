"""SMS-API inbound parameters -> ReceiveSmsRequest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from numproxy.gateway.errors import WebhookError
from numproxy.gateway.inbound_sms import parse_inbound_sms
from numproxy.internal.v1 import inbound_pb2

SMS = {
    "msisdn": "447700900001",
    "to": "447700900002",
    "messageId": "0B00000042AC53BD",
    "text": "Hello world",
    "type": "text",
    "keyword": "HELLO",
    "api-key": "abcd1234",
    "message-timestamp": "2017-05-01 21:52:49",
}


def error_of(params: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(WebhookError) as caught:
        parse_inbound_sms(params)
    return caught.value.status, caught.value.code


def test_text_message() -> None:
    sms = parse_inbound_sms(SMS)
    assert (sms.message_id, sms.api_key) == ("0B00000042AC53BD", "abcd1234")
    assert (sms.from_number, sms.to_number) == ("+447700900001", "+447700900002")
    assert (sms.text, sms.type) == ("Hello world", inbound_pb2.MESSAGE_TYPE_TEXT)
    assert sms.message_time.ToDatetime(UTC) == datetime(2017, 5, 1, 21, 52, 49, tzinfo=UTC)
    assert (sms.concat_ref, sms.concat_total, sms.concat_part) == ("", 0, 0)


def test_uuid_message_id_and_plus_numbers_are_accepted() -> None:
    sms = parse_inbound_sms(
        dict(SMS, messageId="aaaaaaaa-bbbb-cccc-dddd-0123456789ab", msisdn="+447700900001")
    )
    assert sms.message_id == "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
    assert sms.from_number == "+447700900001"


def test_empty_text_is_a_message() -> None:
    assert parse_inbound_sms(dict(SMS, text="")).text == ""


def test_missing_type_means_text() -> None:
    params = {k: v for k, v in SMS.items() if k != "type"}
    assert parse_inbound_sms(params).type == inbound_pb2.MESSAGE_TYPE_TEXT


def test_unicode_message() -> None:
    sms = parse_inbound_sms(dict(SMS, type="unicode", text="日本語 🎉"))
    assert (sms.type, sms.text) == (inbound_pb2.MESSAGE_TYPE_UNICODE, "日本語 🎉")


def test_binary_message_keeps_data_and_udh_and_drops_text() -> None:
    sms = parse_inbound_sms(dict(SMS, type="binary", data="0102", udh="050003cc0201"))
    assert (sms.type, sms.data, sms.udh, sms.text) == (
        inbound_pb2.MESSAGE_TYPE_BINARY,
        "0102",
        "050003cc0201",
        "",
    )


def test_concat_fields() -> None:
    params = dict(
        SMS, concat="true", **{"concat-ref": "08B5", "concat-total": "3", "concat-part": "3"}
    )
    sms = parse_inbound_sms(params)
    assert (sms.concat_ref, sms.concat_total, sms.concat_part) == ("08B5", 3, 3)


def test_the_largest_concatenated_sms_is_accepted() -> None:
    sms = parse_inbound_sms(
        dict(
            SMS,
            concat="true",
            **{"concat-ref": "08B5", "concat-total": "255", "concat-part": "255"},
        )
    )
    assert (sms.concat_total, sms.concat_part) == (255, 255)


def test_partial_concat_fields_pass_through() -> None:
    sms = parse_inbound_sms(dict(SMS, **{"concat-ref": "08B5", "concat-part": "2"}))
    assert (sms.concat_ref, sms.concat_total, sms.concat_part) == ("08B5", 0, 2)


def test_iso_timestamp_with_offset_is_converted_to_utc() -> None:
    sms = parse_inbound_sms(dict(SMS, **{"message-timestamp": "2017-05-01T23:52:49+02:00"}))
    assert sms.message_time.ToDatetime(UTC) == datetime(2017, 5, 1, 21, 52, 49, tzinfo=UTC)


def test_missing_timestamp_leaves_it_unset() -> None:
    params = {k: v for k, v in SMS.items() if k != "message-timestamp"}
    assert not parse_inbound_sms(params).HasField("message_time")


@pytest.mark.parametrize("field", ["msisdn", "to", "messageId", "text"])
def test_missing_required_field(field: str) -> None:
    params = {k: v for k, v in SMS.items() if k != field}
    assert error_of(params) == (400, "MISSING_PARAMETER")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"msisdn": "abc"}, "INVALID_NUMBER"),
        ({"to": "+0123456789"}, "INVALID_NUMBER"),
        ({"msisdn": "1234567890123456"}, "INVALID_NUMBER"),
        ({"messageId": "0B00/42"}, "INVALID_PARAMETER"),
        ({"messageId": "x" * 101}, "INVALID_PARAMETER"),
        ({"type": "Text"}, "INVALID_PARAMETER"),
        ({"message-timestamp": "01/05/2017"}, "INVALID_PARAMETER"),
        ({"concat-total": "0"}, "INVALID_PARAMETER"),
        ({"concat-part": "\u0661"}, "INVALID_PARAMETER"),  # ARABIC-INDIC DIGIT ONE
        ({"concat-total": "2", "concat-part": "3"}, "INVALID_PARAMETER"),
        ({"concat-total": "99999999999"}, "INVALID_PARAMETER"),
        # The poison pill that once made the router build every part number.
        ({"concat-total": "2147483647", "concat-part": "1"}, "INVALID_PARAMETER"),
        ({"concat-total": "256", "concat-part": "1"}, "INVALID_PARAMETER"),
        ({"concat-part": "256"}, "INVALID_PARAMETER"),
        ({"concat-total": "9" * 5000}, "INVALID_PARAMETER"),
        ({"concat-ref": "r" * 65}, "INVALID_PARAMETER"),
        ({"concat-ref": "08\x00B5"}, "INVALID_PARAMETER"),
        ({"api-key": "k" * 65}, "INVALID_PARAMETER"),
        ({"api-key": "abcd\n1234"}, "INVALID_PARAMETER"),
        ({"text": "x" * 3201}, "INVALID_TEXT"),
        ({"text": "nul \x00 inside"}, "INVALID_TEXT"),
        ({"text": "bell \x07"}, "INVALID_TEXT"),
        ({"text": "del \x7f"}, "INVALID_TEXT"),
        ({"message-timestamp": "0001-01-01T00:00:00+14:00"}, "INVALID_PARAMETER"),
        ({"message-timestamp": "9999-12-31T23:59:59-14:00"}, "INVALID_PARAMETER"),
        ({"message-timestamp": "1969-12-31 23:59:59"}, "INVALID_PARAMETER"),
        ({"message-timestamp": "2017-05-01 21:52:49" + " " * 40}, "INVALID_PARAMETER"),
        ({"type": "binary", "data": "00" * 1601}, "INVALID_PARAMETER"),
        ({"type": "binary", "data": "0102", "udh": "05\x00"}, "INVALID_PARAMETER"),
    ],
)
def test_malformed_field(change: dict[str, str], code: str) -> None:
    assert error_of(dict(SMS, **change)) == (400, code)


def test_text_up_to_the_limit_with_line_breaks_is_accepted() -> None:
    start = "line one\r\nline two\ttabbed\f"
    text = start + "x" * (3200 - len(start))
    assert parse_inbound_sms(dict(SMS, text=text)).text == text


def test_error_message_masks_the_number() -> None:
    with pytest.raises(WebhookError) as caught:
        parse_inbound_sms(dict(SMS, msisdn="4477009000012345678"))
    assert "4477009000012345678" not in caught.value.message
    assert "msisdn" in caught.value.message
