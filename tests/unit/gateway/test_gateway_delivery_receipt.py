"""Delivery receipt parameters -> ReceiveDeliveryReceiptRequest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from numproxy.gateway.delivery_receipt import parse_delivery_receipt
from numproxy.gateway.errors import WebhookError

# Vonage's documented sample receipt, decoded, plus the optional fields.
DLR = {
    "msisdn": "4527631111",
    "to": "Tak",
    "network-code": "23820",
    "messageId": "0C0000002EEBDA56",
    "price": "0.01820000",
    "status": "delivered",
    "scts": "1705021324",
    "err-code": "0",
    "message-timestamp": "2017-05-02 11:24:03",
    "client-ref": "outbound-7",
    "api-key": "abcd1234",
}


def test_reference_sample() -> None:
    receipt = parse_delivery_receipt(DLR)
    assert receipt.message_id == "0C0000002EEBDA56"
    assert receipt.recipient_number == "+4527631111"
    assert receipt.sender_id == "Tak"
    assert (receipt.status, receipt.error_code) == ("delivered", 0)
    assert (receipt.client_ref, receipt.network_code, receipt.price, receipt.api_key) == (
        "outbound-7",
        "23820",
        "0.01820000",
        "abcd1234",
    )
    assert receipt.message_time.ToDatetime(UTC) == datetime(2017, 5, 2, 11, 24, 3, tzinfo=UTC)


def test_numeric_sender_id_is_normalized_and_status_lower_cased() -> None:
    receipt = parse_delivery_receipt(
        dict(DLR, to="447700900002", status="FAILED", **{"err-code": "9"})
    )
    assert (receipt.sender_id, receipt.status, receipt.error_code) == ("+447700900002", "failed", 9)


def test_missing_err_code_is_zero_and_optional_fields_empty() -> None:
    minimal = {k: DLR[k] for k in ("msisdn", "messageId", "status")}
    receipt = parse_delivery_receipt(minimal)
    assert (receipt.error_code, receipt.client_ref, receipt.sender_id) == (0, "", "")
    assert not receipt.HasField("message_time")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"messageId": None}, "MISSING_PARAMETER"),
        ({"status": None}, "MISSING_PARAMETER"),
        ({"msisdn": None}, "MISSING_PARAMETER"),
        ({"msisdn": "Tak"}, "INVALID_NUMBER"),
        ({"err-code": "x"}, "INVALID_PARAMETER"),
        ({"message-timestamp": "soon"}, "INVALID_PARAMETER"),
        ({"message-timestamp": "0001-01-01T00:00:00+14:00"}, "INVALID_PARAMETER"),
        ({"status": "deliv\x00ered"}, "INVALID_PARAMETER"),
        ({"status": "d" * 21}, "INVALID_PARAMETER"),
        ({"client-ref": "c" * 101}, "INVALID_PARAMETER"),
        ({"client-ref": "0193\x00"}, "INVALID_PARAMETER"),
        ({"network-code": "2382\x000"}, "INVALID_PARAMETER"),
        ({"price": "0" * 101}, "INVALID_PARAMETER"),
        ({"to": "T" * 101}, "INVALID_PARAMETER"),
    ],
)
def test_bad_receipt(change: dict[str, str | None], code: str) -> None:
    params = {k: v for k, v in {**DLR, **change}.items() if v is not None}
    with pytest.raises(WebhookError) as caught:
        parse_delivery_receipt(params)
    assert (caught.value.status, caught.value.code) == (400, code)
