"""InboundService: proto <-> domain for what the gateway forwards from the provider."""

from __future__ import annotations

from typing import Any, Protocol

import grpc
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from numproxy.common.errors import InvalidArgument, Unavailable
from numproxy.common.numbers import normalize
from numproxy.internal.v1 import inbound_pb2, inbound_pb2_grpc
from numproxy.router.clock import Clock
from numproxy.router.inbound import InboundRouter, IncomingSms, Outcome
from numproxy.router.inbound_batch import Handoff, InboundBatcher
from numproxy.router.receipts import DeliveryReceipt, ReceiptRecorder
from numproxy.router.settings import RouterSettings
from numproxy.router.transactions import database_unavailable

SERVICE_NAME = "numproxy.internal.v1.InboundService"
# Column sizes of the dedupe and multipart keys.
_MAX_ID = 64

_OUTCOMES = {
    Outcome.FORWARDED: inbound_pb2.INBOUND_OUTCOME_FORWARDED,
    Outcome.DUPLICATE: inbound_pb2.INBOUND_OUTCOME_DUPLICATE,
    Outcome.DROPPED: inbound_pb2.INBOUND_OUTCOME_DROPPED,
    Outcome.REPLIED: inbound_pb2.INBOUND_OUTCOME_REPLIED,
    Outcome.KEYWORD: inbound_pb2.INBOUND_OUTCOME_KEYWORD,
    Outcome.PART_STORED: inbound_pb2.INBOUND_OUTCOME_PART_STORED,
    Outcome.RECORDED: inbound_pb2.INBOUND_OUTCOME_RECORDED,
}

Context = grpc.aio.ServicerContext[Any, Any]


class QueueListener(Protocol):
    """Told when outbound rows were committed (the Dispatcher). One that is also a
    :class:`Handoff` takes the batched messages' outbound rows in memory (no claim)."""

    def notify(self) -> None: ...


class InboundServicer(inbound_pb2_grpc.InboundServiceServicer):
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        dispatcher: QueueListener,
        settings: RouterSettings,
        clock: Clock,
    ) -> None:
        router = InboundRouter(session_factory, settings, clock, on_queued=dispatcher.notify)
        # SQLite has one writer: a second concurrent batch would only wait for the lock.
        sqlite = session_factory.kw["bind"].dialect.name == "sqlite"
        self._router = InboundBatcher(
            router,
            session_factory,
            settings,
            clock,
            dispatcher.notify,
            batch_max=settings.inbound_batch_max,
            concurrency=1 if sqlite else settings.inbound_batch_concurrency,
            handoff=dispatcher if isinstance(dispatcher, Handoff) else None,
        )
        self._receipts = ReceiptRecorder(session_factory, clock)

    async def ReceiveSms(
        self, request: inbound_pb2.ReceiveSmsRequest, context: Context
    ) -> inbound_pb2.ReceiveSmsResponse:
        sms = sms_from_proto(request)
        try:
            result = await self._router.receive(sms)
        except (DBAPIError, OSError) as exc:
            raise _unavailable(exc) from exc
        return inbound_pb2.ReceiveSmsResponse(
            outcome=_OUTCOMES[result.outcome],
            session=f"sessions/{result.session_id}" if result.session_id else "",
        )

    async def ReceiveDeliveryReceipt(
        self, request: inbound_pb2.ReceiveDeliveryReceiptRequest, context: Context
    ) -> inbound_pb2.ReceiveDeliveryReceiptResponse:
        if not request.message_id and not request.client_ref:
            raise InvalidArgument(
                "message_id or client_ref is required", reason="MISSING_MESSAGE_ID"
            )
        receipt = DeliveryReceipt(
            message_id=request.message_id,
            status=request.status,
            error_code=request.error_code,
            client_ref=request.client_ref,
        )
        try:
            matched = await self._receipts.record(receipt)
        except (DBAPIError, OSError) as exc:
            raise _unavailable(exc) from exc
        return inbound_pb2.ReceiveDeliveryReceiptResponse(matched=matched)


def sms_from_proto(request: inbound_pb2.ReceiveSmsRequest) -> IncomingSms:
    """The domain message, or InvalidArgument naming the bad field."""
    if not request.message_id:
        raise InvalidArgument(
            "message_id is required", reason="MISSING_MESSAGE_ID", metadata={"field": "message_id"}
        )
    for field, value in (
        ("message_id", request.message_id),
        ("api_key", request.api_key),
        ("concat_ref", request.concat_ref),
    ):
        if len(value) > _MAX_ID:
            raise InvalidArgument(
                f"{field} is longer than {_MAX_ID} characters",
                reason="FIELD_TOO_LONG",
                metadata={"field": field},
            )
    return IncomingSms(
        message_id=request.message_id,
        api_key=request.api_key,
        sender_number=normalize(request.from_number, field="from_number"),
        proxy_number=normalize(request.to_number, field="to_number"),
        text=request.text,
        binary=request.type == inbound_pb2.MESSAGE_TYPE_BINARY,
        concat_ref=request.concat_ref,
        concat_total=max(request.concat_total, 0),
        concat_part=max(request.concat_part, 0),
    )


def _unavailable(exc: DBAPIError | OSError) -> Exception:
    """Connection-level database failures (down, restarting, connection lost, a locked
    SQLite) become UNAVAILABLE, so the gateway answers 503 and the provider retries; anything
    else stays an internal error."""
    if database_unavailable(exc):
        return Unavailable("database unavailable, retry later", reason="DATABASE_UNAVAILABLE")
    return exc
