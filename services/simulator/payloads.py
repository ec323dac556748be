"""What Vonage puts in its webhooks: inbound SMS (SMS API and Messages API) and delivery
receipts. Values are strings, field names are Vonage's."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from numproxy.common.sms_encoding import Encoding, choose_encoding
from numproxy.common.sms_encoding import split as split_text
from numproxy.simulator.state import MessageIds, concat_ref

# err-code a receipt carries for each status.
DLR_ERROR_CODES = {
    "delivered": "0",
    "accepted": "0",
    "buffered": "0",
    "expired": "1",
    "unknown": "1",
    "failed": "8",
    "rejected": "6",
}


def message_timestamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S")


def split_parts(text: str, split: bool | int) -> list[str]:
    """The parts an inbound text arrives in: by the encoding's limits (``True``), or in
    ``split`` roughly equal pieces (an int, for tests that want short multipart texts)."""
    if split is True:
        return split_text(text, choose_encoding(text))
    if isinstance(split, int) and split > 1:
        count = min(split, len(text))
        size, extra = divmod(len(text), count)
        parts, start = [], 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            parts.append(text[start:end])
            start = end
        return parts
    return [text]


def inbound_sms(
    from_digits: str,
    to_digits: str,
    text: str,
    *,
    api_key: str,
    ids: MessageIds,
    now: float,
    split: bool | int = False,
    shuffle: bool = False,
) -> list[dict[str, str]]:
    """SMS-API inbound webhook fields, one dict per part, in delivery order."""
    kind = "text" if choose_encoding(text) is Encoding.GSM7 else "unicode"
    parts = split_parts(text, split)
    words = text.split()
    base = {
        "msisdn": from_digits,
        "to": to_digits,
        "type": kind,
        "keyword": words[0].upper() if words else "",
        "message-timestamp": message_timestamp(now),
        "api-key": api_key,
    }
    payloads = []
    ref = concat_ref()
    for number, part in enumerate(parts, start=1):
        payload = {**base, "messageId": ids.next(), "text": part}
        if len(parts) > 1:
            payload.update(
                {
                    "concat": "true",
                    "concat-ref": ref,
                    "concat-total": str(len(parts)),
                    "concat-part": str(number),
                }
            )
        payloads.append(payload)
    if shuffle and len(payloads) > 1:
        original = list(payloads)
        while payloads == original:
            random.shuffle(payloads)
    return payloads


def inbound_message(from_digits: str, to_digits: str, text: str, *, now: float) -> dict[str, Any]:
    """Messages-API v1 inbound SMS (the provider joins multipart texts itself)."""
    parts = len(split_text(text, choose_encoding(text)))
    return {
        "to": to_digits,
        "from": from_digits,
        "channel": "sms",
        "message_uuid": str(uuid.uuid4()),
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        "message_type": "text",
        "text": text,
        "usage": {"price": "0.0057", "currency": "EUR"},
        "sms": {"num_messages": str(parts), "count_total": str(parts)},
    }


def delivery_receipt(
    record: dict[str, Any],
    message_id: str,
    *,
    status: str,
    price: str,
    network: str,
    now: float,
) -> dict[str, str]:
    """Receipt fields for one accepted part of the outbox ``record``."""
    stamp = datetime.fromtimestamp(now, UTC)
    receipt = {
        "msisdn": record["to"],
        "to": record["from"],
        "network-code": network,
        "messageId": message_id,
        "price": price,
        "status": status,
        "scts": stamp.strftime("%y%m%d%H%M"),
        "err-code": DLR_ERROR_CODES.get(status, "99"),
        "api-key": record["api_key"],
        "message-timestamp": message_timestamp(now),
    }
    if record["client_ref"]:
        receipt["client-ref"] = record["client_ref"]
    return receipt
