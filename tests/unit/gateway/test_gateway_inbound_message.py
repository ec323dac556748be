"""Messages-API inbound JSON -> ReceiveSmsRequest."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from numproxy.gateway.errors import WebhookError
from numproxy.gateway.inbound_message import parse_inbound_message
from numproxy.internal.v1 import inbound_pb2

MESSAGE: dict[str, Any] = {
    "to": "447700900002",
    "from": "447700900001",
    "channel": "sms",
    "message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    "timestamp": "2020-01-01T14:00:00.000Z",
    "message_type": "text",
    "text": "Hello",
    "usage": {"price": "0.0057", "currency": "EUR"},
    "sms": {"num_messages": "1", "count_total": "1"},
}


def body(**change: Any) -> bytes:
    return json.dumps({k: v for k, v in {**MESSAGE, **change}.items() if v is not None}).encode()


def test_fields_and_api_key_from_claims() -> None:
    sms = parse_inbound_message(body(), {"api_key": "abcd1234"})
    assert sms.message_id == "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
    assert (sms.from_number, sms.to_number) == ("+447700900001", "+447700900002")
    assert (sms.text, sms.type, sms.api_key) == ("Hello", inbound_pb2.MESSAGE_TYPE_TEXT, "abcd1234")
    assert sms.message_time.ToDatetime(UTC) == datetime(2020, 1, 1, 14, 0, tzinfo=UTC)


def test_no_claims_means_no_api_key() -> None:
    assert parse_inbound_message(body(), {}).api_key == ""
    assert parse_inbound_message(body(), {"api_key": 42}).api_key == ""


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"message_uuid": None}, "MISSING_PARAMETER"),
        ({"from": None}, "MISSING_PARAMETER"),
        ({"from": {"type": "sms", "number": "447700900001"}}, "MISSING_PARAMETER"),
        ({"to": "shortcode"}, "INVALID_NUMBER"),
        ({"text": None}, "MISSING_PARAMETER"),
        ({"channel": "whatsapp"}, "UNSUPPORTED_CHANNEL"),
        ({"message_type": "image"}, "UNSUPPORTED_MESSAGE_TYPE"),
        ({"timestamp": "last tuesday"}, "INVALID_PARAMETER"),
        ({"timestamp": "0001-01-01T00:00:00+14:00"}, "INVALID_PARAMETER"),
        ({"text": "x" * 3201}, "INVALID_TEXT"),
        ({"text": "a\u0000b"}, "INVALID_TEXT"),
        ({"usage": {"a": [[[[[[[[["deep"]]]]]]]]]}}, "JSON_TOO_DEEP"),
    ],
)
def test_bad_message(change: dict[str, Any], code: str) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_inbound_message(body(**change), {})
    assert (caught.value.status, caught.value.code) == (400, code)


def test_api_key_claim_is_bounded() -> None:
    with pytest.raises(WebhookError) as caught:
        parse_inbound_message(body(), {"api_key": "k" * 65})
    assert (caught.value.status, caught.value.code) == (400, "INVALID_PARAMETER")


def test_not_json_is_400() -> None:
    with pytest.raises(WebhookError) as caught:
        parse_inbound_message(b"text=hi", {})
    assert caught.value.code == "INVALID_BODY"
