"""SenderService: proto <-> domain, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from opentelemetry.trace import SpanKind

from numproxy.common import tracing
from numproxy.common.call_errors import each_item
from numproxy.common.numbers import normalize
from numproxy.common.sms_encoding import Encoding
from numproxy.internal.v1 import call_error_pb2, sender_pb2, sender_pb2_grpc
from numproxy.sender.service import SendResult, SmsRequest, SmsSender

SERVICE_NAME = "numproxy.internal.v1.SenderService"


_ENCODINGS = {Encoding.GSM7: sender_pb2.ENCODING_GSM7, Encoding.UCS2: sender_pb2.ENCODING_UCS2}


def to_proto(result: SendResult) -> sender_pb2.SendSmsResponse:
    return sender_pb2.SendSmsResponse(
        message_ids=list(result.message_ids),
        message_count=result.message_count,
        encoding=_ENCODINGS[result.encoding],
        message_price=result.message_price,
        remaining_balance=result.remaining_balance,
    )


class SenderServicer(sender_pb2_grpc.SenderServiceServicer):
    def __init__(self, sender: SmsSender) -> None:
        self._sender = sender

    async def SendSms(
        self,
        request: sender_pb2.SendSmsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> sender_pb2.SendSmsResponse:
        return await self._send(request, context.time_remaining())

    async def SendSmsBatch(
        self,
        request: sender_pb2.SendSmsBatchRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> sender_pb2.SendSmsBatchResponse:
        time_left = context.time_remaining()

        async def send(message: sender_pb2.SendSmsRequest) -> sender_pb2.SendSmsResponse:
            return await self._send(message, time_left)

        outcomes = await each_item(request.messages, send)
        return sender_pb2.SendSmsBatchResponse(
            results=[
                sender_pb2.SendSmsResult(error=outcome)
                if isinstance(outcome, call_error_pb2.CallError)
                else sender_pb2.SendSmsResult(sent=outcome)
                for outcome in outcomes
            ]
        )

    async def _send(
        self, request: sender_pb2.SendSmsRequest, time_left: float | None
    ) -> sender_pb2.SendSmsResponse:
        sms = SmsRequest(
            from_number=normalize(request.from_number, field="from_number"),
            to_number=normalize(request.to_number, field="to_number"),
            text=request.text,
            idempotency_key=request.idempotency_key,
        )
        if not tracing.enabled():
            return to_proto(await self._sender.send(sms, time_left=time_left))
        # The message's own span, in its trace (several share one SendSmsBatch call).
        with tracing.span(
            "numproxy.sender/SendSms",
            parent=dict(request.trace_context) or None,
            kind=SpanKind.SERVER,
        ):
            return to_proto(await self._sender.send(sms, time_left=time_left))


def register(servicer: SenderServicer) -> Callable[[grpc.aio.Server], None]:
    """The ``register`` callback GrpcService takes."""

    def _register(server: grpc.aio.Server) -> None:
        sender_pb2_grpc.add_SenderServiceServicer_to_server(servicer, server)

    return _register
