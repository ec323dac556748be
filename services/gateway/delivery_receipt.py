"""SMS-API delivery receipt parameters -> ReceiveDeliveryReceiptRequest."""

from __future__ import annotations

from collections.abc import Mapping

from numproxy.common.errors import InvalidArgument
from numproxy.common.numbers import normalize
from numproxy.gateway import fields
from numproxy.internal.v1 import inbound_pb2


def parse_delivery_receipt(
    params: Mapping[str, str],
) -> inbound_pb2.ReceiveDeliveryReceiptRequest:
    """The router request for one receipt, or a 400 WebhookError."""
    request = inbound_pb2.ReceiveDeliveryReceiptRequest(
        message_id=fields.message_id(params, "messageId"),
        api_key=params.get("api-key", ""),
        recipient_number=fields.phone_number(params, "msisdn"),
        sender_id=_sender_id(params.get("to", "")),
        status=fields.required(params, "status").lower(),
        error_code=fields.integer(params, "err-code") or 0,
        client_ref=params.get("client-ref", ""),
        network_code=params.get("network-code", ""),
        price=params.get("price", ""),
    )
    message_time = fields.timestamp(params, "message-timestamp")
    if message_time is not None:
        request.message_time.CopyFrom(message_time)
    return request


def _sender_id(value: str) -> str:
    """Our proxy number as +E164; an alphanumeric sender id stays as it came."""
    try:
        return normalize(value, field="to")
    except InvalidArgument:
        return value
