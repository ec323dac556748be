"""Sample webhooks, as Vonage sends them: inbound SMS, delivery receipts, Messages-API inbound."""

from __future__ import annotations

INBOUND = "/webhooks/inbound-sms"
MESSAGE = "/webhooks/inbound-message"
RECEIPT = "/webhooks/delivery-receipt"

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

DLR = {
    "msisdn": "4527631111",
    "to": "447700900002",
    "network-code": "23820",
    "messageId": "0C0000002EEBDA56",
    "price": "0.01820000",
    "status": "delivered",
    "scts": "1705021324",
    "err-code": "0",
    "api-key": "abcd1234",
    "client-ref": "outbound-42",
    "message-timestamp": "2017-05-02 11:24:03",
}

MESSAGES_API = {
    "to": "447700900002",
    "from": "447700900001",
    "channel": "sms",
    "message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    "timestamp": "2020-01-01T14:00:00.000Z",
    "message_type": "text",
    "text": "Hello from the Messages API",
    "usage": {"price": "0.0057", "currency": "EUR"},
    "sms": {"num_messages": "1", "count_total": "1"},
}
