"""SenderService: proto <-> domain, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from numproxy.common.numbers import normalize
from numproxy.common.sms_encoding import Encoding
from numproxy.internal.v1 import sender_pb2, sender_pb2_grpc
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
        sms = SmsRequest(
            from_number=normalize(request.from_number, field="from_number"),
            to_number=normalize(request.to_number, field="to_number"),
            text=request.text,
            idempotency_key=request.idempotency_key,
        )
        result = await self._sender.send(sms, time_left=context.time_remaining())
        return to_proto(result)


def register(servicer: SenderServicer) -> Callable[[grpc.aio.Server], None]:
    """The ``register`` callback GrpcService takes."""

    def _register(server: grpc.aio.Server) -> None:
        sender_pb2_grpc.add_SenderServiceServicer_to_server(servicer, server)

    return _register
