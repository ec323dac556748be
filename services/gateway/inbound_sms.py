"""SMS-API inbound webhook parameters -> ReceiveSmsRequest."""

from __future__ import annotations

from collections.abc import Mapping

from numproxy.common.sms_encoding import MAX_CONCAT_PARTS, MAX_TEXT_CHARS
from numproxy.gateway import fields
from numproxy.gateway.errors import bad_request
from numproxy.internal.v1 import inbound_pb2

MESSAGE_TYPES = {
    "text": inbound_pb2.MESSAGE_TYPE_TEXT,
    "unicode": inbound_pb2.MESSAGE_TYPE_UNICODE,
    "binary": inbound_pb2.MESSAGE_TYPE_BINARY,
}


def parse_inbound_sms(params: Mapping[str, str]) -> inbound_pb2.ReceiveSmsRequest:
    """The router request for one inbound SMS (part), or a 400 WebhookError."""
    request = inbound_pb2.ReceiveSmsRequest(
        message_id=fields.message_id(params, "messageId"),
        api_key=fields.short(params, "api-key", fields.MAX_ID_CHARS),
        from_number=fields.phone_number(params, "msisdn"),
        to_number=fields.phone_number(params, "to"),
    )
    kind = params.get("type") or "text"
    if kind not in MESSAGE_TYPES:
        raise bad_request("INVALID_PARAMETER", "type must be text, unicode or binary")
    request.type = MESSAGE_TYPES[kind]
    if kind == "binary":
        request.data = fields.short(params, "data", MAX_TEXT_CHARS)
        request.udh = fields.short(params, "udh")
    elif "text" not in params:
        raise bad_request("MISSING_PARAMETER", f"text is required for type {kind}")
    else:
        request.text = fields.text(params, "text")
    message_time = fields.timestamp(params, "message-timestamp")
    if message_time is not None:
        request.message_time.CopyFrom(message_time)
    _read_concat(params, request)
    return request


def _read_concat(params: Mapping[str, str], request: inbound_pb2.ReceiveSmsRequest) -> None:
    # Carriers without concatenation support drop these fields: each part then stands alone.
    request.concat_ref = fields.short(params, "concat-ref", fields.MAX_ID_CHARS)
    total = fields.integer(params, "concat-total", minimum=1, maximum=MAX_CONCAT_PARTS)
    part = fields.integer(params, "concat-part", minimum=1, maximum=MAX_CONCAT_PARTS)
    if total is not None:
        request.concat_total = total
    if part is not None:
        request.concat_part = part
    if total is not None and part is not None and part > total:
        raise bad_request("INVALID_PARAMETER", "concat-part must not exceed concat-total")
