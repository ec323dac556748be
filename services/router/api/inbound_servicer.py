"""InboundService: proto <-> domain for what the gateway forwards from the provider."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from numproxy.common import tracing
from numproxy.common.call_errors import each_item
from numproxy.common.errors import Context, InvalidArgument
from numproxy.common.input_text import identifier_problem, text_problem
from numproxy.common.numbers import normalize
from numproxy.common.sms_encoding import MAX_CONCAT_PARTS, MAX_TEXT_CHARS
from numproxy.internal.v1 import call_error_pb2, inbound_pb2, inbound_pb2_grpc
from numproxy.router.api.errors import database_outage
from numproxy.router.inbound.message import IncomingSms, Outcome
from numproxy.router.inbound.pipeline import InboundPipeline
from numproxy.router.outbox.receipts import DeliveryReceipt, ReceiptRecorder

SERVICE_NAME = "numproxy.internal.v1.InboundService"
# Column sizes of the dedupe and multipart keys.
_MAX_ID = 64
# A receipt's client-ref (the provider allows 100) and status ("delivered", "failed"...).
_MAX_CLIENT_REF = 100
_MAX_STATUS = 20

_OUTCOMES = {
    Outcome.FORWARDED: inbound_pb2.INBOUND_OUTCOME_FORWARDED,
    Outcome.DUPLICATE: inbound_pb2.INBOUND_OUTCOME_DUPLICATE,
    Outcome.DROPPED: inbound_pb2.INBOUND_OUTCOME_DROPPED,
    Outcome.REPLIED: inbound_pb2.INBOUND_OUTCOME_REPLIED,
    Outcome.KEYWORD: inbound_pb2.INBOUND_OUTCOME_KEYWORD,
    Outcome.PART_STORED: inbound_pb2.INBOUND_OUTCOME_PART_STORED,
    Outcome.RECORDED: inbound_pb2.INBOUND_OUTCOME_RECORDED,
    Outcome.SESSION_CREATED: inbound_pb2.INBOUND_OUTCOME_SESSION_CREATED,
    Outcome.BLOCKED: inbound_pb2.INBOUND_OUTCOME_BLOCKED,
}


class InboundServicer(inbound_pb2_grpc.InboundServiceServicer):
    def __init__(self, pipeline: InboundPipeline, receipts: ReceiptRecorder) -> None:
        self._pipeline = pipeline
        self._receipts = receipts

    async def ReceiveSms(
        self, request: inbound_pb2.ReceiveSmsRequest, context: Context
    ) -> inbound_pb2.ReceiveSmsResponse:
        return await self._receive(request)

    async def ReceiveSmsBatch(
        self, request: inbound_pb2.ReceiveSmsBatchRequest, context: Context
    ) -> inbound_pb2.ReceiveSmsBatchResponse:
        """Each SMS as ReceiveSms: they join the pipeline's batches together, and each one's
        result (or its failure, as ReceiveSms would have answered it) comes back in order."""
        outcomes = await each_item(request.messages, self._receive, database_outage)
        return inbound_pb2.ReceiveSmsBatchResponse(
            results=[
                inbound_pb2.ReceiveSmsResult(error=outcome)
                if isinstance(outcome, call_error_pb2.CallError)
                else inbound_pb2.ReceiveSmsResult(received=outcome)
                for outcome in outcomes
            ]
        )

    async def _receive(
        self, request: inbound_pb2.ReceiveSmsRequest
    ) -> inbound_pb2.ReceiveSmsResponse:
        # The message's own span (none when tracing is off), in the trace the gateway started
        # for it (several traces share one ReceiveSmsBatch call): its outbound rows join it.
        with tracing.span(
            "numproxy.router/ReceiveSms",
            parent=dict(request.trace_context) or None,
            kind=SpanKind.SERVER,
        ) as span:
            result = await self._pipeline.receive(sms_from_proto(request))
            if span is not None:
                span.set_attribute("numproxy.outcome", result.outcome.value)
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
        _check_identifiers(
            ("message_id", request.message_id, _MAX_ID),
            ("client_ref", request.client_ref, _MAX_CLIENT_REF),
            ("status", request.status, _MAX_STATUS),
        )
        receipt = DeliveryReceipt(
            message_id=request.message_id,
            status=request.status,
            error_code=request.error_code,
            client_ref=request.client_ref,
        )
        matched = await self._receipts.record(receipt)  # links its span to the message's
        return inbound_pb2.ReceiveDeliveryReceiptResponse(matched=matched)


def sms_from_proto(request: inbound_pb2.ReceiveSmsRequest) -> IncomingSms:
    """The domain message, or InvalidArgument naming the bad field."""
    if not request.message_id:
        raise InvalidArgument(
            "message_id is required", reason="MISSING_MESSAGE_ID", metadata={"field": "message_id"}
        )
    _check_identifiers(
        ("message_id", request.message_id, _MAX_ID),
        ("api_key", request.api_key, _MAX_ID),
        ("concat_ref", request.concat_ref, _MAX_ID),
    )
    problem = text_problem(request.text, MAX_TEXT_CHARS)
    if problem:
        raise InvalidArgument(f"text {problem}", reason="INVALID_TEXT", metadata={"field": "text"})
    _check_concat(request)
    return IncomingSms(
        message_id=request.message_id,
        api_key=request.api_key,
        sender_number=normalize(request.from_number, field="from_number"),
        proxy_number=normalize(request.to_number, field="to_number"),
        text=request.text,
        binary=request.type == inbound_pb2.MESSAGE_TYPE_BINARY,
        concat_ref=request.concat_ref,
        concat_total=request.concat_total,
        concat_part=request.concat_part,
        traceparent=tracing.traceparent() or "",
    )


def _check_identifiers(*fields: tuple[str, str, int]) -> None:
    for field, value, max_chars in fields:
        problem = identifier_problem(value, max_chars)
        if problem:
            raise InvalidArgument(
                f"{field} {problem}",
                reason="FIELD_TOO_LONG" if len(value) > max_chars else "INVALID_CHARACTERS",
                metadata={"field": field},
            )


def _check_concat(request: inbound_pb2.ReceiveSmsRequest) -> None:
    """A multipart SMS has at most 255 parts (the concatenation header's one-byte count), and
    a part number within the total. Absent fields (0) mean a plain SMS."""
    total, part = request.concat_total, request.concat_part
    if not request.concat_ref and not total and not part:
        return
    if not 0 <= total <= MAX_CONCAT_PARTS:
        raise InvalidArgument(
            f"concat_total must be 1-{MAX_CONCAT_PARTS}",
            reason="INVALID_CONCAT",
            metadata={"field": "concat_total"},
        )
    if not 0 <= part <= max(total, 1):
        raise InvalidArgument(
            "concat_part must be between 1 and concat_total",
            reason="INVALID_CONCAT",
            metadata={"field": "concat_part"},
        )
