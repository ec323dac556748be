"""The gateway's calls to the router: each with a deadline, each failure a WebhookError.

UNAVAILABLE and DEADLINE_EXCEEDED become 503 so Vonage retries; INVALID_ARGUMENT is the
webhook's fault (400); anything else is a 500, which Vonage retries too.
"""

from __future__ import annotations

import grpc

from numproxy.common.errors import error_info
from numproxy.common.grpc_client import is_serving
from numproxy.common.logging import request_id
from numproxy.common.numbers import mask_numbers_in
from numproxy.gateway.errors import WebhookError
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc

INBOUND_SERVICE = inbound_pb2.DESCRIPTOR.services_by_name["InboundService"].full_name
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class RouterClient:
    """InboundService calls over one shared channel (owned by the caller)."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._channel = channel
        self._stub = inbound_pb2_grpc.InboundServiceStub(channel)
        self._timeout = timeout

    async def receive_sms(
        self, request: inbound_pb2.ReceiveSmsRequest
    ) -> inbound_pb2.ReceiveSmsResponse:
        try:
            return await self._stub.ReceiveSms(request, timeout=self._timeout, metadata=_metadata())
        except grpc.aio.AioRpcError as exc:
            raise _webhook_error(exc) from None

    async def receive_delivery_receipt(
        self, request: inbound_pb2.ReceiveDeliveryReceiptRequest
    ) -> inbound_pb2.ReceiveDeliveryReceiptResponse:
        try:
            return await self._stub.ReceiveDeliveryReceipt(
                request, timeout=self._timeout, metadata=_metadata()
            )
        except grpc.aio.AioRpcError as exc:
            raise _webhook_error(exc) from None

    async def is_ready(self) -> bool:
        """True when the router's health service reports InboundService SERVING."""
        return await is_serving(self._channel, INBOUND_SERVICE, deadline=self._timeout)


def _metadata() -> tuple[tuple[str, str], ...]:
    rid = request_id.get()
    return (("x-request-id", rid),) if rid else ()


def _webhook_error(exc: grpc.aio.AioRpcError) -> WebhookError:
    code = exc.code()
    details = mask_numbers_in(exc.details() or "")
    detail = f"router {code.name}: {details}"
    if code in _RETRYABLE:
        return WebhookError(
            503, "ROUTER_UNAVAILABLE", "router unavailable, retry later", detail=detail
        )
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        info = error_info(exc)
        return WebhookError(
            400, info.reason if info else "INVALID_ARGUMENT", details, detail=detail
        )
    return WebhookError(500, "ROUTER_ERROR", "router failed to accept the webhook", detail=detail)
