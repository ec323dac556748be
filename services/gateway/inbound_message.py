"""Messages-API v1 inbound webhook -> ReceiveSmsRequest.

Vonage delivers a multipart SMS through this API already joined, so no concat fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from numproxy.gateway import fields
from numproxy.gateway.errors import bad_request
from numproxy.gateway.params import load_json_object
from numproxy.internal.v1 import inbound_pb2


def parse_inbound_message(body: bytes, claims: Mapping[str, Any]) -> inbound_pb2.ReceiveSmsRequest:
    """The router request for one Messages-API inbound SMS, or a 400 WebhookError."""
    document = load_json_object(body)
    params = {key: value for key, value in document.items() if isinstance(value, str)}
    channel = params.get("channel", "sms")
    if channel != "sms":
        raise bad_request("UNSUPPORTED_CHANNEL", f"channel {channel!r} is not handled (only sms)")
    kind = params.get("message_type", "text")
    if kind != "text":
        raise bad_request("UNSUPPORTED_MESSAGE_TYPE", f"message_type {kind!r} is not handled")
    if "text" not in params:
        raise bad_request("MISSING_PARAMETER", "text is required for message_type text")
    claimed = {key: value for key, value in claims.items() if isinstance(value, str)}
    request = inbound_pb2.ReceiveSmsRequest(
        message_id=fields.message_id(params, "message_uuid"),
        api_key=fields.short(claimed, "api_key", fields.MAX_ID_CHARS),
        from_number=fields.phone_number(params, "from"),
        to_number=fields.phone_number(params, "to"),
        text=fields.text(params, "text"),
        type=inbound_pb2.MESSAGE_TYPE_TEXT,
    )
    message_time = fields.timestamp(params, "timestamp")
    if message_time is not None:
        request.message_time.CopyFrom(message_time)
    return request
