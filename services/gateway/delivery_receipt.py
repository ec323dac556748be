"""SMS-API delivery receipt parameters -> ReceiveDeliveryReceiptRequest."""

from __future__ import annotations

import re
from collections.abc import Mapping

from numproxy.common.errors import InvalidArgument
from numproxy.common.numbers import normalize
from numproxy.gateway import fields
from numproxy.gateway.errors import bad_request
from numproxy.internal.v1 import inbound_pb2

# delivered, expired, failed, rejected, accepted, buffered, unknown (and any later word).
_STATUS = re.compile(r"^[a-z_]{1,20}$")


def parse_delivery_receipt(
    params: Mapping[str, str],
) -> inbound_pb2.ReceiveDeliveryReceiptRequest:
    """The router request for one receipt, or a 400 WebhookError."""
    request = inbound_pb2.ReceiveDeliveryReceiptRequest(
        message_id=fields.message_id(params, "messageId"),
        api_key=fields.short(params, "api-key", fields.MAX_ID_CHARS),
        recipient_number=fields.phone_number(params, "msisdn"),
        sender_id=_sender_id(fields.short(params, "to")),
        status=_status(params),
        error_code=fields.integer(params, "err-code") or 0,
        client_ref=fields.short(params, "client-ref"),
        network_code=fields.short(params, "network-code"),
        price=fields.short(params, "price"),
    )
    message_time = fields.timestamp(params, "message-timestamp")
    if message_time is not None:
        request.message_time.CopyFrom(message_time)
    return request


def _status(params: Mapping[str, str]) -> str:
    status = fields.required(params, "status").lower()
    if not _STATUS.match(status):
        raise bad_request("INVALID_PARAMETER", "status must be a word like delivered or failed")
    return status


def _sender_id(value: str) -> str:
    """Our proxy number as +E164; an alphanumeric sender id stays as it came."""
    try:
        return normalize(value, field="to")
    except InvalidArgument:
        return value
