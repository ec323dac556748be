"""The gateway's calls to the router: each with a deadline, each failure a WebhookError.

UNAVAILABLE and DEADLINE_EXCEEDED become 503 so Vonage retries; INVALID_ARGUMENT is the
webhook's fault (400); anything else is a 500, which Vonage retries too.

Inbound SMS cross to the router in batches: webhooks that arrive while earlier calls are under
way share the next ``ReceiveSmsBatch`` call (no timer: a lone webhook is sent at once), and
each is answered with its own result, as ``ReceiveSms`` would have answered it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import grpc

from numproxy.common import tracing
from numproxy.common.call_errors import status_code
from numproxy.common.errors import error_info
from numproxy.common.group_commit import GroupCommit
from numproxy.common.grpc_client import is_serving
from numproxy.common.logging import request_id
from numproxy.common.numbers import mask_numbers_in
from numproxy.gateway.errors import WebhookError
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc

INBOUND_SERVICE = inbound_pb2.DESCRIPTOR.services_by_name["InboundService"].full_name
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


_Answer = inbound_pb2.ReceiveSmsResponse | WebhookError


class RouterClient:
    """InboundService calls over one shared channel (owned by the caller)."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        timeout: float,
        *,
        batch_max: int = 100,
        batch_concurrency: int = 2,
    ) -> None:
        self._channel = channel
        self._stub = inbound_pb2_grpc.InboundServiceStub(channel)
        self._timeout = timeout
        self._batches: GroupCommit[inbound_pb2.ReceiveSmsRequest, _Answer] = GroupCommit(
            self._receive_batch,
            batch_max=batch_max,
            concurrency=batch_concurrency,
            name="receive-sms",
        )

    async def receive_sms(
        self, request: inbound_pb2.ReceiveSmsRequest
    ) -> inbound_pb2.ReceiveSmsResponse:
        request.request_id = request_id.get() or ""
        # Per message: one ReceiveSmsBatch call carries messages of several traces.
        tracing.inject(request.trace_context)
        answer = await self._batches.submit(request)
        if isinstance(answer, WebhookError):
            raise answer
        return answer

    async def _receive_batch(
        self, requests: Sequence[inbound_pb2.ReceiveSmsRequest]
    ) -> list[_Answer]:
        try:
            reply = await self._stub.ReceiveSmsBatch(
                inbound_pb2.ReceiveSmsBatchRequest(messages=requests), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            return [_webhook_error(exc.code(), exc.details() or "", error_info(exc))] * len(
                requests
            )
        if len(reply.results) != len(requests):
            error = WebhookError(500, "ROUTER_ERROR", "router failed to accept the webhook")
            return [error] * len(requests)
        return [
            result.received
            if result.HasField("received")
            else _webhook_error(status_code(result.error), result.error.message, result.error)
            for result in reply.results
        ]

    async def receive_delivery_receipt(
        self, request: inbound_pb2.ReceiveDeliveryReceiptRequest
    ) -> inbound_pb2.ReceiveDeliveryReceiptResponse:
        try:
            return await self._stub.ReceiveDeliveryReceipt(
                request, timeout=self._timeout, metadata=_metadata()
            )
        except grpc.aio.AioRpcError as exc:
            raise _webhook_error(exc.code(), exc.details() or "", error_info(exc)) from None

    async def is_ready(self) -> bool:
        """True when the router's health service reports InboundService SERVING."""
        return await is_serving(self._channel, INBOUND_SERVICE, deadline=self._timeout)


def _metadata() -> tuple[tuple[str, str], ...]:
    rid = request_id.get()
    return (("x-request-id", rid),) if rid else ()


class _Reason(Protocol):
    @property
    def reason(self) -> str: ...


def _webhook_error(code: grpc.StatusCode, details: str, info: _Reason | None) -> WebhookError:
    """What the webhook answers for a router failure (a call's, or one SMS's of a batch)."""
    details = mask_numbers_in(details)
    detail = f"router {code.name}: {details}"
    if code in _RETRYABLE:
        return WebhookError(
            503, "ROUTER_UNAVAILABLE", "router unavailable, retry later", detail=detail
        )
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return WebhookError(
            400, info.reason if info else "INVALID_ARGUMENT", details, detail=detail
        )
    return WebhookError(500, "ROUTER_ERROR", "router failed to accept the webhook", detail=detail)
