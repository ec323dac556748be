"""Inbound webhook payloads: concat fields, split, shuffle; receipts."""

import pytest

from numproxy.simulator.core import BadRequest, InboundRequest
from numproxy.simulator.payloads import delivery_receipt, inbound_message, inbound_sms
from numproxy.simulator.state import MessageIds


def test_single_part_has_no_concat_fields() -> None:
    [payload] = inbound_sms("4477001", "4477002", "stop now", api_key="k", ids=MessageIds(), now=0)
    assert payload["keyword"] == "STOP"
    assert payload["type"] == "text"
    assert payload["message-timestamp"] == "1970-01-01 00:00:00"
    assert "concat" not in payload


def test_split_by_encoding_limits() -> None:
    text = "a" * 200
    parts = inbound_sms("1", "2", text, api_key="k", ids=MessageIds(), now=0, split=True)
    assert [len(p["text"]) for p in parts] == [153, 47]
    assert {p["concat-total"] for p in parts} == {"2"}
    assert [p["concat-part"] for p in parts] == ["1", "2"]
    assert len({p["concat-ref"] for p in parts}) == 1
    assert len({p["messageId"] for p in parts}) == 2


def test_split_in_n_and_shuffle_keeps_correct_fields() -> None:
    text = "hello there, friend"
    parts = inbound_sms("1", "2", text, api_key="k", ids=MessageIds(), now=0, split=3, shuffle=True)
    assert [p["concat-part"] for p in parts] != ["1", "2", "3"]
    ordered = sorted(parts, key=lambda p: int(p["concat-part"]))
    assert "".join(p["text"] for p in ordered) == text
    assert all(p["concat"] == "true" and p["concat-total"] == "3" for p in parts)


def test_unicode_inbound() -> None:
    [payload] = inbound_sms("1", "2", "привет", api_key="k", ids=MessageIds(), now=0)
    assert payload["type"] == "unicode"


def test_messages_api_shape() -> None:
    message = inbound_message("4477001", "4477002", "hi", now=0)
    assert message["channel"] == "sms"
    assert message["from"] == "4477001"
    assert message["sms"] == {"num_messages": "1", "count_total": "1"}


def test_receipt_fields() -> None:
    record = {"to": "4477002", "from": "4477001", "api_key": "k", "client_ref": "ref"}
    receipt = delivery_receipt(record, "ID1", status="failed", price="0.1", network="1", now=0)
    assert receipt["msisdn"] == "4477002"
    assert receipt["to"] == "4477001"
    assert receipt["err-code"] == "8"
    assert receipt["client-ref"] == "ref"
    assert receipt["scts"] == "7001010000"


@pytest.mark.parametrize(
    "change",
    [{"split": 256, "text": "x" * 256}, {"split": True, "text": "x" * 153 * 256}, {"split": -2}],
)
def test_inbound_request_is_bounded_like_a_real_sms(change: dict[str, object]) -> None:
    request = {"from": "15550001111", "to": "15550002222", "text": "hello", **change}
    with pytest.raises(BadRequest):
        InboundRequest.parse(request)


def test_inbound_request_of_255_parts_is_accepted() -> None:
    text = "x" * 255
    request = {"from": "15550001111", "to": "15550002222", "text": text, "split": 255}
    assert InboundRequest.parse(request).split == 255
